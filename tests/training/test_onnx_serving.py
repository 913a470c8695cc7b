"""The archive's `model.onnx`: exported by training, served by ONNX Runtime for the one-image
request with the answers of `model.pth`, and refused when it is not this model's."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from serving import inference
from tests import images
from tests.training.archives import write_tar
from tests.training.tiny import synthetic_image
from training.model import export_onnx
from training.predict import ModelArchiveError, Predictor

SAMPLE = images.encode(synthetic_image(1, np.random.default_rng(5)))


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _rewritten(archive: Path, target: Path, changes: dict[str, bytes | None]) -> Path:
    """`archive` with members replaced (bytes) or removed (None)."""
    members = _members(archive) | changes
    return write_tar(target, {name: data for name, data in members.items() if data is not None})


def test_training_writes_model_onnx_beside_the_weights(trained_archive: Path) -> None:
    names = set(_members(trained_archive))
    assert {inference.WEIGHTS_FILE, inference.ONNX_FILE} <= names


def test_onnx_runtime_answers_one_image_as_the_eager_model(predictor) -> None:
    model = predictor._model
    assert model.runtime == "onnxruntime"
    batch = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(11))
    with torch.inference_mode():
        eager = model.calibrated(batch)
        served = torch.cat([model(image[None]) for image in batch])
    torch.testing.assert_close(served, eager, rtol=0, atol=1e-5)
    request = inference.input_fn(SAMPLE, "image/png")
    answer = json.loads(inference.output_fn(inference.predict_fn(request, model), "*/*"))
    np.testing.assert_allclose(answer, model.calibrated(request)[0].tolist(), atol=1e-5)


def test_serving_runtime_torch_serves_the_same_answers_traced(
    trained_archive: Path, predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(inference.RUNTIME_SETTING, "torch")
    traced = Predictor.from_archive(trained_archive)
    assert traced._model.runtime == "torchscript"
    np.testing.assert_allclose(
        traced.predict_bytes(SAMPLE, "image/png"),
        predictor.predict_bytes(SAMPLE, "image/png"),
        atol=1e-5,
    )


def test_an_archive_without_model_onnx_serves_traced(
    trained_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Archives from before the export, and containers without onnxruntime, still serve."""
    older = _rewritten(trained_archive, tmp_path / "older.tar.gz", {inference.ONNX_FILE: None})
    assert Predictor.from_archive(older)._model.runtime == "torchscript"
    monkeypatch.setattr(inference, "onnx_runtime_available", lambda: False)
    assert Predictor.from_archive(trained_archive)._model.runtime == "torchscript"
    monkeypatch.setenv(inference.RUNTIME_SETTING, "onnx")  # a stage that insists on it
    with pytest.raises(ModelArchiveError, match=r"no model\.onnx or the container no onnxruntime"):
        Predictor.from_archive(trained_archive)


def test_an_unknown_serving_runtime_is_refused(
    trained_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(inference.RUNTIME_SETTING, "tensorrt")
    with pytest.raises(inference.ServingSettingError, match="SERVING_RUNTIME='tensorrt'"):
        Predictor.from_archive(trained_archive)


def test_a_corrupt_model_onnx_is_refused(trained_archive: Path, tmp_path: Path) -> None:
    corrupt = _rewritten(
        trained_archive, tmp_path / "c.tar.gz", changes={inference.ONNX_FILE: b"\x08\x07garbage"}
    )
    with pytest.raises(ModelArchiveError, match=r"model\.onnx does not load"):
        Predictor.from_archive(corrupt)


def test_a_model_onnx_of_another_model_is_refused(trained_archive: Path, tmp_path: Path) -> None:
    """A stale or swapped export would serve other answers than the weights it ships with."""
    with tarfile.open(trained_archive) as tar:
        tar.extract(inference.WEIGHTS_FILE, tmp_path, filter="data")
    checkpoint = inference.load_checkpoint(str(tmp_path / inference.WEIGHTS_FILE))
    other = dict(checkpoint, calibration={"method": "temperature", "temperature": 3.0})
    exported = export_onnx(other)
    assert exported is not None
    swapped = _rewritten(trained_archive, tmp_path / "s.tar.gz", {inference.ONNX_FILE: exported})
    with pytest.raises(ModelArchiveError, match=r"does not answer as model\.pth does"):
        Predictor.from_archive(swapped)


def test_an_export_failure_leaves_an_archive_that_serves_traced(
    trained_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tarfile.open(trained_archive) as tar:
        tar.extract(inference.WEIGHTS_FILE, tmp_path, filter="data")
    checkpoint = inference.load_checkpoint(str(tmp_path / inference.WEIGHTS_FILE))

    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("exporter gone")

    monkeypatch.setattr(torch.onnx, "export", fails)
    assert export_onnx(checkpoint) is None
