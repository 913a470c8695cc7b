"""Generate archives in the CIFAR-100 python format, for tests, benchmarks and the offline demo.

The pickles have the real structure (bytes keys `data`, `fine_labels`, `coarse_labels`,
`filenames`, `batch_label`; `meta` with `fine_label_names` and `coarse_label_names`). Images of
the two target classes are drawn so that a model can learn them apart: bicycles are thin dark
line drawings (two wheels and a frame) on light backgrounds, motorcycles are thick saturated
blobs on darker backgrounds. Every other class is random noise.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from training.labels import CIFAR100_FINE_TO_CLASS, IMAGE_SIZE

FINE_LABEL_NAMES = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
]
COARSE_LABEL_NAMES = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
]
VEHICLES_1 = COARSE_LABEL_NAMES.index("vehicles_1")
assert len(FINE_LABEL_NAMES) == 100 and FINE_LABEL_NAMES[8] == "bicycle"
assert FINE_LABEL_NAMES[48] == "motorcycle"


def draw_bicycle(rng: np.random.Generator) -> np.ndarray:
    """Thin dark wheels and frame on a light background."""
    background = tuple(int(v) for v in rng.integers(175, 256, size=3))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    ink = tuple(int(v) for v in rng.integers(0, 70, size=3))
    radius = int(rng.integers(5, 8))
    y = int(rng.integers(radius + 8, IMAGE_SIZE - radius - 1))
    x1 = int(rng.integers(radius + 1, 12))
    x2 = x1 + int(rng.integers(2 * radius + 2, 2 * radius + 8))
    x2 = min(x2, IMAGE_SIZE - radius - 2)
    for x in (x1, x2):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=ink, width=1)
    top = y - int(rng.integers(5, 9))
    middle = (x1 + x2) // 2
    draw.line((x1, y, middle, top, x2, y, x1, y), fill=ink, width=1)
    draw.line((middle, top, middle + 2, top - 3), fill=ink, width=1)
    return _with_noise(image, rng, 12)


def draw_motorcycle(rng: np.random.Generator) -> np.ndarray:
    """Thick saturated blobs (body and wheels) on a darker background."""
    background = tuple(int(v) for v in rng.integers(20, 120, size=3))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    hue = np.zeros(3, dtype=np.int64)
    hue[int(rng.integers(0, 3))] = 255
    hue[int(rng.integers(0, 3))] = int(rng.integers(0, 120))
    color = tuple(int(v) for v in hue)
    cx, cy = (int(v) for v in rng.integers(10, 22, size=2))
    w, h = int(rng.integers(8, 13)), int(rng.integers(5, 9))
    draw.ellipse((cx - w, cy - h, cx + w, cy + h), fill=color)
    wheel = tuple(int(v) for v in rng.integers(0, 40, size=3))
    for dx in (-w + 2, w - 2):
        draw.ellipse((cx + dx - 4, cy + h - 2, cx + dx + 4, cy + h + 6), fill=wheel)
    return _with_noise(image, rng, 12)


def _with_noise(image: Image.Image, rng: np.random.Generator, amplitude: int) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.int16)
    pixels = pixels + rng.integers(-amplitude, amplitude + 1, size=pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


DRAWERS = {8: draw_bicycle, 48: draw_motorcycle}


def make_batch(split: str, per_class: dict[int, int], rng: np.random.Generator) -> dict[bytes, Any]:
    """One CIFAR-100 batch dict (bytes keys, as the Python 2 pickles load with encoding=bytes)."""
    fine = np.concatenate([np.full(n, label, dtype=np.int64) for label, n in per_class.items()])
    fine = fine[rng.permutation(len(fine))]
    data = rng.integers(0, 256, size=(len(fine), IMAGE_SIZE * IMAGE_SIZE * 3), dtype=np.uint8)
    for row in np.flatnonzero(np.isin(fine, list(DRAWERS))):
        pixels = DRAWERS[int(fine[row])](rng)
        data[row] = pixels.transpose(2, 0, 1).reshape(-1)
    coarse = [VEHICLES_1 if f in CIFAR100_FINE_TO_CLASS else int(f) % 20 for f in fine]
    return {
        b"filenames": [f"{FINE_LABEL_NAMES[f]}_s_{i:06d}.png".encode() for i, f in enumerate(fine)],
        b"batch_label": f"{split}ing batch 1 of 1".encode(),
        b"fine_labels": [int(f) for f in fine],
        b"coarse_labels": coarse,
        b"data": data,
    }


def make_meta() -> dict[bytes, Any]:
    return {
        b"fine_label_names": [name.encode() for name in FINE_LABEL_NAMES],
        b"coarse_label_names": [name.encode() for name in COARSE_LABEL_NAMES],
    }


def make_pickles(
    *,
    train_per_class: int = 50,
    test_per_class: int = 10,
    other_train_per_class: int = 1,
    other_test_per_class: int = 1,
    seed: int = 0,
) -> dict[str, dict[bytes, Any]]:
    """The `train`, `test` and `meta` dicts; full size is 500/100 for every one of 100 classes."""
    rng = np.random.default_rng(seed)

    def counts(target: int, other: int) -> dict[int, int]:
        return {f: (target if f in CIFAR100_FINE_TO_CLASS else other) for f in range(100)}

    return {
        "train": make_batch("train", counts(train_per_class, other_train_per_class), rng),
        "test": make_batch("test", counts(test_per_class, other_test_per_class), rng),
        "meta": make_meta(),
    }


def write_archive(
    path: Path,
    pickles: dict[str, Any],
    *,
    protocol: int = 4,  # numpy arrays as _reconstruct + bytes, like the real archive
    compresslevel: int = 1,
    root: str = "cifar-100-python",
) -> str:
    """Write `pickles` (name -> object) as `root/<name>` into a .tar.gz; return its MD5."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w:gz", compresslevel=compresslevel) as archive:
        directory = tarfile.TarInfo(root)
        directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o755, 0
        archive.addfile(directory)
        for name, value in pickles.items():
            payload = value if isinstance(value, bytes) else pickle.dumps(value, protocol=protocol)
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size, info.mode, info.mtime = len(payload), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(payload))
    digest = hashlib.md5()  # noqa: S324 - matches how CIFAR publishes its checksum
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_cifar100_archive(
    path: Path,
    *,
    train_per_class: int = 50,
    test_per_class: int = 10,
    other_train_per_class: int = 1,
    other_test_per_class: int = 1,
    seed: int = 0,
) -> str:
    """A synthetic CIFAR-100 python archive at `path`; returns its MD5."""
    pickles = make_pickles(
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        other_train_per_class=other_train_per_class,
        other_test_per_class=other_test_per_class,
        seed=seed,
    )
    return write_archive(
        path, {"train": pickles["train"], "test": pickles["test"], "meta": pickles["meta"]}
    )
