"""The synthetic archive used offline: real CIFAR-100 structure and learnable classes."""

from __future__ import annotations

import numpy as np

from training.data.sources import read_cifar100_archive, read_cifar100_pickles
from training.data.synthetic import FINE_LABEL_NAMES, write_cifar100_archive


def test_archive_has_the_real_pickle_structure(small_archive):
    pickles = read_cifar100_pickles(small_archive[0])
    assert set(pickles["train"]) == {
        "data",
        "fine_labels",
        "coarse_labels",
        "filenames",
        "batch_label",
    }
    # 50 per target class + 1 of each of the other 98 classes
    assert pickles["train"]["data"].shape == (198, 3072)
    assert pickles["train"]["data"].dtype == np.uint8
    assert len(pickles["meta"]["fine_label_names"]) == 100
    assert len(pickles["meta"]["coarse_label_names"]) == 20
    assert FINE_LABEL_NAMES[8] == "bicycle" and FINE_LABEL_NAMES[48] == "motorcycle"


def test_full_size_counts_are_configurable(tmp_path):
    write_cifar100_archive(
        tmp_path / "a.tar.gz",
        train_per_class=3,
        test_per_class=2,
        other_train_per_class=5,
        other_test_per_class=1,
    )
    pickles = read_cifar100_pickles(tmp_path / "a.tar.gz")
    assert len(pickles["train"]["fine_labels"]) == 2 * 3 + 98 * 5
    assert len(pickles["test"]["fine_labels"]) == 2 * 2 + 98 * 1


def test_classes_are_learnable_by_a_trivial_rule(small_archive):
    """Bicycles are light line drawings, motorcycles darker saturated blobs: a threshold on
    mean brightness, fitted on train, must separate test almost perfectly."""
    data = read_cifar100_archive(small_archive[0])

    def brightness(pixels: np.ndarray) -> np.ndarray:
        return pixels.reshape(len(pixels), -1).mean(axis=1)

    train_b = brightness(data.train.pixels)
    threshold = (
        train_b[data.train.labels == 0].mean() + train_b[data.train.labels == 1].mean()
    ) / 2
    predicted = (brightness(data.test.pixels) < threshold).astype(int)
    assert (predicted == data.test.labels).mean() >= 0.9
