"""The tiny learnable data set and recipe the training tests share.

Classes are told apart by colour (bicycle: blue-dominant, motorcycle: red-dominant) under random
texture, so they stay separable under horizontal flips and mild brightness changes: exactly
what the behaviour tests check the model learned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from training.labels import CLASS_NAMES

TINY_RECIPE = {
    "epochs": 8,
    "batch_size": 16,
    "widths": [8, 16, 16],
    "lr": 0.05,
    "threads": 1,
    "ensemble": 1,
    # The pretrained member as in production, on a smaller upscale to keep the suite quick.
    "pretrained_resolution": 64,
}


def synthetic_image(label: int, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """A noisy textured image whose dominant channel encodes the class."""
    base = rng.uniform(0.15, 0.45, size=(size, size, 3))
    texture = rng.uniform(0.0, 0.25, size=(size, size, 1))
    dominant = 2 if label == 0 else 0  # blue for bicycles, red for motorcycles
    base[..., dominant] += 0.35
    pixels = np.clip((base + texture) * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def write_label_folder(
    root: Path, per_class: int, seed: int, classes: tuple[int, ...] = (0, 1)
) -> Path:
    rng = np.random.default_rng(seed)
    for label in classes:
        folder = root / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            synthetic_image(label, rng).save(folder / f"{CLASS_NAMES[label]}_{index:03d}.png")
    return root


def write_staged(root: Path, per_class: int, seed: int, with_validation: bool = True) -> Path:
    """`<root>/<split>/<label>/*.png` like the data engineer's staging output."""
    write_label_folder(root / "train", per_class, seed)
    if with_validation:
        write_label_folder(root / "validation", max(2, per_class // 4), seed + 1)
    write_label_folder(root / "test", max(2, per_class // 4), seed + 2)
    return root
