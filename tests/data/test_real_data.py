"""Stage the real CIFAR-100 images in ../shared/data (skips when absent)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from training.data.stage import stage

pytestmark = pytest.mark.real_data


def test_real_image_folder_stages_all_1000_images(shared_data, tmp_path):
    source = shared_data / "cifar_bikes" / "train"
    if not source.is_dir():
        pytest.skip(f"{source} is absent")
    out = tmp_path / "real"
    result = stage(str(source), out, seed=42, validation_fraction=0.2, progress=False)
    splits = result.card["splits"]
    assert splits["train"]["per_label"] == {"bicycle": 400, "motorcycle": 400}
    assert splits["validation"]["per_label"] == {"bicycle": 100, "motorcycle": 100}
    assert splits["test"]["count"] == 0  # an image folder without test/ has no test split
    assert sum(result.card["duplicates_dropped"].values()) == 0
    # RGBA (alpha 255) sources become RGB with the same colour values.
    original = source / "bicycle" / "bicycle_s_000017.png"
    staged = next(out.glob("*/bicycle/bicycle_s_000017.png"))
    with Image.open(original) as a, Image.open(staged) as b:
        assert a.mode == "RGBA" and b.mode == "RGB"
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b))
    card = json.loads((out / "dataset_card.json").read_text())
    assert card["source"] == {
        "kind": "image-folder",
        "location": str(source),
        "name_collisions": {"count": 0, "renamed": []},  # 1000 files, 1000 staged names
    }
