"""Reading sources: the CIFAR-100 archive format, image folders, and every kind of bad input."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.errors import (
    ArchiveFormatError,
    ChecksumError,
    ImageFolderError,
    NoTargetLabelsError,
    SourceError,
)
from training.data.sources import read_cifar100_archive, read_image_folder, resolve_source
from training.data.synthetic import make_meta, make_pickles, write_archive


def archive_with(tmp_path: Path, **pickles: object) -> Path:
    path = tmp_path / "custom.tar.gz"
    write_archive(path, pickles)
    return path


def tiny_pickles() -> dict[str, dict]:
    return make_pickles(train_per_class=3, test_per_class=2, seed=5)


def test_archive_keeps_only_bicycles_and_motorcycles(small_archive):
    data = read_cifar100_archive(small_archive[0])
    assert len(data.train) == 100 and len(data.test) == 20
    assert np.bincount(data.train.labels).tolist() == [50, 50]
    assert data.train.pixels.shape == (100, 32, 32, 3) and data.train.pixels.dtype == np.uint8
    assert all(i.startswith("train_") for i in data.train.ids)
    assert all(o.startswith("cifar-100-python/test#") for o in data.test.origins)


def test_archive_rows_become_rgb_pixels_with_ids_from_row_numbers(tmp_path):
    pickles = tiny_pickles()
    train = pickles["train"]
    row = train[b"fine_labels"].index(48)
    plane = np.arange(1024, dtype=np.uint32)
    train[b"data"][row] = np.concatenate([plane % 256, (plane // 4) % 256, np.full(1024, 7)])
    data = read_cifar100_archive(archive_with(tmp_path, **pickles))
    position = data.train.ids.index(f"train_{row:05d}")
    image = data.train.pixels[position]
    assert data.train.labels[position] == 1
    # red plane is row-major: pixel (y=1, x=2) holds value 1*32+2
    assert image[1, 2].tolist() == [34, 8, 7]
    assert image[0, 31].tolist() == [31, 7, 7]


def test_python2_style_protocol_2_pickles_are_read(tmp_path):
    pickles = tiny_pickles()
    path = tmp_path / "p2.tar.gz"
    write_archive(path, pickles, protocol=2)
    assert len(read_cifar100_archive(path).train) == 6


def test_string_keys_are_accepted_like_bytes_keys(tmp_path):
    pickles = tiny_pickles()
    train = {key.decode(): value for key, value in pickles["train"].items()}
    data = read_cifar100_archive(
        archive_with(tmp_path, train=train, test=pickles["test"], meta=pickles["meta"])
    )
    assert len(data.train) == 6


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_archive_is_a_clear_error(small_archive, tmp_path, cut):
    data = small_archive[0].read_bytes()
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ArchiveFormatError, match=r"corrupt or truncated|unreadable"):
        read_cifar100_archive(truncated)


def test_not_an_archive_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.tar.gz"
    path.write_bytes(b"this is not gzip" * 100)
    with pytest.raises(ArchiveFormatError, match="corrupt or truncated"):
        read_cifar100_archive(path)


def test_gzip_that_is_not_a_tar_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.tar.gz"
    path.write_bytes(gzip.compress(b"x" * 5000))
    with pytest.raises(ArchiveFormatError):
        read_cifar100_archive(path)


def test_archive_without_meta_names_the_missing_file(tmp_path):
    pickles = tiny_pickles()
    path = archive_with(tmp_path, train=pickles["train"], test=pickles["test"])
    with pytest.raises(ArchiveFormatError, match="no meta"):
        read_cifar100_archive(path)


@pytest.mark.parametrize("key", [b"data", b"fine_labels"])
def test_archive_without_expected_key_names_it(tmp_path, key):
    pickles = tiny_pickles()
    del pickles["train"][key]
    with pytest.raises(ArchiveFormatError, match=key.decode()):
        read_cifar100_archive(archive_with(tmp_path, **pickles))


def test_archive_with_wrong_data_shape_is_refused(tmp_path):
    pickles = tiny_pickles()
    pickles["test"][b"data"] = pickles["test"][b"data"][:, :100]
    with pytest.raises(ArchiveFormatError, match="expected uint8"):
        read_cifar100_archive(archive_with(tmp_path, **pickles))


def test_archive_with_other_label_names_is_not_cifar100(tmp_path):
    pickles = tiny_pickles()
    meta = make_meta()
    meta[b"fine_label_names"][8] = b"bottle"
    pickles["meta"] = meta
    with pytest.raises(ArchiveFormatError, match="fine label 8 is 'bottle'"):
        read_cifar100_archive(archive_with(tmp_path, **pickles))


def test_archive_without_target_labels_is_a_typed_error(tmp_path):
    pickles = make_pickles(train_per_class=0, test_per_class=0, seed=2)
    with pytest.raises(NoTargetLabelsError, match="fine label 8 or 48"):
        read_cifar100_archive(archive_with(tmp_path, **pickles))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))

    pickles = tiny_pickles()
    payload = pickle.dumps({b"data": Exploit()}, protocol=2)
    path = archive_with(tmp_path, train=payload, test=pickles["test"], meta=pickles["meta"])
    with pytest.raises(ArchiveFormatError, match=r"builtins\.print, which is not allowed"):
        read_cifar100_archive(path)


def test_wrong_checksum_of_local_archive(small_archive, tmp_path):
    with pytest.raises(ChecksumError, match=r"expected 0{32}"):
        resolve_source(str(small_archive[0]), cache_dir=tmp_path, md5="0" * 32)


def test_right_checksum_of_local_archive_is_recorded(small_archive, tmp_path):
    path, md5 = small_archive
    data = resolve_source(str(path), cache_dir=tmp_path, md5=md5)
    assert data.description["md5"] == md5 and data.description["kind"] == "cifar100-archive"


def test_unknown_source_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="neither"):
        resolve_source(str(tmp_path / "nope"), cache_dir=tmp_path)


# --------------------------------------------------------------------------- image folders


def test_image_folder_by_label_name(image_folder):
    root = image_folder({"bicycle": 3, "motorcycle": 2})
    data = read_image_folder(root, progress=False)
    assert data.train.labels.tolist() == [0, 0, 0, 1, 1]
    assert data.train.ids[0] == "bicycle_000" and len(data.test) == 0


@pytest.mark.parametrize("names", [("0", "1"), ("Bicycle", "MOTORCYCLE")])
def test_image_folder_numeric_or_capitalised_label_dirs(image_folder, names):
    root = image_folder({names[0]: 2, names[1]: 2})
    assert read_image_folder(root, progress=False).train.labels.tolist() == [0, 0, 1, 1]


def test_image_folder_with_train_and_test_subfolders(image_folder, tmp_path):
    root = tmp_path / "split"
    image_folder({"bicycle": 2, "motorcycle": 2}, root=root / "train", seed=1)
    image_folder({"bicycle": 1, "motorcycle": 1}, root=root / "test", seed=2)
    data = read_image_folder(root, progress=False)
    assert (len(data.train), len(data.test)) == (4, 2)


def test_rgba_jpeg_and_large_images_become_32x32_rgb(tmp_path):
    root = tmp_path / "mixed"
    (root / "bicycle").mkdir(parents=True)
    (root / "motorcycle").mkdir()
    Image.new("RGBA", (32, 32), (10, 20, 30, 255)).save(root / "bicycle" / "a.png")
    Image.new("RGB", (200, 100), (200, 0, 0)).save(root / "motorcycle" / "a.jpg", quality=95)
    data = read_image_folder(root, progress=False)
    assert data.train.pixels.shape == (2, 32, 32, 3)
    assert data.train.pixels[0, 0, 0].tolist() == [10, 20, 30]
    assert abs(int(data.train.pixels[1, 16, 16, 0]) - 200) < 8
    assert data.train.ids == ["a", "a_jpg"]


def test_unknown_label_directory_is_named(image_folder):
    root = image_folder({"bicycle": 1, "motorcycle": 1, "truck": 1})
    with pytest.raises(ImageFolderError, match="truck"):
        read_image_folder(root, progress=False)


def test_unreadable_image_is_named(image_folder):
    root = image_folder({"bicycle": 1, "motorcycle": 1})
    bad = root / "motorcycle" / "broken.png"
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, format="PNG")
    bad.write_bytes(png.getvalue()[:40])
    with pytest.raises(ImageFolderError, match=r"broken\.png"):
        read_image_folder(root, progress=False)


def test_non_image_file_is_named(image_folder):
    root = image_folder({"bicycle": 1, "motorcycle": 1})
    (root / "bicycle" / "notes.txt").write_text("hello")
    with pytest.raises(ImageFolderError, match=r"notes\.txt"):
        read_image_folder(root, progress=False)


def test_image_with_wrong_content_type_is_refused(image_folder):
    root = image_folder({"bicycle": 1, "motorcycle": 1})
    Image.new("RGB", (32, 32)).save(root / "bicycle" / "gif_in_disguise.png", format="GIF")
    with pytest.raises(ImageFolderError, match="GIF images are not supported"):
        read_image_folder(root, progress=False)


def test_hidden_files_are_ignored(image_folder):
    root = image_folder({"bicycle": 1, "motorcycle": 1})
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "bicycle" / ".thumbs").write_bytes(b"\0")
    assert len(read_image_folder(root, progress=False).train) == 2


def test_empty_folder_has_no_target_labels(tmp_path):
    (tmp_path / "empty" / "bicycle").mkdir(parents=True)
    with pytest.raises(NoTargetLabelsError):
        read_image_folder(tmp_path / "empty", progress=False)


def test_names_that_would_collide_are_both_kept_and_reported(tmp_path):
    root = tmp_path / "collide"
    (root / "bicycle").mkdir(parents=True)
    (root / "motorcycle").mkdir()
    Image.new("RGB", (32, 32)).save(root / "bicycle" / "a b.png")
    Image.new("RGB", (32, 32), (1, 1, 1)).save(root / "bicycle" / "a_b.png")
    Image.new("RGB", (32, 32), (2, 2, 2)).save(root / "bicycle" / "a_b_2.png")  # a taken name
    data = read_image_folder(root, progress=False)
    assert sorted(data.train.ids) == ["a_b", "a_b_2", "a_b_3"]
    assert data.description["name_collisions"] == {
        "count": 1,
        "renamed": [
            {
                "file": "collide/bicycle/a_b.png",
                "clashed_with": "collide/bicycle/a b.png",
                "staged_as": "bicycle/a_b_3",
            }
        ],
    }


def test_image_with_too_many_pixels_is_refused_before_decoding(image_folder):
    root = image_folder({"bicycle": 1, "motorcycle": 1})
    Image.new("1", (9000, 6000)).save(root / "motorcycle" / "huge.png")
    with pytest.raises(ImageFolderError, match=r"huge\.png: 9000x6000 is above the pixel limit"):
        read_image_folder(root, progress=False)
    (root / "motorcycle" / "huge.png").unlink()
    Image.new("1", (5000, 4000)).save(root / "motorcycle" / "flat.png")  # 20 MP in a few KB
    with pytest.raises(ImageFolderError, match=r"flat\.png: .* pixels per byte"):
        read_image_folder(root, progress=False)


def test_oversized_file_is_refused_without_reading_it(image_folder):
    root = image_folder({"bicycle": 1, "motorcycle": 1})
    with (root / "bicycle" / "big.png").open("wb") as handle:
        handle.truncate(21 * 1024 * 1024)
    with pytest.raises(ImageFolderError, match=r"big\.png: .* byte limit"):
        read_image_folder(root, progress=False)
