"""Emulator-side glue for gaps in moto, one module per area.

Each module defines `apply()`, which must be idempotent and guarded (check the moto behaviour it
works around, so it turns into a no-op when moto fixes the gap). Every patch has a test in
`tests/devkit/` that fails when the upstream gap is fixed, so the glue can be deleted.
"""

from __future__ import annotations

from collections.abc import Iterable


def missing_actions(response: type, actions: Iterable[str], marker: str) -> list[str]:
    """The actions a moto response class lacks, or has only from our patch (`marker` set on it)."""
    return [
        action
        for action in actions
        if not hasattr(response, action) or getattr(getattr(response, action), marker, False)
    ]
