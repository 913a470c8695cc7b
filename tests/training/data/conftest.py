"""Data built by the tests themselves: small CIFAR-100-format archives and image folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.synthetic import write_cifar100_archive

ImageFolderFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A CIFAR-100-format archive: 50 train + 10 test images per target class; (path, md5)."""
    path = tmp_path_factory.mktemp("archive") / "cifar-100-python.tar.gz"
    md5 = write_cifar100_archive(path, train_per_class=50, test_per_class=10, seed=1)
    return path, md5


def random_image(rng: np.random.Generator, size: tuple[int, int] = (32, 32)) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture
def image_folder(tmp_path: Path) -> ImageFolderFactory:
    """Build `<root>/<label>/<name>.png` from {label: count}; returns the root."""

    def build(
        counts: dict[str, int], root: Path | None = None, seed: int = 0, mode: str = "RGB"
    ) -> Path:
        root = root or tmp_path / "images"
        rng = np.random.default_rng(seed)
        for label, count in counts.items():
            (root / label).mkdir(parents=True, exist_ok=True)
            for index in range(count):
                random_image(rng).convert(mode).save(root / label / f"{label}_{index:03d}.png")
        return root

    return build


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """10 train + 3 test images per target class, for S3 tests; (path, md5)."""
    path = tmp_path_factory.mktemp("tiny") / "cifar-100-python.tar.gz"
    md5 = write_cifar100_archive(path, train_per_class=10, test_per_class=3, seed=2)
    return path, md5
