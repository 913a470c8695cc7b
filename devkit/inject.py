"""Drift injection: drifted traffic as capture files or as endpoint calls, to fire the alarm.

    python -m devkit.inject --images DIR --scenario blur --count 500 \
        --out captures/ [--model model.tar.gz] [--start 2026-01-01T10:00:00Z]
    python -m devkit.inject --images DIR --scenario noise --count 300 --endpoint-name NAME

Capture files follow SageMaker's layout (`<out>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`,
`--out` may be `s3://bucket/prefix`) and record format, so the drift job reads them exactly like
real captures. Outputs come from `--model` (the real model) when given; otherwise they are
synthetic: the image's folder label gets a confidence drawn from Beta(8, 1) scaled to [0.5, 1]
(stand-in traffic: prediction features then follow the labels, not the pixels). With
`--endpoint-name` the drifted images are sent to the endpoint and SageMaker captures them itself.
"""

from __future__ import annotations

import base64
import io
import json
import random
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from contract.cli import CliParser, at_least
from monitoring.baseline import CLASS_NAMES, labelled_images
from monitoring.capture import iso_time_argument, parse_s3_uri

Transform = Callable[[Image.Image, random.Random], Image.Image]


def _photometric(brightness: float = 1.0, contrast: float = 1.0, colour: float = 1.0) -> Transform:
    def apply(image: Image.Image, _: random.Random) -> Image.Image:
        image = ImageEnhance.Brightness(image).enhance(brightness)
        image = ImageEnhance.Contrast(image).enhance(contrast)
        return ImageEnhance.Color(image).enhance(colour)

    return apply


def _blur(radius: float) -> Transform:
    return lambda image, _: image.filter(ImageFilter.GaussianBlur(radius))


def _noise(sigma: float) -> Transform:
    def apply(image: Image.Image, rng: random.Random) -> Image.Image:
        pixels = np.asarray(image, dtype=np.float32)
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, sigma, pixels.shape)
        return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))

    return apply


def _jpeg(quality: int) -> Transform:
    """JPEG round trip, delivered as PNG (a client that compresses before upload)."""

    def apply(image: Image.Image, _: random.Random) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    return apply


def _rotate(angle: float) -> Transform:
    return lambda image, _: image.rotate(angle, expand=False)


def _resize(size: int) -> Transform:
    return lambda image, _: image.resize((size, size), Image.Resampling.BICUBIC)


def _out_of_distribution(image: Image.Image, rng: random.Random) -> Image.Image:
    """Not a vehicle photo: smooth colour fields with a few shapes (documents, walls, sky)."""
    size = image.size
    generator = np.random.default_rng(rng.getrandbits(32))
    y, x = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
    start, stop = generator.uniform(0, 255, 3), generator.uniform(0, 255, 3)
    angle = generator.uniform(0, np.pi)
    t = (np.cos(angle) * x + np.sin(angle) * y)[..., None]
    field = start * (1 - t) + stop * t
    for _ in range(int(generator.integers(1, 4))):
        cx, cy = generator.uniform(0, 1, 2)
        r = generator.uniform(0.1, 0.3)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        field[mask] = generator.uniform(0, 255, 3)
    return Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))


# name -> (transform, share of motorcycles or None to keep the source mix)
SCENARIOS: dict[str, tuple[Transform | None, float | None]] = {
    "clean": (None, None),
    "brighten": (_photometric(brightness=1.4), None),
    "darken": (_photometric(brightness=0.65), None),
    "low_contrast": (_photometric(contrast=0.5), None),
    "desaturate": (_photometric(colour=0.3), None),
    "blur": (_blur(1.0), None),
    "noise": (_noise(20.0), None),
    "jpeg": (_jpeg(20), None),
    "rotate90": (_rotate(90), None),
    "rotate180": (_rotate(180), None),
    "rotate30": (_rotate(30), None),
    "upscale": (_resize(64), None),
    "out_of_distribution": (_out_of_distribution, None),
    "class_mix": (None, 0.9),
}
# Scenarios sent as JPEG bytes instead of PNG (a client changed its encoder).
JPEG_BYTES_SCENARIOS = {"jpeg_bytes"}
SCENARIOS["jpeg_bytes"] = (None, None)
# Milder versions, to find where detection stops (benchmarks/bench_drift_detection.py --mild).
MILD_SCENARIOS: dict[str, tuple[Transform | None, float | None]] = {
    "brighten_mild": (_photometric(brightness=1.2), None),
    "darken_mild": (_photometric(brightness=0.8), None),
    "low_contrast_mild": (_photometric(contrast=0.75), None),
    "desaturate_mild": (_photometric(colour=0.6), None),
    "blur_mild": (_blur(0.6), None),
    "noise_mild": (_noise(8.0), None),
    "jpeg_mild": (_jpeg(50), None),
    "rotate15": (_rotate(15), None),
    "class_mix_mild": (None, 0.75),
}
SCENARIOS.update(MILD_SCENARIOS)


@dataclass(frozen=True)
class Sample:
    image: Image.Image
    label: int


def sample_images(
    pool: Sequence[tuple[Path, str]], count: int, rng: random.Random, motorcycle_share: float | None
) -> Iterator[Sample]:
    """Draw `count` images (with replacement), optionally with a given class mix."""
    by_class: dict[int, list[Path]] = {index: [] for index in range(len(CLASS_NAMES))}
    for path, label in pool:
        if label in CLASS_NAMES:
            by_class[CLASS_NAMES.index(label)].append(path)
    everything = [path for paths in by_class.values() for path in paths]
    labels = {path: index for index, paths in by_class.items() for path in paths}
    if not everything:
        raise ValueError("no labelled images (bicycle/ motorcycle/ folders) to draw from")
    for _ in range(count):
        if motorcycle_share is None:
            path = rng.choice(everything)
        else:
            wanted = 1 if rng.random() < motorcycle_share else 0
            path = rng.choice(by_class[wanted] or everything)
        with Image.open(path) as image:
            yield Sample(image.convert("RGB"), labels[path])


def encode(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def synthetic_output(label: int, rng: random.Random) -> list[float]:
    confidence = 0.5 + 0.5 * rng.betavariate(8, 1)
    probabilities = [1.0 - confidence] * len(CLASS_NAMES)
    probabilities[label] = confidence
    return probabilities


def capture_line(
    body: bytes,
    probabilities: Sequence[float],
    moment: datetime,
    content_type: str = "image/png",
    output_encoding: str = "JSON",
) -> str:
    """One record in SageMaker's data-capture format."""
    output_text = json.dumps([float(p) for p in probabilities])
    output_data = (
        base64.b64encode(output_text.encode()).decode()
        if output_encoding == "BASE64"
        else output_text
    )
    record = {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": base64.b64encode(body).decode(),
                "encoding": "BASE64",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": output_data,
                "encoding": output_encoding,
            },
        },
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def drifted_requests(
    pool: Sequence[tuple[Path, str]], scenario: str, count: int, seed: int = 0
) -> Iterator[tuple[bytes, str, Image.Image, int]]:
    """(body, content type, drifted image, label) for each request of a scenario."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not security
    transform, share = SCENARIOS[scenario]
    for sample in sample_images(pool, count, rng, share):
        image = transform(sample.image, rng) if transform else sample.image
        if scenario in JPEG_BYTES_SCENARIOS:
            yield encode(image, "JPEG"), "image/jpeg", image, sample.label
        else:
            yield encode(image), "image/png", image, sample.label


def capture_lines(
    pool: Sequence[tuple[Path, str]],
    scenario: str,
    count: int,
    start: datetime,
    *,
    seed: int = 0,
    predict: Callable[[list[Image.Image]], np.ndarray] | None = None,
    duration: timedelta = timedelta(hours=1),
) -> Iterator[tuple[datetime, str]]:
    """(inference time, capture line) for `count` drifted requests spread over `duration`."""
    rng = random.Random(seed + 1)  # noqa: S311
    step = duration / max(count, 1)
    batch: list[tuple[bytes, str, Image.Image, int]] = []

    def emit(items: list[tuple[bytes, str, Image.Image, int]], offset: int) -> Iterator[Any]:
        outputs = predict([item[2] for item in items]) if predict else None
        for index, (body, content_type, _, label) in enumerate(items):
            moment = start + step * (offset + index)
            probabilities = (
                list(outputs[index]) if outputs is not None else synthetic_output(label, rng)
            )
            yield moment, capture_line(body, probabilities, moment, content_type)

    emitted = 0
    for item in drifted_requests(pool, scenario, count, seed):
        batch.append(item)
        if len(batch) == 256:
            yield from emit(batch, emitted)
            emitted += len(batch)
            batch = []
    yield from emit(batch, emitted)


def write_captures(
    lines: Iterator[tuple[datetime, str]],
    out: str,
    endpoint_name: str,
    variant_name: str = "AllTraffic",
    s3_client: Any = None,
) -> list[str]:
    """Write lines into hour-partitioned files (local folder or s3://); returns what was written."""
    by_hour: dict[str, list[str]] = {}
    for moment, line in lines:
        by_hour.setdefault(moment.strftime("%Y/%m/%d/%H"), []).append(line)
    written = []
    for hour, hour_lines in sorted(by_hour.items()):
        name = f"{endpoint_name}/{variant_name}/{hour}/injected-{uuid.uuid4().hex[:12]}.jsonl"
        body = "\n".join(hour_lines) + "\n"
        if out.startswith("s3://"):
            if s3_client is None:
                s3_client = boto3.client("s3")
            bucket, prefix = parse_s3_uri(out)
            key = f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else name
            s3_client.put_object(Bucket=bucket, Key=key, Body=body.encode())
            written.append(f"s3://{bucket}/{key}")
        else:
            path = Path(out) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            written.append(str(path))
    return written


def invoke_endpoint(
    pool: Sequence[tuple[Path, str]],
    scenario: str,
    count: int,
    endpoint_name: str,
    *,
    seed: int = 0,
    client: Any = None,
) -> dict[str, int]:
    """Send drifted images to a live endpoint (data capture records them)."""
    if client is None:
        client = boto3.client("sagemaker-runtime")
    sent = failed = 0
    for body, content_type, _, _ in drifted_requests(pool, scenario, count, seed):
        try:
            client.invoke_endpoint(EndpointName=endpoint_name, ContentType=content_type, Body=body)
            sent += 1
        except Exception as error:  # throttling or a failing endpoint: count, keep going
            if type(error).__module__.startswith("botocore"):
                failed += 1
            else:
                raise
    return {"sent": sent, "failed": failed}


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(description="Produce drifted traffic.")
    parser.add_argument("--images", type=Path, required=True, help="<label>/*.png folder")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--count", type=at_least(1), default=300, help="records (1 or more)")
    parser.add_argument("--seed", type=int, default=0)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="capture folder or s3://bucket/prefix")
    target.add_argument("--invoke", action="store_true", help="call --endpoint-name instead")
    parser.add_argument("--endpoint-name", default="vehicle-classifier")
    parser.add_argument("--variant-name", default="AllTraffic")
    parser.add_argument("--model", type=Path, help="model.tar.gz for real outputs")
    parser.add_argument(
        "--start",
        type=iso_time_argument,
        help="first inference time (ISO-8601); default: the previous full hour",
    )
    args = parser.parse_args(argv)
    folder = args.images / "train" if (args.images / "train").is_dir() else args.images
    pool = labelled_images(folder) if folder.is_dir() else []
    if not pool:
        print(f"error: no <label>/*.png images under {args.images}", file=sys.stderr)
        return 2
    if args.invoke:
        print(json.dumps(invoke_endpoint(pool, args.scenario, args.count, args.endpoint_name)))
        return 0
    start = args.start
    if start is None:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    predict = None
    if args.model:
        from training.predict import Predictor

        predict = Predictor.from_archive(args.model).predict_images
    lines = capture_lines(pool, args.scenario, args.count, start, seed=args.seed, predict=predict)
    written = write_captures(lines, args.out, args.endpoint_name, args.variant_name)
    print(json.dumps({"scenario": args.scenario, "records": args.count, "files": written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
