"""Fuzzed bad input: whatever the bytes, readers raise their typed error (or succeed)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import images
from training.data.errors import ArchiveFormatError, NoTargetLabelsError
from training.data.images import ImageDecodeError, decode_image
from training.data.sources import read_cifar100_archive
from training.data.synthetic import make_pickles, write_archive

PNG = images.seeded(0, noise=True)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2000))
def test_random_bytes_are_never_an_image(data):
    with pytest.raises(ImageDecodeError):
        decode_image(data)


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, len(PNG) - 1), value=st.integers(0, 255), cut=st.booleans())
def test_damaged_png_decodes_or_raises_the_typed_error(position, value, cut):
    damaged = bytearray(PNG[:position] if cut else PNG)
    if not cut:
        damaged[position] = value
    try:
        pixels = decode_image(bytes(damaged))
    except ImageDecodeError:
        return
    assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8


@pytest.fixture(scope="module")
def tiny_archive_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "a.tar.gz"
        write_archive(path, make_pickles(train_per_class=2, test_per_class=1), compresslevel=0)
        return path.read_bytes()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_archive_reads_or_raises_the_typed_error(tiny_archive_bytes, tmp_path, data):
    damaged = bytearray(tiny_archive_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    path = tmp_path / "damaged.tar.gz"
    path.write_bytes(bytes(damaged))
    with contextlib.suppress(ArchiveFormatError, NoTargetLabelsError):
        read_cifar100_archive(path)
