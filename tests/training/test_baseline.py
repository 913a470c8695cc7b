"""`python -m training.baseline`: a drift baseline built by hand, with or without a model."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from monitoring.baseline import load_baseline
from tests.monitoring import synthetic
from training import baseline as baseline_cli


def test_cli_builds_a_baseline(tmp_path: Path, capsys):
    folder = synthetic.write_image_folder(tmp_path / "images", 10, seed=3)
    (folder / "bicycle" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "model" / "baseline.json"
    assert baseline_cli.main(["--images", str(folder), "--out", str(out)]) == 0
    built = load_baseline(out)
    assert built.source["image_count"] == 21 and built.source["undecodable_images"] == 1
    assert not built.has_predictions and built.model is None
    assert json.loads(capsys.readouterr().out)["images"] == 21


def test_cli_errors_are_one_line(tmp_path: Path, capsys):
    assert baseline_cli.main(["--images", str(tmp_path / "nope"), "--out", "x.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    folder = synthetic.write_image_folder(tmp_path / "images", 2, seed=3)
    code = baseline_cli.main(
        ["--images", str(folder), "--model", str(tmp_path / "missing.tar.gz"), "--out", "x.json"]
    )
    assert code == 2 and "model archive not found" in capsys.readouterr().err


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

    monkeypatch.setattr(baseline_cli, "model_predict", lambda path: predict)


def test_cli_counts_below_threshold_at_the_models_threshold(tmp_path, stand_in_model, capsys):
    folder = synthetic.write_image_folder(tmp_path / "images", 10, seed=3)
    model = _archive(tmp_path / "model.tar.gz", {"format": 1, "decision_threshold": 0.8})
    out = tmp_path / "baseline.json"
    assert (
        baseline_cli.main(["--images", str(folder), "--model", str(model), "--out", str(out)]) == 0
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
    assert baseline_cli.main(argv) == 0
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
    assert baseline_cli.main(argv) == 2
    assert "has no decision.json: give --threshold" in capsys.readouterr().err
    assert not out.exists()
    assert baseline_cli.main([*argv, "--threshold", "0.85"]) == 0
    built = load_baseline(out)
    assert built.threshold == 0.85 and built.model["decision_threshold"] is None
    for bad in ("1", "0", "nan"):
        assert baseline_cli.main([*argv, "--threshold", bad]) == 2
    bad_decision = _archive(tmp_path / "bad.tar.gz", {"format": 1, "decision_threshold": 1.5})
    argv = ["--images", str(folder), "--model", str(bad_decision), "--out", str(out)]
    assert baseline_cli.main(argv) == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err
