"""Run code inside an unpacked artifact the way its runtime would: a fresh interpreter started in
the artifact's folder, so what it imports comes from the artifact, not from this checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_inside(
    folder: Path, script: str, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python <flags> -c script` in `folder` (`-I`: no user site, no PYTHON* variables; `-S`: no
    site packages at all); asserts it exits 0 and returns what it printed."""
    completed = subprocess.run(
        [sys.executable, *flags, "-c", script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed
