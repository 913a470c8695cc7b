"""The baseline artifact: what it holds, versioning, integrity, the command."""

from __future__ import annotations

import json
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


def test_flat_folder_without_labels(tmp_path: Path):
    rng = np.random.default_rng(4)
    for index in range(6):
        (tmp_path / f"{index}.png").write_bytes(images.encode(synthetic.scene(rng)))
    stats, _, layout = baseline_module.discover(tmp_path)
    assert layout == "labelled" and len(stats) == 6 and {label for _, label in stats} == {""}
    built = baseline_module.build_baseline(stats)
    assert built.label_counts == {"bicycle": 0, "motorcycle": 0}
    assert built.source["image_count"] == 6
