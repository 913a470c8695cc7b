"""The state the local run's steps share: `devkit.demo` runs the steps, the ones after staging
live in `devkit.demo_steps`; both take this context, so neither imports the other for it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.emulator import Emulator
from devkit.local_stage import LocalStage
from training.data.stage import StageResult


@dataclass
class DemoContext:
    args: argparse.Namespace
    out: Path
    bucket: str  # the data bucket and the dataset's prefix in it
    dataset_prefix: str
    emulator: Emulator | None = None
    kms_key_arn: str = ""
    source: str = ""
    source_note: str = ""
    staged: StageResult | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # Set by the later steps (devkit/demo_steps.py).
    stage: LocalStage | None = None
    system: dict[str, Any] = field(default_factory=dict)
    archive: Path = Path()
    baseline_uri: str = ""  # the released drift baseline and the model it belongs to
    model_sha256: str = ""
    reports: dict[str, tuple[Path, dict[str, Any], str]] = field(default_factory=dict)

    @property
    def dataset_uri(self) -> str:
        return f"s3://{self.bucket}/{self.dataset_prefix}"
