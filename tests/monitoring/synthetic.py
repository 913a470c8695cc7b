"""Synthetic but real test data: PNG bytes through Pillow, capture lines in SageMaker's format."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tests import images

T0 = datetime(2026, 1, 1, 10, tzinfo=UTC)
# The stage's routing threshold in these tests (a promoted model's decision.json gives the real
# one): the baseline counts below_threshold at it and the job runs with it.
THRESHOLD = 0.9


def scene(rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A random 'photo': a lit gradient background, a few objects and sensor noise (uint8 RGB)."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(60, 190, 3)
    tilt = rng.uniform(-70, -10, 3)  # lit from above, like most photos
    image = base + tilt * y[..., None] + rng.uniform(-20, 20) * x[..., None]
    for _ in range(rng.integers(2, 5)):
        x0, y0 = rng.integers(0, size - 6, 2)
        w, h = rng.integers(4, 14, 2)
        image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, 3)
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def capture_record(
    body: bytes,
    probabilities: list[float] | str = "[0.1, 0.9]",
    moment: datetime = T0,
    *,
    output_encoding: str = "JSON",
    input_encoding: str = "BASE64",
    content_type: str = "image/png",
) -> dict:
    output = probabilities if isinstance(probabilities, str) else json.dumps(probabilities)
    if output_encoding == "BASE64":
        output = base64.b64encode(output.encode()).decode()
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": base64.b64encode(body).decode(),
                "encoding": input_encoding,
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": output,
                "encoding": output_encoding,
            },
        },
        "eventMetadata": {
            "eventId": "00000000-0000-0000-0000-000000000000",
            "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "eventVersion": "0",
    }


def capture_line(*args: object, **kwargs: object) -> str:
    return json.dumps(capture_record(*args, **kwargs))  # type: ignore[arg-type]


def probabilities(rng: np.random.Generator, motorcycle_share: float = 0.5) -> list[float]:
    label = int(rng.random() < motorcycle_share)
    confidence = float(0.5 + 0.5 * rng.beta(8, 1))
    out = [1.0 - confidence, 1.0 - confidence]
    out[label] = confidence
    return out


def write_image_folder(folder: Path, count: int, seed: int) -> Path:
    """`<label>/*.png` with `count` images per label."""
    rng = np.random.default_rng(seed)
    for label in ("bicycle", "motorcycle"):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            (folder / label / f"{label}_{index:04d}.png").write_bytes(images.encode(scene(rng)))
    return folder


def window_lines(
    count: int,
    seed: int,
    transform=None,
    motorcycle_share: float = 0.5,
    start: datetime = T0,
) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = []
    for index in range(count):
        array = scene(rng)
        if transform is not None:
            array = transform(array, rng)
        moment = start + timedelta(seconds=index * 3600 / max(count, 1))
        lines.append(
            capture_line(images.encode(array), probabilities(rng, motorcycle_share), moment)
        )
    return lines
