"""Deduplication and the seeded, stratified train/validation split.

Test images come only from the source's test split. Validation is a stratified share of the
source's train split. No pixel-identical image may appear in two splits: duplicates are dropped
(keeping test's copy, then the first occurrence) or, with `duplicates="error"`, refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from training.data.errors import SplitError
from training.data.sources import SourceData
from training.dataset import ImageSet
from training.labels import CLASS_NAMES

SPLITS = ("train", "validation", "test")
DuplicatePolicy = Literal["drop", "error"]


@dataclass(frozen=True)
class Splits:
    train: ImageSet
    validation: ImageSet
    test: ImageSet
    duplicates: dict[str, int] = field(default_factory=dict)  # what deduplication dropped

    def by_name(self) -> dict[str, ImageSet]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def pixel_digests(pixels: np.ndarray) -> list[bytes]:
    """SHA-256 of each image's raw pixels: equal digests mean pixel-identical images."""
    flat = np.ascontiguousarray(pixels).reshape(len(pixels), int(np.prod(pixels.shape[1:])))
    return [hashlib.sha256(row.tobytes()).digest() for row in flat]


def _first_occurrences(
    digests: list[bytes], labels: np.ndarray, exclude: set[bytes]
) -> tuple[np.ndarray, int, int, int]:
    """Indices to keep, and how many were duplicates inside, excluded, label conflicts."""
    first_label: dict[bytes, int] = {}
    keep, inside, excluded, conflicts = [], 0, 0, 0
    for index, digest in enumerate(digests):
        if digest in exclude:
            excluded += 1
        elif digest in first_label:
            inside += 1
            conflicts += int(first_label[digest] != int(labels[index]))
        else:
            first_label[digest] = int(labels[index])
            keep.append(index)
    return np.array(keep, dtype=np.int64), inside, excluded, conflicts


def deduplicate(
    source: SourceData, policy: DuplicatePolicy = "drop"
) -> tuple[ImageSet, ImageSet, dict[str, int]]:
    """Source train and test without pixel duplicates (within either, or train in test)."""
    test_digests = pixel_digests(source.test.pixels)
    test_keep, test_inside, _, test_conflicts = _first_occurrences(
        test_digests, source.test.labels, set()
    )
    train_keep, train_inside, train_in_test, train_conflicts = _first_occurrences(
        pixel_digests(source.train.pixels), source.train.labels, set(test_digests)
    )
    report = {
        "within_train": train_inside,
        "within_test": test_inside,
        "train_in_test": train_in_test,
        "conflicting_labels": train_conflicts + test_conflicts,
    }
    if policy == "error" and any(report.values()):
        raise SplitError(f"pixel-identical images found ({_describe(report)}); refusing to stage")
    return source.train.subset(train_keep), source.test.subset(test_keep), report


def _describe(report: dict[str, int]) -> str:
    return ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in report.items() if value)


def stratified_indices(
    ids: list[str], labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions into (train, validation), `fraction` of every label to validation.

    Deterministic in (ids, labels, fraction, seed) and independent of the input order: each
    label's ids are sorted, then permuted by a generator seeded with (seed, label). A label
    with at least two images keeps at least one in each part when 0 < fraction < 1.
    """
    if not 0.0 <= fraction < 1.0:
        raise SplitError(f"validation fraction must be in [0, 1), got {fraction}")
    validation: list[int] = []
    for label in np.unique(labels):
        members = sorted(np.flatnonzero(labels == label), key=lambda i: ids[i])
        count = len(members)
        take = round(count * fraction)
        if fraction > 0 and count >= 2:
            take = min(max(take, 1), count - 1)
        order = np.random.default_rng([seed, int(label)]).permutation(count)
        validation.extend(members[i] for i in order[:take])
    chosen = np.zeros(len(labels), dtype=bool)
    chosen[validation] = True
    return np.flatnonzero(~chosen), np.flatnonzero(chosen)


def assert_disjoint(splits: Splits) -> None:
    """Raise `SplitError` when any pixel-identical image is in two splits."""
    seen: dict[bytes, str] = {}
    for name, images in splits.by_name().items():
        for digest, image_id in zip(pixel_digests(images.pixels), images.ids, strict=True):
            other = seen.get(digest)
            if other is not None and not other.startswith(f"{name}/"):
                raise SplitError(f"image {name}/{image_id} is pixel-identical to {other}")
            seen.setdefault(digest, f"{name}/{image_id}")


def make_splits(
    source: SourceData,
    *,
    validation_fraction: float,
    seed: int,
    duplicates: DuplicatePolicy = "drop",
) -> Splits:
    train, test, report = deduplicate(source, duplicates)
    if len(train) == 0:
        raise SplitError("the source has no training images of the target classes")
    missing = [CLASS_NAMES[c] for c in range(len(CLASS_NAMES)) if not np.any(train.labels == c)]
    if missing:
        raise SplitError(f"the training images have no {', '.join(missing)}: cannot train")
    train_idx, validation_idx = stratified_indices(
        train.ids, train.labels, validation_fraction, seed
    )
    splits = Splits(
        train=train.subset(train_idx),
        validation=train.subset(validation_idx),
        test=test,
        duplicates=report,
    )
    assert_disjoint(splits)
    return splits
