"""The baseline artifact: what it holds, versioning, integrity, the command."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from monitoring import baseline as baseline_module
from monitoring.baseline import Baseline, BaselineError, NumericReference, load_baseline
from monitoring.features import IMAGE_NUMERIC
from tests import images
from tests.monitoring import synthetic


def test_baseline_holds_every_feature_and_its_identity(baseline: Baseline):
    assert set(IMAGE_NUMERIC) | {"confidence"} == set(baseline.numeric)
    assert set(baseline.categorical) == {"format", "predicted_class", "below_threshold"}
    assert baseline.categorical["format"] == {"PNG": 600}
    assert sum(baseline.categorical["predicted_class"].values()) == 600
    assert baseline.label_counts == {"bicycle": 300, "motorcycle": 300}
    assert baseline.model_sha256 == "a" * 64
    assert baseline.schema_version == baseline_module.SCHEMA_VERSION
    assert baseline.created_at and len(baseline.content_sha256) == 64
    for reference in baseline.numeric.values():
        assert reference.total == 600
        assert np.all(np.diff(reference.edges) > 0)


def test_constant_feature_gets_its_own_bin():
    reference = NumericReference.from_values(np.full(100, 32.0))
    counts = baseline_module.bin_counts(reference.edges, np.array([32.0, 64.0, 16.0]))
    assert counts.tolist() == [1, 1, 1]  # below, at, above the baseline's only value


def test_round_trip_and_tamper_detection(tmp_path: Path, baseline: Baseline):
    path = tmp_path / "baseline.json"
    baseline_module.save_baseline(baseline, path)
    loaded = load_baseline(path)
    assert loaded.to_dict() == baseline.to_dict()
    data = json.loads(path.read_text())
    data["threshold"] = 0.5
    path.write_text(json.dumps(data))
    with pytest.raises(BaselineError, match="content_sha256"):
        load_baseline(path)
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(BaselineError, match="schema_version"):
        load_baseline(path)
    path.write_text("{not json")
    with pytest.raises(BaselineError):
        load_baseline(path)
    with pytest.raises(BaselineError, match="not found"):
        load_baseline(tmp_path / "missing.json")


def test_staged_layout_uses_train_for_images_and_validation_for_predictions(tmp_path: Path):
    synthetic.write_image_folder(tmp_path / "train", 4, seed=1)
    synthetic.write_image_folder(tmp_path / "validation", 2, seed=2)
    stats, predictions, layout = baseline_module.discover(tmp_path)
    assert layout == "staged"
    assert len(stats) == 8 and all("train" in str(p) for p, _ in stats)
    assert len(predictions) == 4 and all("validation" in str(p) for p, _ in predictions)


def test_cli_builds_a_baseline(tmp_path: Path, capsys):
    folder = synthetic.write_image_folder(tmp_path / "images", 10, seed=3)
    (folder / "bicycle" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "model" / "baseline.json"
    assert baseline_module.main(["--images", str(folder), "--out", str(out)]) == 0
    built = load_baseline(out)
    assert built.source["image_count"] == 21 and built.source["undecodable_images"] == 1
    assert not built.has_predictions and built.model is None
    assert json.loads(capsys.readouterr().out)["images"] == 21


def test_cli_errors_are_one_line(tmp_path: Path, capsys):
    assert baseline_module.main(["--images", str(tmp_path / "nope"), "--out", "x.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    folder = synthetic.write_image_folder(tmp_path / "images", 2, seed=3)
    code = baseline_module.main(
        ["--images", str(folder), "--model", str(tmp_path / "missing.tar.gz"), "--out", "x.json"]
    )
    assert code == 2 and "model archive not found" in capsys.readouterr().err


def test_flat_folder_without_labels(tmp_path: Path):
    rng = np.random.default_rng(4)
    for index in range(6):
        (tmp_path / f"{index}.png").write_bytes(images.encode(synthetic.scene(rng)))
    stats, _, layout = baseline_module.discover(tmp_path)
    assert layout == "labelled" and len(stats) == 6 and {label for _, label in stats} == {""}
    built = baseline_module.build_baseline(stats)
    assert built.label_counts == {"bicycle": 0, "motorcycle": 0}
    assert built.source["image_count"] == 6


def _archive(path: Path, decision: dict | None) -> Path:
    """A model.tar.gz with (or without) the decision.json training writes."""
    with tarfile.open(path, "w:gz") as archive:
        members = {"model.pth": b"weights"}
        if decision is not None:
            members["decision.json"] = json.dumps(decision).encode()
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def stand_in_model(monkeypatch):
    """The model's predictions come from the test stand-in (no torch model is trained here);
    the archive, its decision.json and the command are real."""
    rng = np.random.default_rng(5)

    def predict(paths):
        confidence = rng.uniform(0.5, 1.0, len(paths))
        return np.stack([confidence, 1 - confidence], axis=1)

    monkeypatch.setattr(baseline_module, "model_predict", lambda path: predict)


def test_cli_counts_below_threshold_at_the_models_threshold(tmp_path, stand_in_model, capsys):
    folder = synthetic.write_image_folder(tmp_path / "images", 10, seed=3)
    model = _archive(tmp_path / "model.tar.gz", {"format": 1, "decision_threshold": 0.8})
    out = tmp_path / "baseline.json"
    assert (
        baseline_module.main(["--images", str(folder), "--model", str(model), "--out", str(out)])
        == 0
    )
    built = load_baseline(out)
    assert built.threshold == 0.8 and built.model["decision_threshold"] == 0.8
    assert json.loads(capsys.readouterr().out)["threshold"] == 0.8
    # A stage that pins its own threshold builds its baseline at that one; the model's is kept.
    argv = [
        "--images",
        str(folder),
        "--model",
        str(model),
        "--out",
        str(out),
        "--threshold",
        "0.95",
    ]
    assert baseline_module.main(argv) == 0
    pinned = load_baseline(out)
    assert pinned.threshold == 0.95 and pinned.model["decision_threshold"] == 0.8
    assert sum(pinned.categorical["below_threshold"].values()) == 20
    assert (
        pinned.categorical["below_threshold"]["True"] > built.categorical["below_threshold"]["True"]
    )


def test_cli_needs_a_threshold_for_a_model_without_decision_json(tmp_path, stand_in_model, capsys):
    folder = synthetic.write_image_folder(tmp_path / "images", 4, seed=3)
    model = _archive(tmp_path / "model.tar.gz", None)
    out = tmp_path / "baseline.json"
    argv = ["--images", str(folder), "--model", str(model), "--out", str(out)]
    assert baseline_module.main(argv) == 2
    assert "has no decision.json: give --threshold" in capsys.readouterr().err
    assert not out.exists()
    assert baseline_module.main([*argv, "--threshold", "0.85"]) == 0
    built = load_baseline(out)
    assert built.threshold == 0.85 and built.model["decision_threshold"] is None
    for bad in ("1", "0", "nan"):
        assert baseline_module.main([*argv, "--threshold", bad]) == 2
    bad_decision = _archive(tmp_path / "bad.tar.gz", {"format": 1, "decision_threshold": 1.5})
    argv = ["--images", str(folder), "--model", str(bad_decision), "--out", str(out)]
    assert baseline_module.main(argv) == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err
