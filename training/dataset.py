"""Load labelled image folders into memory: `<label>/*.png` or a staged `<split>/<label>/*.png`,
as an `ImageSet` (the one image-set class; staging reads its sources into it too).

1000 images of 32x32 take 3 MB, so everything is held as one uint8 array; augmentation runs on
batches of tensors, which is faster on a CPU than a DataLoader with workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract import DEFAULT_LIMITS
from contract.images import ImageRejected, prepare_image
from training.labels import CLASS_INDEX, CLASS_NAMES, IMAGE_SIZE

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
SPLITS = ("train", "validation", "test")


class DatasetError(ValueError):
    """The data cannot train or evaluate a model (empty, one class, unknown label, corrupt)."""


@dataclass(frozen=True)
class ImageSet:
    """Labelled 32x32 RGB images, as staging reads a source and training loads a folder.

    `pixels` keep the decoders' layout (n, 32, 32, 3), so staging writes and digests them as
    they are; `channels_first` is the networks' layout (n, 3, 32, 32).
    """

    pixels: np.ndarray  # uint8 (n, 32, 32, 3)
    labels: np.ndarray  # int64 (n,), CLASS_NAMES indices
    ids: list[str]  # unique within the set; staging's file stem, e.g. "train_00017"
    origins: list[str]  # where each image came from (a file, an archive row), for the card

    def __post_init__(self) -> None:
        count = len(self.ids)
        assert self.pixels.shape == (count, IMAGE_SIZE, IMAGE_SIZE, 3), self.pixels.shape
        assert self.labels.shape == (count,) and len(self.origins) == count

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def channels_first(self) -> np.ndarray:
        """uint8 (n, 3, 32, 32), what `serving.inference.arrays_to_tensor` takes."""
        return np.ascontiguousarray(self.pixels.transpose(0, 3, 1, 2))

    def subset(self, indices: np.ndarray) -> ImageSet:
        return ImageSet(
            pixels=self.pixels[indices],
            labels=self.labels[indices],
            ids=[self.ids[i] for i in indices],
            origins=[self.origins[i] for i in indices],
        )

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(CLASS_NAMES))
        return {name: int(counts[i]) for i, name in enumerate(CLASS_NAMES)}

    @staticmethod
    def empty() -> ImageSet:
        return ImageSet(
            pixels=np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8),
            labels=np.zeros((0,), dtype=np.int64),
            ids=[],
            origins=[],
        )

    @staticmethod
    def concatenate(parts: list[ImageSet]) -> ImageSet:
        if not parts:
            return ImageSet.empty()
        return ImageSet(
            pixels=np.concatenate([part.pixels for part in parts]),
            labels=np.concatenate([part.labels for part in parts]),
            ids=[image_id for part in parts for image_id in part.ids],
            origins=[origin for part in parts for origin in part.origins],
        )


def _visible_entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def load_folder(folder: Path, require_all_classes: bool = True) -> ImageSet:
    """Read every image under `folder/<label>/`; raise `DatasetError` on anything unexpected."""
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a directory")
    label_dirs = [p for p in _visible_entries(folder) if p.is_dir()]
    unknown = sorted(p.name for p in label_dirs if p.name not in CLASS_INDEX)
    if unknown:
        raise DatasetError(f"{folder}: unknown labels {unknown}; expected {list(CLASS_NAMES)}")
    pixels, labels, paths = [], [], []
    for label_dir in label_dirs:
        for path in _visible_entries(label_dir):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            try:  # the contract's preparation, as the endpoint and staging decode
                image = prepare_image(path.read_bytes(), DEFAULT_LIMITS)
            except ImageRejected as error:
                raise DatasetError(f"{path}: {error}") from error
            pixels.append(np.asarray(image, dtype=np.uint8))
            labels.append(CLASS_INDEX[label_dir.name])
            paths.append(path)
    if not pixels:
        raise DatasetError(f"{folder}: no images under {list(CLASS_NAMES)} label folders")
    image_set = ImageSet(
        pixels=np.stack(pixels),
        labels=np.asarray(labels, dtype=np.int64),
        ids=[str(path.relative_to(folder)) for path in paths],
        origins=[str(path) for path in paths],
    )
    missing = [name for name, count in image_set.class_counts().items() if count == 0]
    if require_all_classes and missing:
        raise DatasetError(f"{folder}: no images of {missing}; training needs both classes")
    return image_set


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, carved): `fraction` of each class (at least one) goes to `carved`."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    kept, carved = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if len(members) < 2:
            raise DatasetError(f"class {CLASS_NAMES[label]} has {len(members)} image(s): need 2")
        count = min(len(members) - 1, max(1, round(len(members) * fraction)))
        carved.append(members[:count])
        kept.append(members[count:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(carved))


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """`folds` disjoint index arrays, each with about the same class mix (for CV)."""
    rng = np.random.default_rng(seed)
    buckets: list[list[np.ndarray]] = [[] for _ in range(folds)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        for fold, part in enumerate(np.array_split(members, folds)):
            buckets[fold].append(part)
    return [np.sort(np.concatenate(parts)) for parts in buckets]


def load_training_data(
    data_dir: Path, validation_dir: Path | None, validation_fraction: float, seed: int
) -> tuple[ImageSet, ImageSet]:
    """(train, validation) from a staged or a plain label folder; carve validation if absent."""
    staged = (data_dir / "train").is_dir()
    train_dir = data_dir / "train" if staged else data_dir
    if validation_dir is None and staged and (data_dir / "validation").is_dir():
        validation_dir = data_dir / "validation"
    train = load_folder(train_dir)
    if validation_dir is not None:
        return train, load_folder(validation_dir, require_all_classes=False)
    kept, carved = stratified_split(train.labels, validation_fraction, seed)
    return train.subset(kept), train.subset(carved)
