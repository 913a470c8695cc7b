"""Figures for the workflow Lambdas: cold import time, warm per-invocation overhead, zip sizes.

    .venv/bin/python -m benchmarks.bench_lambdas [--repeats 7] [--images N]

- Cold import: each handler module imported from the *deployed layout* (function zip + shared
  layer unzipped, interpreter started with -S so only those files and site-packages are seen),
  in a fresh interpreter per run; median and min of the repeats. Goal: <= 150 ms.
- First call: creating the boto3 client(s) once per container (lazy, on the first invocation).
- Warm overhead: everything a warm invocation does except the S3 read and the endpoint call
  (event parsing, Pillow checks, base64, prediction parsing, routing, Powertools logging and EMF),
  per image, over real CIFAR PNGs from ../shared/data when present, else generated images.
- Zip sizes of the build.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from contract.cli import CliParser
from lambdas import build
from lambdas.classify_image.core import classification, parse_event, parse_prediction
from lambdas.filter_inferences import handler as filter_handler
from lambdas.serialize_image.core import SerializeSettings, hand_off, validate
from lambdas.serialize_image.core import parse_event as parse_request
from lambdas.shared.observability import instrumented, logger_for, metrics_for
from lambdas.shared.storage import StoredObject

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"


def deployed_layout(root: Path) -> dict[str, Path]:
    artifacts = {artifact.name: artifact for artifact in build.build(root / "zips")}
    zipfile.ZipFile(artifacts[build.SHARED_LAYER].path).extractall(root / "opt")
    tasks = {}
    for name in build.FUNCTIONS:
        tasks[name] = root / "task" / name
        zipfile.ZipFile(artifacts[name].path).extractall(tasks[name])
    return tasks


def cold_import_ms(task: Path, layer: Path, module: str) -> tuple[float, float]:
    """(wall, CPU) milliseconds; CPU time is what an uncontended sandbox would also spend."""
    probe = (
        "import time; t = time.perf_counter(); c = time.process_time(); import " + module + "; "
        "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
    )
    site = sysconfig.get_paths()["purelib"]
    env = {"PYTHONPATH": os.pathsep.join([str(task), str(layer), site]), "ENDPOINT_NAME": "x"}
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    wall, cpu = map(float, out.stdout.split())
    return wall, cpu


def first_client_ms() -> dict[str, float]:
    probe = (
        "import time; t = time.perf_counter(); from lambdas.shared.aws import client; "
        "client('s3'); a = time.perf_counter(); client('sagemaker-runtime', max_attempts=1); "
        "b = time.perf_counter(); print((a - t) * 1000, (b - a) * 1000)"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    s3_ms, runtime_ms = map(float, out.stdout.split())
    return {"boto3 import + S3 client": s3_ms, "+ sagemaker-runtime client": runtime_ms}


def sample_images(count: int) -> tuple[list[bytes], str]:
    if SHARED_IMAGES.is_dir():
        paths = sorted(SHARED_IMAGES.glob("*/*.png"))[:count]
        if paths:
            return [p.read_bytes() for p in paths], f"{len(paths)} CIFAR PNGs from ../shared/data"
    images = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), (index % 256, 40, 90)).save(buffer, "PNG")
        images.append(buffer.getvalue())
    return images, f"{count} generated 32x32 PNGs"


def per_call_us(function: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls * 1e6


def warm_overheads(images: list[bytes]) -> dict[str, float]:
    sink = io.StringIO()
    logger, metrics = logger_for("bench"), metrics_for("bench")
    logger.registered_handler.stream = sink  # type: ignore[attr-defined]
    filter_handler.logger.registered_handler.stream = sink  # type: ignore[attr-defined]
    settings = SerializeSettings.from_env({})
    handed = []

    @instrumented(logger, metrics)
    def serialize_warm(event: dict, context: object) -> dict:
        request = parse_request(event)
        stored = StoredObject(data=event["_bytes"], etag='"e"', version_id=None)
        return hand_off(request, stored, validate(stored, settings))

    @instrumented(logger, metrics)
    def classify_warm(event: dict, context: object) -> dict:
        parse_event(event)
        return classification(parse_prediction(b"[0.97, 0.03]", 0.01), "ep", "AllTraffic")

    stdout, sys.stdout = sys.stdout, sink  # EMF blobs go to stdout
    try:
        events = [
            {"s3_bucket": "uploads", "s3_key": f"k{i}.png", "_bytes": b}
            for i, b in enumerate(images)
        ]
        start = time.perf_counter()
        for event in events:
            handed.append(serialize_warm(event, None))
        serialize_us = (time.perf_counter() - start) / len(events) * 1e6
        start = time.perf_counter()
        for document in handed:
            classify_warm(document, None)
        classify_us = (time.perf_counter() - start) / len(handed) * 1e6
        decision_event = {
            "classification": {
                "label": "bicycle",
                "probabilities": {"bicycle": 0.97, "motorcycle": 0.03},
            },
            "execution_id": "arn:aws:states:bench",
        }
        filter_us = per_call_us(lambda: filter_handler.handler(decision_event, None), len(images))
    finally:
        sys.stdout = stdout
    return {
        "serialize_image": serialize_us,
        "classify_image": classify_us,
        "filter_inferences": filter_us,
    }


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        tasks = deployed_layout(Path(scratch))
        layer = Path(scratch) / "opt" / "python"
        print(f"cold import per handler module (deployed layout, {args.repeats} runs; goal 150 ms)")
        for name, task in tasks.items():
            module = build.handler_of(name).rsplit(".", 1)[0]
            runs = [cold_import_ms(task, layer, module) for _ in range(args.repeats)]
            wall = [run[0] for run in runs]
            cpu = statistics.median(run[1] for run in runs)
            print(
                f"  {name:18s} wall median {statistics.median(wall):6.1f} ms, "
                f"min {min(wall):6.1f} ms; CPU median {cpu:6.1f} ms"
            )
        print("first invocation: clients created once per container (lazy)")
        for label, value in first_client_ms().items():
            print(f"  {label:28s} {value:7.1f} ms")
        images, source = sample_images(args.images)
        print(f"warm overhead per invocation, excluding S3 read and endpoint call ({source})")
        for name, micros in warm_overheads(images).items():
            print(f"  {name:18s} {micros:8.1f} µs")
        print("zip sizes")
        for artifact in build.build(Path(scratch) / "sizes"):
            print(f"  {Path(artifact.path).name:24s} {artifact.size:7d} bytes")
    print(f"(load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
