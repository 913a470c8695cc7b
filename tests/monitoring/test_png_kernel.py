"""The compiled statistics (numba) agree with the numpy reference, and the fallback still works."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring import features, png_kernel, png_records
from tests import images
from tests.monitoring import batched_paths, synthetic

STATISTIC_NAMES = features.IMAGE_NUMERIC[: png_kernel.STATISTICS]


def _reference(batch: np.ndarray) -> np.ndarray:
    named = features.image_features(batch)
    return np.stack([named[name] for name in STATISTIC_NAMES], axis=1)


def _assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_compiled_path_is_used_where_numba_is_installed():
    # numba comes with the [fast] extra: where it is installed, losing the compiled path silently
    # would multiply the cost by ~2.5 (tests/devkit/test_lock.py: the dev lock installs it)
    disabled = os.environ.get("MONITORING_NO_NUMBA", "") not in ("", "0")
    installed = importlib.util.find_spec("numba") is not None
    assert (installed and not disabled) == png_kernel.AVAILABLE
    # ... and the whole-record path, which also needs libdeflate's C API from `deflate`
    with_deflate = importlib.util.find_spec("deflate") is not None
    assert (png_kernel.AVAILABLE and with_deflate) == png_records.AVAILABLE


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA"]),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    count=st.integers(1, 5),
)
def test_png_statistics_equal_numpy_on_every_filter_type(seed, mode, width, height, count):
    rng = np.random.default_rng(seed)
    rows = [batched_paths.random_rows(rng, mode, width, height) for _ in range(count)]
    want = _reference(features.unfilter_png_rows(mode, width, height, rows))
    _assert_close(png_kernel.png_statistics(len(mode), width, height, rows), want)


@pytest.mark.parametrize("save", [{"compress_level": 9}, {"optimize": True}, {"compress_level": 0}])
@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_png_statistics_of_pillow_encoded_photos(mode, save):
    rng = np.random.default_rng(3)
    items = [images.encode(synthetic.scene(rng, 48), mode=mode, **save) for _ in range(4)]
    parsed = [features.png_rows(data) for data in items]
    assert all(found is not None for found in parsed)
    rows = [found[3] for found in parsed if found is not None]
    want = _reference(features.unfilter_png_rows(mode, 48, 48, rows))
    _assert_close(png_kernel.png_statistics(len(mode), 48, 48, rows), want)


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 9), (9, 1), (2, 2), (3, 3), (15, 16), (16, 16), (17, 40), (64, 48)]
)
def test_pixel_statistics_equal_numpy(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    batch = rng.integers(0, 256, (3, *shape, 3), dtype=np.uint8)
    batch[1] = 128  # flat image: zero contrast, sharpness and gradients
    _assert_close(png_kernel.pixel_statistics(batch), _reference(batch))


def test_png_statistics_refuse_a_bad_filter_type():
    rows = bytearray(batched_paths.random_rows(np.random.default_rng(1), "RGB", 4, 4))
    rows[0] = 5
    if png_kernel.AVAILABLE:  # (the pure-Python fallback is never called with bad rows)
        with pytest.raises(ValueError, match="filter type"):
            png_kernel.png_statistics(3, 4, 4, [bytes(rows)])


def test_batcher_without_numba_gives_the_same_features(monkeypatch):
    rng = np.random.default_rng(8)
    items = [
        images.png_from_rows(mode, 16, 12, batched_paths.random_rows(rng, mode, 16, 12))
        for mode in ("L", "LA", "RGB", "RGBA")
        for _ in range(3)
    ] + [images.encode(synthetic.scene(rng, 20), mode="P"), b"not an image"]
    batched_paths.assert_same(items, batch_size=2)
    monkeypatch.setattr(png_kernel, "AVAILABLE", False)
    batched_paths.assert_same(items, batch_size=2)
