"""Drift job throughput (records/s on one core) and peak memory over many capture records.

    .venv/bin/python -m benchmarks.bench_drift_speed [--records 1000000] [--pool 2000]

Capture lines are made on the fly in the real format (base64 PNG input, JSON output): a pool of
32x32 PNGs (the shared CIFAR training images, or synthetic ones when ../shared is absent) is
cycled, and every record gets a unique PNG text chunk, so no two records have the same bytes
(the job's repeat detection cannot skip work) while nothing large is written to disk. Lines are
generated in chunks of 1,000 outside the timed part; the timed part is `WindowSummary.add_line`
for every record plus the final flush, i.e. JSON parse, base64, PNG decode, features, histograms.
Prints records/s by process CPU time (the one-core figure, robust to a busy machine) and by wall
time, and peak RSS (ru_maxrss) with the record count at which it was read.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import resource
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from monitoring.baseline import build_baseline, labelled_images
from monitoring.drift import DriftSettings, WindowSummary, evaluate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"
T0 = datetime(2026, 1, 1, 10, tzinfo=UTC)


def pool_pngs(count: int) -> list[bytes]:
    if SHARED.is_dir():
        paths = [path for path, _ in labelled_images(SHARED)]
        random.Random(0).shuffle(paths)
        return [path.read_bytes() for path in paths[:count]]
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def unique_png(png: bytes, serial: int) -> bytes:
    """Insert a tEXt chunk after IHDR: different bytes, same pixels."""
    payload = b"serial\x00" + str(serial).encode()
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    return png[:33] + chunk + png[33:]


def lines(pool: list[bytes], start: int, count: int) -> list[bytes]:
    out = []
    for serial in range(start, start + count):
        png = unique_png(pool[serial % len(pool)], serial)
        p = (serial % 97) / 97
        moment = T0 + timedelta(seconds=serial % 3600)
        out.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "image/png",
                            "mode": "INPUT",
                            "data": base64.b64encode(png).decode(),
                            "encoding": "BASE64",
                        },
                        "endpointOutput": {
                            "observedContentType": "application/json",
                            "mode": "OUTPUT",
                            "data": json.dumps([p, 1 - p]),
                            "encoding": "JSON",
                        },
                    },
                    "eventMetadata": {
                        "eventId": f"{serial:032x}",
                        "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    "eventVersion": "0",
                }
            ).encode()
        )
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=1000)
    args = parser.parse_args()

    pool = pool_pngs(args.pool)
    images = [(path, label) for path, label in labelled_images(SHARED)] if SHARED.is_dir() else []
    if images:
        baseline = build_baseline(images[:500])
    else:
        tmp = Path("/tmp/bench_drift_speed_images/bicycle")
        tmp.mkdir(parents=True, exist_ok=True)
        for index, png in enumerate(pool[:200]):
            (tmp / f"{index}.png").write_bytes(png)
        baseline = build_baseline(labelled_images(tmp.parent))
    summary = WindowSummary(baseline=baseline, threshold=0.93)
    print(f"pool {len(pool)} PNGs, line size ~{len(lines(pool, 0, 1)[0])} bytes")
    rss_start = peak_rss_mb()
    cpu = wall = 0.0
    checkpoints = {10**k for k in range(4, 8)} | {args.records}
    done = 0
    while done < args.records:
        chunk = lines(pool, done, min(args.chunk, args.records - done))
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for line in chunk:
            summary.add_line(line)
        cpu += time.process_time() - cpu_start
        wall += time.perf_counter() - wall_start
        done += len(chunk)
        if done in checkpoints or done % 100_000 == 0:
            print(
                f"{done:>9,} records: {done / cpu:,.0f} rec/s (CPU), {done / wall:,.0f} rec/s "
                f"(wall), peak RSS {peak_rss_mb():.0f} MB",
                flush=True,
            )
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    summary.finish()
    report = evaluate(summary, DriftSettings())
    cpu += time.process_time() - cpu_start
    wall += time.perf_counter() - wall_start
    assert report["records"] == args.records and report["images_analysed"] == args.records
    print(
        f"total {args.records:,} records: {args.records / cpu:,.0f} rec/s per core (CPU time), "
        f"{args.records / wall:,.0f} rec/s wall; peak RSS {peak_rss_mb():.0f} MB "
        f"(at start {rss_start:.0f} MB); goal >= 20,000 rec/s, < 300 MB at 1M"
    )


if __name__ == "__main__":
    main()
