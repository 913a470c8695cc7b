"""Data behaviour: the real CIFAR-100 images in ../shared/data, staged (skips when absent).

Code tests of staging live in tests/training/data/; these check the data itself once staged:
counts and balance, schema, labels against the source's own manifest, and no leakage.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.stage import stage
from training.labels import CLASS_NAMES

pytestmark = pytest.mark.real_data

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def real_source(shared_data: Path) -> Path:
    source = shared_data / "cifar_bikes" / "train"
    if not source.is_dir():
        pytest.skip(f"{source} is absent")
    return source


@pytest.fixture(scope="module")
def staged_real(real_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real") / "staged"
    stage(str(real_source), out, seed=42, validation_fraction=0.2, progress=False)
    return out


def test_real_image_folder_stages_all_1000_images_balanced(real_source, staged_real):
    card = json.loads((staged_real / "dataset_card.json").read_text())
    splits = card["splits"]
    assert splits["train"]["per_label"] == {"bicycle": 400, "motorcycle": 400}
    assert splits["validation"]["per_label"] == {"bicycle": 100, "motorcycle": 100}
    assert splits["test"]["count"] == 0  # an image folder without test/ has no test split
    assert sum(card["duplicates_dropped"].values()) == 0
    assert card["source"] == {
        "kind": "image-folder",
        "location": str(real_source),
        "name_collisions": {"count": 0, "renamed": []},  # 1000 files, 1000 staged names
    }


def test_rgba_sources_become_rgb_with_the_same_colours(real_source, staged_real):
    # The shared PNGs are RGBA with alpha 255 everywhere (SOURCES.md).
    original = real_source / "bicycle" / "bicycle_s_000017.png"
    staged = next(staged_real.glob("*/bicycle/bicycle_s_000017.png"))
    with Image.open(original) as a, Image.open(staged) as b:
        assert a.mode == "RGBA" and b.mode == "RGB"
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b))


def test_every_staged_image_is_a_32x32_rgb_png_under_a_known_label(staged_real):
    pngs = sorted(staged_real.rglob("*.png"))
    assert len(pngs) == 1000
    for path in pngs:
        split, label = path.relative_to(staged_real).parts[:2]
        assert split in SPLITS and label in CLASS_NAMES
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (32, 32))


def test_labels_agree_with_the_source_manifest(real_source, staged_real):
    """The folder a staged image sits in is the label the source's train.lst gives it."""
    manifest = real_source.parent / "train.lst"
    if not manifest.is_file():
        pytest.skip(f"{manifest} is absent")
    source_labels = {}
    for line in manifest.read_text().splitlines():
        _, label, name = line.split("\t")
        source_labels[name] = CLASS_NAMES[int(label)]
    staged_labels = {p.name: p.parent.name for p in staged_real.rglob("*.png")}
    assert staged_labels == source_labels


def test_no_image_content_is_in_two_splits(staged_real):
    """Leakage: pixel-identical images never sit in both train and validation."""
    seen: dict[str, str] = {}
    for split in SPLITS:
        for path in (staged_real / split).rglob("*.png"):
            with Image.open(path) as image:
                digest = hashlib.sha256(image.tobytes()).hexdigest()
            assert seen.setdefault(digest, split) == split, f"{path.name} is also in {seen[digest]}"
