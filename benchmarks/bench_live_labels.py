"""Time reading the reviewers' label records as training data (`--source labels:s3://...`).

    .venv/bin/python -m benchmarks.bench_live_labels [--records 2000] [--workers 1,16]

Writes `--records` label records (one object each, as record_label writes them) and their
uploads (phone-sized JPEGs: the shared CIFAR images upscaled to 640x480 when ../shared is there,
else generated) to the local emulator, then reads them with `read_label_records` at each worker
count. The emulator answers from a thread of this process, so the figures are a floor for real
S3, where each GET waits on the network and more threads help more. Prints figures; asserts
nothing about time.
"""

from __future__ import annotations

import io
import logging
import os
import resource
import time
from pathlib import Path

import boto3
import numpy as np
from PIL import Image

from contract.cli import CliParser
from devkit import emulator
from lambdas.shared.label_record import LabelRecord
from training.data.live_labels import read_label_records
from training.data.s3 import make_client

SHARED_TRAIN = Path(__file__).resolve().parents[1].parent / "shared/data/cifar_bikes/train"
BUCKET = "bench-labels"


def photos(count: int) -> list[tuple[str, bytes]]:
    """(label, JPEG bytes) of `count` phone-sized photos."""
    files = sorted(SHARED_TRAIN.glob("*/*.png")) if SHARED_TRAIN.is_dir() else []
    rng = np.random.default_rng(0)
    out = []
    for index in range(count):
        if files:
            path = files[index % len(files)]
            image, label = Image.open(path).convert("RGB"), path.parent.name
        else:
            pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
            image, label = Image.fromarray(pixels), ("bicycle", "motorcycle")[index % 2]
        buffer = io.BytesIO()
        image.resize((640, 480), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        out.append((label, buffer.getvalue()))
    return out


def write(count: int) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for index, (label, body) in enumerate(photos(count)):
        key = f"incoming/{index:06d}.jpg"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        record = LabelRecord(
            image=f"s3://{BUCKET}/{key}",
            inference_id=f"bench-{index:06d}",
            model_version="bench",
            predicted=label,
            confidence=0.6,
            threshold=0.9,
            decision="reviewed",
            reason="low_confidence",
            label=label,
            reviewer="bench",
            decided_at="2026-12-07T12:00:00.000Z",
            execution_id=None,
        )
        s3.put_object(Bucket=BUCKET, Key=record.key("labels/"), Body=record.json_line())


def main() -> None:
    parser = CliParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--workers", default="1,16")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(emulator.start().env())
    started = time.perf_counter()
    write(args.records)
    print(f"wrote {args.records} records + JPEGs in {time.perf_counter() - started:.1f} s")
    for workers in (int(w) for w in args.workers.split(",")):
        wall, cpu = time.perf_counter(), time.process_time()
        images, card = read_label_records(
            f"labels:s3://{BUCKET}/labels/", workers=workers, progress=False,
            client=make_client(workers),
        )  # fmt: skip
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"workers {workers:>2}: {len(images)} images in {wall:.1f} s wall "
            f"({len(images) / wall:.0f} records/s; CPU {cpu:.1f} s, emulator included); "
            f"skipped {card['skipped']}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB (emulator and its stored objects included)")


if __name__ == "__main__":
    main()
