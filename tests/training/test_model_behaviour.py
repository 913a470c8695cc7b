"""Behaviour of a trained model and the artifact round trip (train -> tar -> load -> predict)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from tests import images
from tests.training.tiny import synthetic_image

CASES = 24


def _images(seed: int) -> list[tuple[int, Image.Image]]:
    rng = np.random.default_rng(seed)
    return [(label, synthetic_image(label, rng)) for label in (0, 1) for _ in range(CASES // 2)]


def test_horizontal_flip_keeps_the_prediction(predictor) -> None:
    images = [image for _, image in _images(11)]
    original = predictor.predict_images(images).argmax(axis=1)
    flipped = predictor.predict_images([ImageOps.mirror(i) for i in images]).argmax(axis=1)
    assert (original == flipped).all()


def test_small_brightness_changes_keep_the_prediction(predictor) -> None:
    images = [image for _, image in _images(12)]
    original = predictor.predict_images(images).argmax(axis=1)
    for factor in (0.9, 1.1):
        changed = [ImageEnhance.Brightness(i).enhance(factor) for i in images]
        assert (predictor.predict_images(changed).argmax(axis=1) == original).all()


def test_predictions_are_probabilities_in_class_order(predictor) -> None:
    labelled = _images(13)
    probabilities = predictor.predict_images([image for _, image in labelled])
    assert probabilities.shape == (CASES, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    labels = np.array([label for label, _ in labelled])
    assert (probabilities.argmax(axis=1) == labels).mean() >= 0.9  # 0 = bicycle, 1 = motorcycle


def test_round_trip_bytes_and_images_agree(predictor) -> None:
    image = synthetic_image(1, np.random.default_rng(14))
    from_bytes = predictor.predict_bytes(images.encode(image), "image/png")
    from_image = predictor.predict_images([image])[0]
    assert len(from_bytes) == 2
    np.testing.assert_allclose(from_bytes, from_image, atol=1e-6)


def test_larger_and_jpeg_images_are_resized_like_the_endpoint(predictor) -> None:
    image = synthetic_image(0, np.random.default_rng(15), size=32).resize((200, 120))
    buffer = __import__("io").BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    probabilities = predictor.predict_bytes(buffer.getvalue(), "image/jpeg")
    assert probabilities[0] > 0.5


def test_archive_code_runs_without_the_project(trained_archive: Path, tmp_path: Path) -> None:
    """The serving container has only torch, numpy and Pillow, and `code/` on sys.path."""
    with tarfile.open(trained_archive) as tar:
        tar.extractall(tmp_path, filter="data")
    sample = tmp_path / "sample.png"
    synthetic_image(0, np.random.default_rng(16)).save(sample)
    script = (
        "import sys, json; sys.path.insert(0, 'code');"
        "import inference as h;"
        "m = h.model_fn('.');"
        "x = h.input_fn(open('sample.png','rb').read(), 'application/x-image');"
        "print(h.output_fn(h.predict_fn(x, m), 'application/json'))"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-c", script],  # -I: no cwd, no user site, no PYTHONPATH
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "training" not in completed.stderr
    answer = json.loads(completed.stdout)
    assert len(answer) == 2 and abs(sum(answer) - 1) < 1e-5
