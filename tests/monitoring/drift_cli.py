"""The drift CLI run over paths, as the drift and hostile-input tests call it."""

from __future__ import annotations

from pathlib import Path

from monitoring import cli


def run_drift_cli(captures: Path, baseline: Path, output: Path, *extra: str) -> int:
    """monitoring.cli.main over these captures, baseline and output folder: its exit code."""
    paths = ["--captures", str(captures), "--baseline", str(baseline), "--output", str(output)]
    return cli.main([*paths, *extra])
