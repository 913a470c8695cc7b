"""Write the staged dataset to a local directory, atomically.

Layout under `out/` (names are deterministic; stems come from the source, see README):
    train/<label>/<stem>.png, validation/<label>/<stem>.png, test/<label>/<stem>.png
    train.lst, validation.lst, test.lst       index<TAB>class<TAB>path relative to the split dir
                                              (indices unique across all three files)
    manifests/<split>.jsonl                   {"source-ref": ..., "class": 0|1}
    dataset_card.json                         counts, content hashes, source, seed
Everything is written into a hidden temporary directory beside `out` and renamed into place
at the end, so a failed run leaves `out` as it was (or absent), never half written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from training.data.errors import OutputError
from training.data.images import encode_png
from training.data.split import SPLITS, Splits
from training.dataset import ImageSet
from training.labels import CLASS_NAMES, IMAGE_SIZE

CARD_NAME = "dataset_card.json"
CARD_SCHEMA_VERSION = 1
MANIFEST_DIR = "manifests"


def image_path(split: str, label: int, stem: str) -> str:
    """Path of an image relative to the output root, e.g. `train/bicycle/train_00017.png`."""
    return f"{split}/{CLASS_NAMES[label]}/{stem}.png"


def source_ref(relative: str, s3_uri: str | None) -> str:
    """The manifest's `source-ref`: the S3 URI when staging to S3, else the relative path."""
    return f"{s3_uri.rstrip('/')}/{relative}" if s3_uri else relative


@contextlib.contextmanager
def atomic_directory(out: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces `out` when the block succeeds."""
    out = out.absolute()
    if out.exists() and not _is_replaceable(out):
        raise OutputError(
            f"{out} exists and is not a staged dataset (no {CARD_NAME}); refusing to replace it"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
        work.chmod(0o755)  # mkdtemp makes it private; the dataset is not a secret
    except OSError as error:
        raise OutputError(f"cannot write beside {out}: {error.strerror or error}") from error
    try:
        yield work
        old = out.with_name(f"{work.name}.old")
        if out.exists():
            out.rename(old)
        work.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(work, ignore_errors=True)
        raise OutputError(f"cannot write {out}: {error.strerror or error}") from error
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _is_replaceable(out: Path) -> bool:
    return out.is_dir() and ((out / CARD_NAME).is_file() or not any(out.iterdir()))


def _encode_split(images: ImageSet, workers: int) -> list[bytes]:
    # Pillow releases the GIL while compressing, so threads encode in parallel.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(encode_png, images.pixels, chunksize=64))


def write_dataset(
    splits: Splits,
    out: Path,
    *,
    source: dict[str, Any],
    seed: int,
    validation_fraction: float,
    s3_uri: str | None = None,
    progress: bool = True,
    workers: int = 0,
) -> dict[str, Any]:
    """Write `splits` to `out` atomically; return the dataset card (also written)."""
    workers = workers or min(8, os.cpu_count() or 1)
    files: dict[str, dict[str, str]] = {}
    split_cards: dict[str, Any] = {}
    with atomic_directory(out) as work:
        bar = tqdm(
            total=sum(len(s) for s in splits.by_name().values()),
            desc="write PNGs",
            unit="img",
            disable=not progress,
            leave=False,
        )
        # SageMaker wants .lst image indices unique across all images, so they run on across
        # splits: train 0.., then validation, then test.
        next_index = 0
        for split in SPLITS:
            images = splits.by_name()[split]
            for label in CLASS_NAMES:
                (work / split / label).mkdir(parents=True)
            lst_lines, manifest_lines, digests = [], [], []
            for index, (png, label, stem, origin) in enumerate(
                zip(
                    _encode_split(images, workers),
                    images.labels,
                    images.ids,
                    images.origins,
                    strict=True,
                ),
                start=next_index,
            ):
                relative = image_path(split, int(label), stem)
                if relative in files:  # ids must be unique per set: never overwrite an image
                    raise OutputError(f"two images would be staged as {relative}")
                (work / relative).write_bytes(png)
                digest = hashlib.sha256(png).hexdigest()
                files[relative] = {"sha256": digest, "origin": origin}
                digests.append(f"{digest}  {relative}")
                lst_lines.append(f"{index}\t{int(label)}\t{relative.split('/', 1)[1]}\n")
                ref = source_ref(relative, s3_uri)
                manifest_lines.append(json.dumps({"source-ref": ref, "class": int(label)}) + "\n")
                bar.update()
            next_index += len(images)
            (work / f"{split}.lst").write_text("".join(lst_lines))
            (work / MANIFEST_DIR).mkdir(exist_ok=True)
            (work / MANIFEST_DIR / f"{split}.jsonl").write_text("".join(manifest_lines))
            split_cards[split] = {
                "count": len(images),
                "per_label": {
                    name: int(np.sum(images.labels == index))
                    for index, name in enumerate(CLASS_NAMES)
                },
                # sha256 over sorted "<file sha256>  <path>" lines: one hash per split.
                "sha256": hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest(),
            }
        bar.close()
        card = {
            "schema_version": CARD_SCHEMA_VERSION,
            "classes": list(CLASS_NAMES),
            "image": {"format": "PNG", "mode": "RGB", "width": IMAGE_SIZE, "height": IMAGE_SIZE},
            "source": source,
            "seed": seed,
            "validation_fraction": validation_fraction,
            "s3_uri": s3_uri,
            "splits": split_cards,
            "duplicates_dropped": splits.duplicates,
            "content_sha256": hashlib.sha256(
                "\n".join(f"{files[p]['sha256']}  {p}" for p in sorted(files)).encode()
            ).hexdigest(),
            "files": dict(sorted(files.items())),
        }
        (work / CARD_NAME).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card
