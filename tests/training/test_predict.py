"""The Predictor and the model archive (`training.predict` over `serving`): bad, foreign and
older archives, calibration served as training computed it, the traced one-image path; typed
errors, never a stray exception. The handlers alone: tests/serving/test_inference.py."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from serving import inference
from tests import images
from tests.artifacts import run_inside
from tests.training.archives import write_tar
from tests.training.tiny import synthetic_image
from training.calibration import Stacking, apply_stacking
from training.decision import apply_temperature
from training.model import code_files
from training.predict import (
    InvalidImageError,
    ModelArchiveError,
    Predictor,
    UnsupportedContentTypeError,
)

SAMPLE = images.encode(synthetic_image(0, np.random.default_rng(0)))


def test_predictor_bad_inputs(predictor) -> None:
    with pytest.raises(UnsupportedContentTypeError):
        predictor.predict_bytes(SAMPLE, "text/plain")
    with pytest.raises(InvalidImageError):
        predictor.predict_bytes(b"\x00\x01", "image/png")
    with pytest.raises(InvalidImageError):
        predictor.predict_images([Image.new("RGB", (0, 0))])
    assert predictor.predict_images([]).shape == (0, 2)


def _saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _archive_of(path: Path, checkpoint: dict) -> Path:
    """A model archive holding `checkpoint` (and an empty code/inference.py)."""
    return write_tar(path, {"model.pth": _saved(checkpoint), "code/inference.py": b""})


@pytest.mark.parametrize(
    "members",
    [
        {"model.params": b"mxnet", "model-symbol.json": b"{}"},  # the built-in algorithm's
        {"model.pth": _saved({"weights": torch.zeros(2)}), "code/inference.py": b""},
        {"model.pth": b"not a checkpoint", "code/inference.py": b""},
        {
            "model.pth": _saved({"format": inference.ARCHIVE_FORMAT, "format_version": 99}),
            "code/inference.py": b"",
        },
    ],
)
def test_archives_not_ours_are_refused(tmp_path: Path, members: dict[str, bytes]) -> None:
    with pytest.raises(ModelArchiveError):
        Predictor.from_archive(write_tar(tmp_path / "model.tar.gz", members))


def test_non_archives_are_refused(tmp_path: Path) -> None:
    (tmp_path / "plain.tar.gz").write_bytes(b"definitely not gzip")
    with pytest.raises(ModelArchiveError):
        Predictor.from_archive(tmp_path / "plain.tar.gz")
    with pytest.raises(ModelArchiveError):
        Predictor.from_archive(tmp_path / "missing.tar.gz")


def test_weights_for_another_architecture_are_refused(tmp_path: Path, trained_archive) -> None:
    checkpoint = _checkpoint_of(trained_archive)
    checkpoint["arch"] = {"widths": [64, 64, 64], "blocks": [1, 1, 1], "num_classes": 2}
    archive = _archive_of(tmp_path / "m.tar.gz", checkpoint)
    with pytest.raises(ModelArchiveError, match="architecture"):
        Predictor.from_archive(archive)


# The shape of sagemaker-inference-toolkit's error (sagemaker_inference/errors.py), whose
# transformer answers such errors with their own status instead of a 500.
TOOLKIT_ERRORS = """
class BaseInferenceToolkitError(Exception):
    def __init__(self, status_code, message, phrase):
        self.status_code = status_code
        self.message = message
        self.phrase = phrase
        super().__init__(status_code, message, phrase)
"""


def test_errors_are_toolkit_errors_in_the_serving_container(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for name, content in code_files():  # what the archive's code/ holds
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_bytes(content)
    (tmp_path / "sagemaker_inference").mkdir()
    (tmp_path / "sagemaker_inference" / "__init__.py").write_text("")
    (tmp_path / "sagemaker_inference" / "errors.py").write_text(TOOLKIT_ERRORS)
    script = (
        "import sys; sys.path[:0] = ['code', '.'];"
        "import inference as h; from sagemaker_inference.errors import BaseInferenceToolkitError\n"
        "try:\n    h.input_fn(b'x', 'text/csv')\n"
        "except BaseInferenceToolkitError as e:\n    print(e.status_code, e.phrase[:12])"
    )
    assert run_inside(tmp_path, script, "-I").stdout.split() == ["415", "content", "type"]


def _checkpoint_of(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("model.pth")
        assert member is not None
        return torch.load(io.BytesIO(member.read()), weights_only=True)


def test_version_1_archives_without_a_pretrained_member_still_load(
    tmp_path: Path, trained_archive
) -> None:
    checkpoint = _checkpoint_of(trained_archive)
    assert checkpoint["format_version"] == 4 and checkpoint["pretrained"]["resolution"] == 64
    dropped = ("pretrained", "calibration")
    old = {k: v for k, v in checkpoint.items() if k not in dropped} | {"format_version": 1}
    archive = _archive_of(tmp_path / "v1.tar.gz", old)
    predictor = Predictor.from_archive(archive)
    assert predictor._model.pretrained is None
    image = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    probabilities = predictor.predict_arrays(image)
    assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 1e-5


@pytest.mark.parametrize(
    "pretrained",
    [
        {"backbones": ["lite0"], "resolution": "large", "state": {}},
        {"backbones": ["lite0"], "state": {}},
        {"resolution": 64, "state": {}},
        {"backbones": ["vgg16"], "resolution": 64, "state": {}},
        {"backbones": ["lite0"], "resolution": 64, "state": {"head.weight": torch.zeros(1)}},
        {"backbones": ["lite0"], "resolution": 64, "state": "weights"},
    ],
)
def test_a_malformed_pretrained_member_is_refused(
    tmp_path: Path, trained_archive, pretrained: dict
) -> None:
    checkpoint = _checkpoint_of(trained_archive) | {"pretrained": pretrained}
    archive = _archive_of(tmp_path / "m.tar.gz", checkpoint)
    with pytest.raises(ModelArchiveError):
        Predictor.from_archive(archive)


def test_the_endpoint_serves_calibrated_probabilities(trained_archive: Path) -> None:
    checkpoint = _checkpoint_of(trained_archive)
    calibration = checkpoint["calibration"]
    assert checkpoint["format_version"] == 4 and calibration["method"] == "temperature"
    temperature = calibration["temperature"]
    model = inference.model_from_checkpoint(checkpoint)
    images = inference.arrays_to_tensor(
        np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    )
    raw = model.uncalibrated(images).numpy().astype(np.float64)
    served = json.loads(inference.output_fn(inference.predict_fn(images, model), "*/*"))
    assert np.allclose(served, apply_temperature(raw, temperature), atol=1e-5)
    assert not np.allclose(served, raw, atol=1e-3)  # calibration changed the answer


def test_a_stacking_calibration_is_served_as_training_computes_it(trained_archive: Path) -> None:
    calibration = {"method": "stacking", "weights": {"scratch": 0.7, "pretrained": 1.3}}
    calibration["bias"] = [-0.2, 0.2]
    checkpoint = _checkpoint_of(trained_archive) | {"calibration": calibration}
    model = inference.model_from_checkpoint(checkpoint)
    images = inference.arrays_to_tensor(
        np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    )
    groups = {k: v.numpy() for k, v in model.member_probabilities(images).items()}
    served = json.loads(inference.output_fn(inference.predict_fn(images, model), "*/*"))
    stacking = Stacking(
        weights=calibration["weights"], bias=calibration["bias"][1] * 2, temperatures={}, points={}
    )
    assert np.allclose(served, apply_stacking(groups, stacking), atol=1e-5)
    traced = model.trace_single_image()  # the endpoint's one-image request, traced
    assert traced.__dict__["single_image"] is not None
    assert np.allclose(traced(images[:1]).numpy(), served[:1], atol=1e-5)
    raw = model.uncalibrated(images).numpy()
    assert not np.allclose(served, raw, atol=1e-3)  # calibration changed the answer


def test_version_3_archives_are_served_with_their_temperature(
    tmp_path: Path, trained_archive
) -> None:
    checkpoint = _checkpoint_of(trained_archive)
    old = checkpoint | {
        "format_version": 3,
        "calibration": {"method": "temperature", "temperature": 0.5},
    }
    archive = _archive_of(tmp_path / "v3.tar.gz", old)
    predictor = Predictor.from_archive(archive)
    image = np.full((1, 3, 32, 32), 90, dtype=np.uint8)
    raw = inference.model_from_checkpoint(checkpoint).uncalibrated(
        inference.arrays_to_tensor(image)
    )
    expected = apply_temperature(raw.numpy().astype(np.float64), 0.5)
    assert np.allclose(predictor.predict_arrays(image), expected, atol=1e-5)


def test_version_2_archives_without_calibration_are_served_uncalibrated(
    tmp_path: Path, trained_archive
) -> None:
    checkpoint = _checkpoint_of(trained_archive)
    old = {k: v for k, v in checkpoint.items() if k != "calibration"} | {"format_version": 2}
    archive = _archive_of(tmp_path / "v2.tar.gz", old)
    predictor = Predictor.from_archive(archive)
    assert predictor._model.temperature == 1.0
    image = np.full((1, 3, 32, 32), 90, dtype=np.uint8)
    raw = inference.model_from_checkpoint(checkpoint).uncalibrated(
        inference.arrays_to_tensor(image)
    )
    assert np.allclose(predictor.predict_arrays(image), raw.numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "calibration",
    [
        {"method": "temperature", "temperature": 0.0},
        {"method": "temperature", "temperature": float("nan")},
        {"method": "isotonic", "temperature": 0.5},
        {"method": "temperature"},
        "0.5",
        {"method": "stacking", "weights": {"scratch": 1.0}, "bias": [0.0]},
        {"method": "stacking", "weights": {}, "bias": [0.0, 0.0]},
        {"method": "stacking", "weights": {"scratch": float("inf")}, "bias": [0.0, 0.0]},
        {"method": "stacking", "weights": {"scratch": 1.0}},
        {"method": "stacking", "weights": {"vgg": 1.0}, "bias": [0.0, 0.0]},
    ],
)
def test_a_malformed_calibration_is_refused(
    tmp_path: Path, trained_archive, calibration: object
) -> None:
    checkpoint = _checkpoint_of(trained_archive) | {"calibration": calibration}
    archive = _archive_of(tmp_path / "m.tar.gz", checkpoint)
    with pytest.raises(ModelArchiveError, match="calibration"):
        Predictor.from_archive(archive)


def test_the_traced_single_image_path_answers_like_the_eager_model(predictor) -> None:
    """The endpoint's one-image request runs the frozen trace; other batches stay eager."""
    model = predictor._model
    assert model.single_image is not None  # model_fn traced it
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        eager = model.calibrated(images)
        one_by_one = torch.cat([model(image[None]) for image in images])
        batched = model(images)
    torch.testing.assert_close(one_by_one, eager, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched, eager, rtol=0, atol=0)
    request = inference.input_fn(SAMPLE, "image/png")
    served = json.loads(inference.output_fn(inference.predict_fn(request, model), "*/*"))
    np.testing.assert_allclose(served, model.calibrated(request)[0].tolist(), rtol=1e-5, atol=1e-6)


def test_a_model_that_cannot_be_traced_serves_eager(
    trained_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("torch.jit is gone")

    monkeypatch.setattr(torch.jit, "trace", fails)
    monkeypatch.setenv(inference.RUNTIME_SETTING, "torch")  # (ONNX Runtime would serve it)
    predictor = Predictor.from_archive(trained_archive)
    assert predictor._model.single_image is None
    answer = predictor.predict_bytes(SAMPLE, "image/png")
    assert len(answer) == 2 and abs(sum(answer) - 1) < 1e-5
