"""The one `ImageSet`: training's folder loader fills the same class staging reads sources into,
with the pixels the earlier (channels-first) loader produced."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serving.inference import decode_image, image_to_array
from tests.training.tiny import write_label_folder
from training.data.images import decode_image as staging_decode
from training.dataset import ImageSet, load_folder


def test_a_loaded_folder_keeps_pixels_ids_and_origins(tmp_path: Path) -> None:
    folder = write_label_folder(tmp_path / "data", per_class=3, seed=4)
    images = load_folder(folder)
    files = sorted(folder.glob("*/*.png"))
    assert images.ids == [str(path.relative_to(folder)) for path in files]
    assert images.origins == [str(path) for path in files]
    assert images.labels.tolist() == [0, 0, 0, 1, 1, 1] and images.labels.dtype == np.int64
    assert images.pixels.shape == (6, 32, 32, 3) and images.pixels.dtype == np.uint8
    for index, path in enumerate(files):
        data = path.read_bytes()
        np.testing.assert_array_equal(images.pixels[index], staging_decode(data))
        # what training fed the networks before there was one ImageSet
        np.testing.assert_array_equal(
            images.channels_first[index], image_to_array(decode_image(data))
        )


def test_channels_first_is_the_networks_layout() -> None:
    pixels = np.arange(2 * 32 * 32 * 3, dtype=np.uint64).reshape(2, 32, 32, 3).astype(np.uint8)
    images = ImageSet(pixels, np.array([0, 1]), ["a", "b"], ["x/a", "x/b"])
    first = images.channels_first
    assert first.shape == (2, 3, 32, 32) and first.flags.c_contiguous
    assert first[1, 2, 5, 7] == pixels[1, 5, 7, 2]


def test_subset_keeps_every_field_aligned(tmp_path: Path) -> None:
    images = load_folder(write_label_folder(tmp_path, per_class=2, seed=5))
    part = images.subset(np.array([3, 0]))
    assert part.ids == [images.ids[3], images.ids[0]]
    assert part.origins == [images.origins[3], images.origins[0]]
    assert part.labels.tolist() == [1, 0]
    np.testing.assert_array_equal(part.pixels, images.pixels[[3, 0]])
    assert part.class_counts() == {"bicycle": 1, "motorcycle": 1}


def test_the_empty_set_has_the_shapes_of_a_full_one() -> None:
    empty = ImageSet.empty()
    assert len(empty) == 0 and empty.channels_first.shape == (0, 3, 32, 32)
    assert empty.class_counts() == {"bicycle": 0, "motorcycle": 0}
