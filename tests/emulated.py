"""What the emulator remembers, read back for assertions."""

from __future__ import annotations

import base64
import json


def endpoint_bodies(endpoint: str) -> list[bytes]:
    """The request bodies the emulated endpoint has answered (moto memoises them)."""
    from moto.sagemakerruntime.models import sagemakerruntime_backends  # after the emulator

    return [
        base64.b64decode(json.loads(base64.b64decode(key))["Body"])
        for regions in sagemakerruntime_backends.values()
        for backend in regions.values()
        for key in backend.results.get(endpoint, {})
    ]
