"""The drift job's batched image paths (add_encoded, and add_later where compiled) checked image
for image against decode_image + image_features: shared by the feature and kernel tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest

from monitoring import features, png_records

T = TypeVar("T")


def random_rows(rng: np.random.Generator, mode: str, width: int, height: int) -> bytes:
    stride = 1 + width * len(mode)
    rows = rng.integers(0, 256, (height, stride), dtype=np.uint8)
    rows[:, 0] = rng.integers(0, 5, height)  # filter types None, Sub, Up, Average, Paeth
    return rows.tobytes()


def _each_or_none(data_items: list[bytes], decode: Callable[[bytes], T]) -> list[T | None]:
    """decode per image, None where it raises ImageDecodeError."""
    out: list[T | None] = []
    for data in data_items:
        try:
            out.append(decode(data))
        except features.ImageDecodeError:
            out.append(None)
    return out


def _rows(batches: list[dict[str, np.ndarray]]) -> list[dict[str, float]]:
    return [
        {k: float(v[i]) for k, v in batch.items()}
        for batch in batches
        for i in range(len(batch["width"]))
    ]


def _reference(data_items: list[bytes]) -> list[tuple[str, dict[str, float]] | None]:
    """Per image: decode_image + image_features on a batch of one (None: undecodable)."""
    out: list[tuple[str, dict[str, float]] | None] = []
    for decoded in _each_or_none(data_items, features.decode_image):
        if decoded is None:
            out.append(None)
            continue
        array, image_format = decoded
        batch = features.image_features(array[None])
        out.append((image_format, {k: float(v[0]) for k, v in batch.items()}))
    return out


def _batched(
    data_items: list[bytes], batch_size: int = 4
) -> tuple[list[str | None], list[dict[str, float]]]:
    """The drift job's path: (format or None per image, feature rows in any order)."""
    batcher = features.ImageBatcher(batch_size=batch_size)
    added = _each_or_none(data_items, batcher.add_encoded)
    batches = [batch for item in added if item is not None for batch in item[1]]
    batches += batcher.flush()
    return [item and item[0] for item in added], _rows(batches)


def _later(
    data_items: list[bytes], batch_size: int = 4
) -> tuple[Counter[str | None], list[dict[str, float]]]:
    """The drift job's compiled path (add_later): (format counts, None: undecodable; rows)."""
    batcher = features.ImageBatcher(batch_size=batch_size)
    assert batcher.takes_later
    batches: list[dict[str, np.ndarray]] = []
    for data in data_items:
        batches += batcher.add_later(data, record_invalid=False)
    batches += batcher.flush()
    outcome = batcher.take_later_outcome()
    formats: Counter[str | None] = Counter(outcome.formats)
    if outcome.undecodable:
        formats[None] = outcome.undecodable
    assert outcome.undecodable_alone == outcome.undecodable
    return formats, _rows(batches)


def _assert_rows_match(reference: list[dict[str, float]], rows: list[dict[str, float]]) -> None:
    expected = sorted(tuple(sorted(r.items())) for r in reference)
    got = sorted(tuple(sorted(row.items())) for row in rows)
    assert len(expected) == len(got)
    for want, have in zip(expected, got, strict=True):
        for (name, a), (other, b) in zip(want, have, strict=True):
            assert name == other
            assert b == pytest.approx(a, rel=1e-5, abs=1e-4), name


def assert_same(data_items: list[bytes], batch_size: int = 4) -> None:
    """Both batched paths (add_encoded, and add_later where compiled) give, image for image, the
    format or error and the features of decode_image + image_features."""
    reference = _reference(data_items)
    formats, rows = _batched(data_items, batch_size)
    assert [r and r[0] for r in reference] == formats
    expected = [r[1] for r in reference if r is not None]
    _assert_rows_match(expected, rows)
    if png_records.AVAILABLE:
        later_formats, later_rows = _later(data_items, batch_size)
        assert Counter(r and r[0] for r in reference) == later_formats
        _assert_rows_match(expected, later_rows)
