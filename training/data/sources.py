"""Read labelled images from a source: the CIFAR-100 python archive or an image folder.

A source yields two `ImageSet`s, `train` and `test` (the source's own splits), holding only the
target classes (bicycle, motorcycle) as 32x32 RGB pixels with stable, unique ids.
"""

from __future__ import annotations

import _compat_pickle
import hashlib
import importlib
import pickle
import re
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from tqdm import tqdm

from training.data.errors import (
    ArchiveFormatError,
    ChecksumError,
    DownloadError,
    ImageFolderError,
    NoTargetLabelsError,
    SourceError,
)
from training.data.images import ImageDecodeError, decode_image_file
from training.dataset import ImageSet
from training.labels import CIFAR100_FINE_TO_CLASS, CLASS_INDEX, CLASS_NAMES, IMAGE_SIZE

CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
# Published with the archive (also torchvision's `tgz_md5`).
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
CIFAR100_FILENAME = "cifar-100-python.tar.gz"
CIFAR100_SOURCE_NAME = "cifar100"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE * 3


@dataclass(frozen=True)
class SourceData:
    train: ImageSet
    test: ImageSet
    description: dict[str, Any] = field(default_factory=dict)  # goes into the dataset card


# --------------------------------------------------------------------------- download


def file_digests(path: Path) -> dict[str, str]:
    """MD5 (what CIFAR publishes) and SHA-256 of a file, in one pass."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()  # noqa: S324 - MD5 only to match the publisher
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def is_reachable(url: str, timeout: float = 3.0) -> bool:
    """True when a HEAD request to `url` answers within `timeout` seconds (DNS included)."""
    answered = threading.Event()

    def probe() -> None:
        request = urllib.request.Request(url, method="HEAD")  # noqa: S310 - http(s) by callers
        try:
            with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
                answered.set()
        except (OSError, ValueError, RuntimeError):
            # RuntimeError: the test suite's network guard refuses non-loopback addresses.
            pass

    # A thread, because name resolution ignores the socket timeout and can hang offline.
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return answered.is_set()


def download(
    url: str,
    dest: Path,
    expected_md5: str | None,
    *,
    retries: int = 4,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    progress: bool = True,
) -> Path:
    """Stream `url` into `dest` (atomically), verifying its MD5; reuse a verified `dest`.

    Network failures are retried with exponential backoff; a checksum mismatch is not (the
    server sent complete but wrong bytes) and deletes the download.
    """
    if not url.startswith(("https://", "http://")):
        raise SourceError(f"cannot download {url!r}: only http(s) URLs are supported")
    if dest.is_file() and expected_md5 and file_digests(dest)["md5"] == expected_md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            md5 = _stream_to_file(url, partial, timeout_s, progress)
            break
        except urllib.error.HTTPError as error:
            partial.unlink(missing_ok=True)
            if error.code < 500 and error.code != 429:  # a client error will not go away
                raise DownloadError(f"could not download {url}: HTTP {error.code}") from error
            last_error = error
        except (OSError, RuntimeError) as error:
            last_error = error
            partial.unlink(missing_ok=True)
    else:
        raise DownloadError(f"could not download {url} after {retries + 1} tries: {last_error}")
    if expected_md5 and md5 != expected_md5:
        partial.unlink(missing_ok=True)
        raise ChecksumError(f"{url} has MD5 {md5}, expected {expected_md5}: refusing to use it")
    partial.replace(dest)
    return dest


def _stream_to_file(url: str, target: Path, timeout_s: float, progress: bool) -> str:
    md5 = hashlib.md5()  # noqa: S324 - the archive's published checksum is an MD5
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
        total = int(response.headers.get("Content-Length") or 0) or None
        with (
            target.open("wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=f"download {url.rsplit('/', 1)[-1]}",
                disable=not progress,
            ) as bar,
        ):
            received = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                md5.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise OSError(f"connection closed after {received} of {total} bytes")
    return md5.hexdigest()


# --------------------------------------------------------------------------- CIFAR-100 archive

# The archive's pickles (Python 2, numpy arrays) may reference only these globals; anything
# else would let a crafted archive run code on unpickling.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Python 2 pickles name modules the old way (copy_reg, __builtin__).
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) not in _ALLOWED_GLOBALS:
            raise ArchiveFormatError(f"pickle references {module}.{name}, which is not allowed")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.removeprefix("numpy.core.")  # numpy 2 moved it
        return getattr(importlib.import_module(module), name)


def _load_pickle(stream: IO[bytes], member: str) -> dict[str, Any]:
    value = _RestrictedUnpickler(stream, encoding="bytes").load()
    if not isinstance(value, dict):
        raise ArchiveFormatError(f"{member} is not a pickled dict")
    return {key.decode() if isinstance(key, bytes) else str(key): v for key, v in value.items()}


def read_cifar100_pickles(path: Path) -> dict[str, dict[str, Any]]:
    """The `train`, `test` and `meta` pickles, read from the gzip tar stream in one pass."""
    wanted = {"train", "test", "meta"}
    found: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(path, mode="r|gz") as archive:
            for member in archive:
                name = member.name.rsplit("/", 1)[-1]
                if name not in wanted or not member.isfile():
                    continue
                if name in found:
                    raise ArchiveFormatError(f"{path} holds more than one '{name}' file")
                stream = archive.extractfile(member)
                if stream is None:
                    raise ArchiveFormatError(f"{path}: cannot read {member.name}")
                found[name] = _load_pickle(stream, member.name)
    except ArchiveFormatError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ArchiveFormatError(f"{path} is corrupt or truncated ({error})") from error
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ArchiveFormatError(f"{path} holds an unreadable pickle ({error})") from error
    except MemoryError as error:
        # A damaged length or array shape in a pickle asks for an impossible allocation.
        raise ArchiveFormatError(
            f"{path} holds a pickle declaring an impossibly large object"
        ) from error
    missing = sorted(wanted - found.keys())
    if missing:
        raise ArchiveFormatError(
            f"{path} is not a CIFAR-100 python archive: no {', '.join(missing)} file(s) found"
        )
    return found


def _check_meta(meta: dict[str, Any], path: Path) -> None:
    names = meta.get("fine_label_names")
    if not isinstance(names, list):
        raise ArchiveFormatError(f"{path}: meta has no 'fine_label_names' list")
    decoded = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    for fine, class_index in CIFAR100_FINE_TO_CLASS.items():
        expected = CLASS_NAMES[class_index]
        actual = decoded[fine] if fine < len(decoded) else None
        if actual != expected:
            raise ArchiveFormatError(
                f"{path}: fine label {fine} is {actual!r}, expected {expected!r}: "
                "not the CIFAR-100 label set"
            )


def _select_targets(batch: dict[str, Any], split: str, path: Path) -> ImageSet:
    for key in ("data", "fine_labels"):
        if key not in batch:
            raise ArchiveFormatError(f"{path}: '{split}' has no '{key}' key")
    data = np.asarray(batch["data"])
    fine = np.asarray(batch["fine_labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS_PER_IMAGE:
        raise ArchiveFormatError(
            f"{path}: '{split}' data is {data.dtype} {data.shape}, expected uint8 (N, 3072)"
        )
    if fine.shape != (data.shape[0],) or not np.issubdtype(fine.dtype, np.integer):
        raise ArchiveFormatError(f"{path}: '{split}' fine_labels do not match the data rows")
    filenames = batch.get("filenames")
    if filenames is not None and len(filenames) != data.shape[0]:
        raise ArchiveFormatError(f"{path}: '{split}' filenames do not match the data rows")
    fine_targets = np.array(sorted(CIFAR100_FINE_TO_CLASS), dtype=fine.dtype)
    rows = np.flatnonzero(np.isin(fine, fine_targets))
    lookup = np.zeros(int(fine_targets.max()) + 1, dtype=np.int64)
    for fine_label, class_index in CIFAR100_FINE_TO_CLASS.items():
        lookup[fine_label] = class_index
    # Rows are 1024 red, 1024 green, 1024 blue values, each a row-major 32x32 plane.
    pixels = data[rows].reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    origins = []
    for row in rows:
        name = filenames[row] if filenames is not None else b""
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        origins.append(f"cifar-100-python/{split}#{row} {name}".rstrip())
    return ImageSet(
        pixels=np.ascontiguousarray(pixels),
        labels=lookup[fine[rows]],
        ids=[f"{split}_{row:05d}" for row in rows],
        origins=origins,
    )


def read_cifar100_archive(path: Path) -> SourceData:
    """Bicycles and motorcycles of a CIFAR-100 python archive (`.tar.gz`)."""
    if not path.is_file():
        raise SourceError(f"archive {path} does not exist")
    pickles = read_cifar100_pickles(path)
    _check_meta(pickles["meta"], path)
    train = _select_targets(pickles["train"], "train", path)
    test = _select_targets(pickles["test"], "test", path)
    if len(train) + len(test) == 0:
        fine = sorted(CIFAR100_FINE_TO_CLASS)
        raise NoTargetLabelsError(f"{path} has no image with fine label {fine[0]} or {fine[1]}")
    return SourceData(train=train, test=test)


# --------------------------------------------------------------------------- image folder

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def label_of_dir(name: str) -> int | None:
    """Class index of a label directory: a class name (`bicycle`, any case) or index (`0`)."""
    if name.lower() in CLASS_INDEX:
        return CLASS_INDEX[name.lower()]
    if name.isdigit() and int(name) < len(CLASS_NAMES):
        return int(name)
    return None


def _stem_for(path: Path) -> str:
    stem = _UNSAFE_CHARS.sub("_", path.stem) or "image"
    suffix = path.suffix.lower()
    # Keep the original extension in the name when it is not PNG, so a.png and a.jpg differ.
    return stem if suffix == ".png" else f"{stem}_{suffix.lstrip('.')}"


def _unique_stem(stem: str, taken: set[str]) -> str:
    number = 2
    while f"{stem}_{number}" in taken:
        number += 1
    return f"{stem}_{number}"


def read_label_folder(
    root: Path, *, progress: bool = True, collisions: list[dict[str, str]] | None = None
) -> ImageSet:
    """Images of `root/<label>/*` with label a class name or index; hidden files are ignored.

    Two files that would be staged under one name (`0/a.png` and `bicycle/a.png`, or `a b.png`
    and `a_b.png`) are both kept: the later one gets a numbered stem (`a_2`), and each such
    renaming is appended to `collisions` (for the dataset card); nothing is overwritten."""
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    stray = [p.name for p in entries if not p.is_dir()]
    unknown = [p.name for p in entries if p.is_dir() and label_of_dir(p.name) is None]
    if stray or unknown:
        raise ImageFolderError(
            f"{root}: expected only label directories {list(CLASS_NAMES)} (or 0/1), "
            f"found {sorted(unknown + stray)}"
        )
    candidates: list[tuple[Path, int, str]] = []
    for label_dir in entries:
        label = label_of_dir(label_dir.name)
        assert label is not None
        for path in sorted(label_dir.iterdir()):
            if path.name.startswith("."):
                continue
            if path.is_dir():
                raise ImageFolderError(f"{path}: a directory inside a label directory")
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ImageFolderError(f"{path}: not a .png/.jpg/.jpeg file")
            candidates.append((path, label, _stem_for(path)))
    # Names are unique per label across alias folders (`0/` and `bicycle/` both stage to
    # `bicycle/`); the natural stems are reserved first so a renamed file never takes one.
    taken = {f"{CLASS_NAMES[label]}/{stem}" for _, label, stem in candidates}
    first: dict[str, Path] = {}
    files: list[tuple[Path, int, str]] = []
    for path, label, natural in candidates:
        key = f"{CLASS_NAMES[label]}/{natural}"
        if key not in first:
            first[key] = path
            files.append((path, label, natural))
            continue
        renamed = _unique_stem(key, taken)
        taken.add(renamed)
        if collisions is not None:
            collisions.append(
                {
                    "file": str(path.relative_to(root.parent)),
                    "clashed_with": str(first[key].relative_to(root.parent)),
                    "staged_as": renamed,
                }
            )
        files.append((path, label, renamed.split("/", 1)[1]))
    if not files:
        return ImageSet.empty()
    pixels = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for index, (path, _, _) in enumerate(
        tqdm(files, desc=f"read {root.name}", unit="img", disable=not progress, leave=False)
    ):
        try:
            pixels[index] = decode_image_file(path)
        except (ImageDecodeError, OSError) as error:
            raise ImageFolderError(f"{path}: {error}") from error
    return ImageSet(
        pixels=pixels,
        labels=np.array([label for _, label, _ in files], dtype=np.int64),
        ids=[stem for _, _, stem in files],
        origins=[str(path.relative_to(root.parent)) for path, _, _ in files],
    )


def read_image_folder(root: Path, *, progress: bool = True) -> SourceData:
    """An image folder: `root/<label>/*`, or `root/train/<label>/*` plus `root/test/<label>/*`.

    Without a `train/` subfolder the whole folder is the train split and the test split is
    empty (test images never come from the train split).
    """
    collisions: list[dict[str, str]] = []
    if (root / "train").is_dir():
        extra = sorted(
            p.name
            for p in root.iterdir()
            if not p.name.startswith(".") and p.name not in {"train", "test"}
        )
        if extra:
            raise ImageFolderError(f"{root}: expected only train/ and test/, found {extra}")
        train = read_label_folder(root / "train", progress=progress, collisions=collisions)
        test_dir = root / "test"
        test = (
            read_label_folder(test_dir, progress=progress, collisions=collisions)
            if test_dir.is_dir()
            else None
        )
    else:
        train, test = read_label_folder(root, progress=progress, collisions=collisions), None
    if len(train) == 0 and (test is None or len(test) == 0):
        raise NoTargetLabelsError(f"{root} holds no images under {list(CLASS_NAMES)}")
    return SourceData(
        train=train,
        test=test if test is not None else ImageSet.empty(),
        description={"name_collisions": {"count": len(collisions), "renamed": collisions}},
    )


# --------------------------------------------------------------------------- dispatch


def resolve_source(
    source: str,
    *,
    cache_dir: Path,
    md5: str | None = None,
    progress: bool = True,
    downloader: Callable[..., Path] = download,
) -> SourceData:
    """Read `source`: `cifar100`, an http(s) URL or local path of the archive, or a folder."""
    if source == CIFAR100_SOURCE_NAME or source.startswith(("https://", "http://")):
        location = CIFAR100_URL if source == CIFAR100_SOURCE_NAME else source
        md5 = md5 or (CIFAR100_MD5 if location == CIFAR100_URL else None)
        archive = downloader(
            location, cache_dir / location.rsplit("/", 1)[-1], md5, progress=progress
        )
    else:
        archive = Path(source)
        location = str(archive)
        if archive.is_dir():
            data = read_image_folder(archive, progress=progress)
            description = {"kind": "image-folder", "location": location, **data.description}
            return SourceData(data.train, data.test, description)
        if not archive.is_file():
            raise SourceError(
                f"source {source!r} is neither '{CIFAR100_SOURCE_NAME}', an http(s) URL, "
                "an existing archive nor an image folder"
            )
    # Hash on a second core while the main thread decompresses (hashlib releases the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(file_digests, archive)
        try:
            data = read_cifar100_archive(archive)
        finally:
            digests = hashing.result()
            if md5 and digests["md5"] != md5:
                raise ChecksumError(f"{archive} has MD5 {digests['md5']}, expected {md5}")
    description = {"kind": "cifar100-archive", "location": location, **digests}
    return SourceData(train=data.train, test=data.test, description=description)


def merge_sources(parts: list[SourceData]) -> SourceData:
    """Several sources staged as one: their train splits together, their test splits together
    (pixel duplicates across them are dropped when splitting, as within one source)."""
    if len(parts) == 1:
        return parts[0]
    seen: dict[str, int] = {}
    for index, part in enumerate(parts):
        for image_id in part.train.ids + part.test.ids:
            if image_id in seen and seen[image_id] != index:
                raise SourceError(
                    f"image id {image_id!r} comes from two sources ({seen[image_id] + 1} and "
                    f"{index + 1}); rename one of the files"
                )
            seen[image_id] = index
    return SourceData(
        train=ImageSet.concatenate([part.train for part in parts]),
        test=ImageSet.concatenate([part.test for part in parts]),
        description={"kind": "merged", "sources": [part.description for part in parts]},
    )
