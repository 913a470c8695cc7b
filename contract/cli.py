"""The argument parser of every command line in the project: an expected failure is one line.

argparse's own parser prints its whole usage block before the error, so a mistyped flag buries
the one line that matters under a screen of options. `CliParser` prints only
`<prog>: error: <what> (see --help)` on stderr and exits 2, as argparse does. Sub-command parsers
inherit it (argparse creates them with the parent's class). It lives in `contract/` because that
package ships in every artifact (the model archive, the training job's source, the Lambda layer,
the drift job's zip), so a command line runs the same wherever it runs.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn


def _module_prog() -> str | None:
    """`python -m <module>` when run that way (argparse would say `drift.py`), else None."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    if not name:
        return None
    return "python -m " + name.removesuffix(".__main__")


class CliParser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args and "prog" not in kwargs:
            kwargs["prog"] = _module_prog()
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def at_least(low: int) -> Callable[[str], int]:
    """argparse type: a whole number, `low` or more (else a one-line usage error)."""

    def whole_number(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"{number} is below {low}")
        return number

    return whole_number


def finite_number(value: str) -> float:
    """argparse type: a finite float (NaN and infinities are usage errors, not settings)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"not a finite number: {value!r}")
    return number
