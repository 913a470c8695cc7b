"""Time the data-staging job on a full-size CIFAR-100 archive and on the real image folder.

    .venv/bin/python -m benchmarks.bench_stage [--s3] [--keep DIR]

1. Generates a full-size CIFAR-100 python archive (50,000 train + 10,000 test images, random
   pixels except drawn bicycles/motorcycles, real keys and meta) and stages it.
   Goal: under 10 s on the 2-core dev machine (generation is not timed).
2. Stages ../shared/data/cifar_bikes/train (1000 real PNGs) when present.
3. With --s3: syncs the first dataset to the local emulator twice (second run uploads nothing).
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import logging
import os
import resource
import tempfile
import time
from pathlib import Path

import boto3

from contract.cli import CliParser
from devkit import emulator
from training.data.stage import stage
from training.data.synthetic import write_cifar100_archive

SHARED_TRAIN = Path(__file__).resolve().parents[1].parent / "shared/data/cifar_bikes/train"
GOAL_SECONDS = 10.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_stage(label: str, source: Path, out: Path, **kwargs: object) -> None:
    started = time.perf_counter()
    result = stage(str(source), out, progress=False, **kwargs)  # type: ignore[arg-type]
    total = time.perf_counter() - started
    counts = {split: info["count"] for split, info in result.card["splits"].items()}
    steps = ", ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items())
    print(f"{label}: {total:.2f} s total ({steps}); images {counts}")
    if result.upload:
        print(
            f"  s3: uploaded {result.upload.uploaded}, unchanged {result.upload.skipped}, "
            f"deleted {result.upload.deleted}"
        )


def main() -> None:
    parser = CliParser(description=__doc__)
    parser.add_argument("--s3", action="store_true", help="also sync to the local emulator")
    parser.add_argument("--keep", type=Path, help="work here instead of a temporary directory")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        archive = work / "cifar-100-python.tar.gz"
        started = time.perf_counter()
        write_cifar100_archive(
            archive,
            train_per_class=500,
            test_per_class=100,
            other_train_per_class=500,
            other_test_per_class=100,
        )
        size_mib = archive.stat().st_size / 2**20
        took = time.perf_counter() - started
        print(f"generated full-size archive: {size_mib:.0f} MiB in {took:.1f} s (not timed)")
        timed_stage("stage full-size archive (50,000 + 10,000)", archive, work / "out-archive")
        print(f"  peak RSS {peak_rss_mib():.0f} MiB; goal < {GOAL_SECONDS:.0f} s")
        timed_stage("stage again (replaces the output)", archive, work / "out-archive")
        if SHARED_TRAIN.is_dir():
            timed_stage(f"stage image folder {SHARED_TRAIN}", SHARED_TRAIN, work / "out-folder")
        else:
            print(f"skipped image folder: {SHARED_TRAIN} is absent")
        if args.s3:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request

            os.environ.update(emulator.start().env())
            boto3.client("s3").create_bucket(Bucket="bench-data")
            uri = "s3://bench-data/datasets/bench"
            timed_stage("stage + first sync to emulator", archive, work / "out-s3", s3_uri=uri)
            timed_stage("stage + second sync (idempotent)", archive, work / "out-s3", s3_uri=uri)


if __name__ == "__main__":
    main()
