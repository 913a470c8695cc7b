"""The serving handlers and Predictor on bad input: typed errors, never a stray exception."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from contract import DEFAULT_LIMITS
from contract.images import ImageRejected, read_header
from serving import inference
from serving.network import EfficientNetLite, SmallResNet
from tests import images
from tests.artifacts import run_inside
from tests.training.tiny import synthetic_image
from training.calibration import Stacking, apply_stacking
from training.decision import apply_temperature
from training.model import code_files
from training.predict import (
    InferenceError,
    InvalidImageError,
    ModelArchiveError,
    Predictor,
    UnsupportedContentTypeError,
)

SAMPLE = images.encode(synthetic_image(0, np.random.default_rng(0)))


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/x-image",
                                          "IMAGE/PNG; charset=binary"])  # fmt: skip
def test_supported_content_types(content_type: str) -> None:
    tensor = inference.input_fn(SAMPLE, content_type)
    assert tensor.shape == (1, 3, 32, 32)
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", "", "image/gif"])
def test_unsupported_content_type(content_type: str) -> None:
    with pytest.raises(UnsupportedContentTypeError) as raised:
        inference.input_fn(SAMPLE, content_type)
    assert raised.value.status_code == 415


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"hello, I am not an image", "not a PNG or JPEG"),
        (SAMPLE[:40], "not a readable"),  # truncated PNG
        (images.png_declaring(0, 16), "no pixels|not a readable"),  # zero width
        (images.png_declaring(16, 0), "no pixels|not a readable"),  # zero height
        (images.png_declaring(9000, 9000), "pixel limit"),  # decompression bomb: before decoding
        (images.png_declaring(5000, 5000), "pixels per byte"),  # 25 MP in a few bytes: a bomb
        (b"\x89PNG" + b"\x00" * (DEFAULT_LIMITS.max_bytes + 1), "above the limit"),
        (_gif(), "GIF"),
    ],
)
def test_bad_images_raise_invalid_image(body: bytes, message: str) -> None:
    with pytest.raises(InvalidImageError, match=message) as raised:
        inference.input_fn(body, "image/png")
    assert raised.value.status_code == 400


def test_text_body_is_refused() -> None:
    with pytest.raises(InvalidImageError):
        inference.input_fn("not bytes", "image/png")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzzed_bodies_give_a_tensor_or_a_typed_error(body: bytes) -> None:
    try:
        tensor = inference.input_fn(body, "application/x-image")
    except InvalidImageError:
        return
    assert tensor.shape == (1, 3, 32, 32)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 20), st.integers(0, len(SAMPLE) - 1), st.integers(0, 255))
def test_fuzzed_corruptions_of_a_real_png(extra: int, position: int, value: int) -> None:
    body = bytearray(SAMPLE)
    body[position] = value
    body += b"\x00" * extra
    try:
        tensor = inference.input_fn(bytes(body), "image/png")
    except InvalidImageError:
        return
    assert tensor.shape == (1, 3, 32, 32)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 96),
    st.integers(1, 96),
    st.sampled_from(["RGB", "RGBA", "L", "P", "LA", "I;16"]),
    st.sampled_from(["PNG", "JPEG"]),
)
def test_any_real_image_mode_is_accepted_within_the_contract_limits(
    width, height, mode, image_format
) -> None:
    """Inside the limits every mode gives a tensor; outside, the gate's own refusal (the endpoint
    and the gate share `contract.images`)."""
    image = Image.new(mode, (width, height))
    if image_format == "JPEG" and mode not in {"RGB", "L"}:
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    body = buffer.getvalue()
    try:
        read_header(body)
    except ImageRejected as refusal:
        with pytest.raises(InvalidImageError, match=re.escape(str(refusal))):
            inference.input_fn(body, "application/x-image")
        return
    assert inference.input_fn(body, "application/x-image").shape == (1, 3, 32, 32)


def test_output_is_the_builtin_algorithms_json() -> None:
    assert json.loads(inference.output_fn(np.array([[0.25, 0.75]]), "application/json")) == [
        0.25,
        0.75,
    ]
    with pytest.raises(InferenceError) as raised:
        inference.output_fn(np.array([[0.5, 0.5]]), "text/csv")
    assert raised.value.status_code == 406


def test_predictor_bad_inputs(predictor) -> None:
    with pytest.raises(UnsupportedContentTypeError):
        predictor.predict_bytes(SAMPLE, "text/plain")
    with pytest.raises(InvalidImageError):
        predictor.predict_bytes(b"\x00\x01", "image/png")
    with pytest.raises(InvalidImageError):
        predictor.predict_images([Image.new("RGB", (0, 0))])
    assert predictor.predict_images([]).shape == (0, 2)


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _archive_of(path: Path, checkpoint: dict) -> Path:
    """A model archive holding `checkpoint` (and an empty code/inference.py)."""
    return _tar(path, {"model.pth": _saved(checkpoint), "code/inference.py": b""})


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
        Predictor.from_archive(_tar(tmp_path / "model.tar.gz", members))


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


@pytest.mark.parametrize("network", ["small_resnet", "lite0"])
def test_folding_batch_norms_keeps_the_answers(network: str) -> None:
    """Serving folds every batch norm into its convolution: none is left, same answers."""
    torch.manual_seed(0)
    model = SmallResNet() if network == "small_resnet" else EfficientNetLite("lite0")
    for norm in model.modules():  # statistics and affine terms far from the identity
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.normal_(0, 0.5)
            norm.running_var.uniform_(0.2, 3.0)
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.normal_(0, 0.3)
    model.eval()
    images = torch.rand(3, 3, 32, 32) if network == "small_resnet" else torch.rand(2, 3, 96, 96)
    with torch.inference_mode():
        expected = model(images)
        folded = inference.fold_batch_norms(model)
        answer = folded(images)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(answer, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [(2, None, 2), (2, "2", 1), (8, "2", 4), (16, "2", 4), (8, "3", 2), (2, "4", 1),
     (4, "0", 4), (4, "many", 4), (1, None, 1)],
)  # fmt: skip
def test_each_serving_worker_takes_its_share_of_the_cores(
    cores: int, workers: str | None, threads: int
) -> None:
    environ = {} if workers is None else {"SAGEMAKER_MODEL_SERVER_WORKERS": workers}
    assert inference.serving_threads(cores, environ) == threads


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
    predictor = Predictor.from_archive(trained_archive)
    assert predictor._model.single_image is None
    answer = predictor.predict_bytes(SAMPLE, "image/png")
    assert len(answer) == 2 and abs(sum(answer) - 1) < 1e-5
