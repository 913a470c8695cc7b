"""The staging job: source -> deduplicated, split images on disk -> (optionally) S3."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data.live_labels import PREFIX as LABELS_PREFIX
from training.data.live_labels import read_label_records, split_held_out
from training.data.s3 import (
    DEFAULT_WORKERS,
    UploadReport,
    check_bucket,
    make_client,
    parse_s3_uri,
    resolve_kms_key,
    sync_dataset,
)
from training.data.sources import SourceData, merge_sources, resolve_source
from training.data.split import DuplicatePolicy, make_splits
from training.data.write import write_dataset

DEFAULT_SEED = 42
DEFAULT_VALIDATION_FRACTION = 0.2
# Reviewed images held out as test images: real traffic in every comparison of a new model with
# the deployed one, and never trained on (README "Retraining on the reviewers' labels").
DEFAULT_LABELS_TEST_FRACTION = 0.2
DEFAULT_CACHE_DIR = Path(os.environ.get("VEHICLE_DATA_CACHE", ".local/cache"))


@dataclass
class StageResult:
    out: Path
    card: dict[str, Any]
    upload: UploadReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per step, for the report

    def summary(self) -> str:
        lines = [f"staged {self.out}"]
        for split, info in self.card["splits"].items():
            per_label = ", ".join(f"{k} {v}" for k, v in info["per_label"].items())
            lines.append(f"  {split:<10} {info['count']:>5} images ({per_label})")
        dropped = {k: v for k, v in self.card["duplicates_dropped"].items() if v}
        if dropped:
            lines.append(f"  duplicates dropped: {dropped}")
        if self.upload:
            lines.append(
                f"  s3: {self.upload.location.uri} (uploaded {self.upload.uploaded}, "
                f"unchanged {self.upload.skipped}, deleted {self.upload.deleted})"
            )
        lines.append("  " + ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items()))
        return "\n".join(lines)


def read_source(
    source: str,
    *,
    cache_dir: Path,
    md5: str | None,
    progress: bool,
    labels_test_fraction: float = DEFAULT_LABELS_TEST_FRACTION,
) -> SourceData:
    """`resolve_source`'s sources, or `labels:<s3 prefix or folder>`: the images reviewers
    labelled, `labels_test_fraction` of them held out as test images (stably, by id)."""
    if source.startswith(LABELS_PREFIX):
        labelled, description = read_label_records(source, progress=progress)
        train, test = split_held_out(labelled, labels_test_fraction)
        description["held_out_as_test"] = {"fraction": labels_test_fraction, "count": len(test)}
        return SourceData(train=train, test=test, description=description)
    return resolve_source(source, cache_dir=cache_dir, md5=md5, progress=progress)


def stage(
    source: str | Sequence[str],
    out: Path,
    *,
    s3_uri: str | None = None,
    kms_key_id: str | None = None,
    seed: int = DEFAULT_SEED,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    labels_test_fraction: float = DEFAULT_LABELS_TEST_FRACTION,
    md5: str | None = None,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    duplicates: DuplicatePolicy = "drop",
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
) -> StageResult:
    """Stage `source` (one, or several staged as one) into `out` and, with `s3_uri`, to S3.
    Raises `DataStagingError`s."""
    sources = [source] if isinstance(source, str) else list(source)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = now - clock
        clock = now

    client = None
    location = parse_s3_uri(s3_uri) if s3_uri else None
    if location is not None:
        # Fail before the slow part when the target cannot be used.
        client = make_client(workers)
        check_bucket(client, location.bucket)
        if kms_key_id:
            resolve_kms_key(kms_key_id)
        lap("check s3")
    data = merge_sources(
        [
            read_source(
                s,
                cache_dir=cache_dir,
                md5=md5,
                progress=progress,
                labels_test_fraction=labels_test_fraction,
            )
            for s in sources
        ]
    )
    lap("read")
    splits = make_splits(
        data, validation_fraction=validation_fraction, seed=seed, duplicates=duplicates
    )
    lap("split")
    card = write_dataset(
        splits,
        out,
        source=data.description,
        seed=seed,
        validation_fraction=validation_fraction,
        s3_uri=location.uri if location else None,
        progress=progress,
    )
    lap("write")
    upload = None
    if location is not None:
        upload = sync_dataset(
            out,
            location.uri,
            kms_key_id=kms_key_id,
            client=client,
            workers=workers,
            progress=progress,
        )
        lap("upload")
    return StageResult(out=out, card=card, upload=upload, seconds=seconds)
