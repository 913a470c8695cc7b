"""A staging source of the reviewers' answers: the label records under `labels/`, with their images.

`labels:s3://bucket/labels/` (or `labels:DIR`, records read offline) yields every image a human
labelled `bicycle` or `motorcycle` as training data, through the contract's one image
preparation, so retraining sees the pixels the endpoint saw. What is left out, and why:

- `routed` records: the model's own answer, never checked. Training on them would teach the
  model its mistakes at full confidence.
- `not_a_vehicle` answers: not a class the model has.
- malformed records, and images that are missing, unreadable or over the size limit.

Each is counted in the dataset card (with a few examples), never silently dropped, and never
fatal: one bad line must not stop a retraining built from thousands. An image labelled twice
(two records of one inference id) keeps its latest answer.

A share of the labelled images is held out as test images (`split_held_out`), chosen by a hash
of the inference id: the same image is held out in every retraining, so no model this pipeline
trains learns from it, and every comparison with the deployed model includes real traffic.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from lambdas.shared.errors import InvalidLabelRecord
from lambdas.shared.label_record import LabelRecord
from training.data.errors import NoTargetLabelsError, S3StagingError, SourceError
from training.data.images import MAX_IMAGE_BYTES, ImageDecodeError, decode_image
from training.data.s3 import DEFAULT_WORKERS, make_client, parse_s3_uri
from training.dataset import ImageSet
from training.labels import CLASS_INDEX, IMAGE_SIZE

PREFIX = "labels:"
# One record is a few hundred bytes; an export may gather many into one object. Bounded, so a
# stray large object under the prefix cannot take the machine's memory.
MAX_RECORD_BYTES = 16 * 1024 * 1024
EXAMPLES_KEPT = 5


class _Skip(Exception):
    """One record or image left out, with the card's reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class RecordStore:
    """Where the records live: an S3 prefix or a local folder of `*.jsonl`."""

    def __init__(self, location: str, client: Any) -> None:
        self.location = location
        self.client = client
        self.s3 = parse_s3_uri(location) if location.startswith("s3://") else None
        if self.s3 is None and not Path(location).is_dir():
            raise SourceError(f"label records {location!r}: not an s3:// prefix or a folder")

    def objects(self, workers: int = DEFAULT_WORKERS) -> Iterator[tuple[str, bytes | _Skip]]:
        """(where, body) of every record file, or a `_Skip` for one that cannot be had; S3
        objects are fetched on `workers` threads (one record per object: thousands of GETs)."""
        if self.s3 is None:
            for path in sorted(Path(self.location).rglob("*.jsonl")):
                yield str(path), path.read_bytes()
            return
        bucket, prefix = self.s3.bucket, f"{self.s3.prefix}/" if self.s3.prefix else ""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            entries = [e for page in pages for e in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as error:
            raise SourceError(
                f"cannot list label records under {self.location}: {error}"
            ) from error

        def fetch(key: str) -> bytes | _Skip:
            try:
                return self._get(bucket, key)
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                if code in {"404", "NoSuchKey", "NotFound"}:  # expired since the listing
                    return _Skip("missing_record", f"s3://{bucket}/{key}: no such object")
                raise SourceError(f"cannot read s3://{bucket}/{key}: {error}") from error
            except BotoCoreError as error:
                raise SourceError(f"cannot read s3://{bucket}/{key}: {error}") from error

        wanted = [e["Key"] for e in entries if e["Key"].endswith(".jsonl")]
        for entry in entries:
            if entry["Key"].endswith(".jsonl") and entry["Size"] > MAX_RECORD_BYTES:
                wanted.remove(entry["Key"])
                yield (
                    f"s3://{bucket}/{entry['Key']}",
                    _Skip("malformed_record", f"over {MAX_RECORD_BYTES} bytes"),
                )
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for key, body in zip(wanted, pool.map(fetch, wanted), strict=True):
                yield f"s3://{bucket}/{key}", body

    def _get(self, bucket: str, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def image(self, record: LabelRecord, where: str) -> np.ndarray:
        """The record's image as model pixels; `_Skip` when it cannot be had."""
        try:
            if record.image.startswith("s3://"):
                try:
                    location = parse_s3_uri(record.image)
                except S3StagingError as error:
                    raise _Skip("unreadable_image", str(error)) from None
                head = self.client.head_object(Bucket=location.bucket, Key=location.prefix)
                if head["ContentLength"] > MAX_IMAGE_BYTES:
                    raise _Skip("bad_image", f"{record.image}: over {MAX_IMAGE_BYTES} bytes")
                data = self._get(location.bucket, location.prefix)
            elif self.s3 is not None:
                # A record in the bucket must not make staging read this machine's files.
                raise _Skip("unreadable_image", f"{record.image}: not an s3:// image")
            else:
                path = Path(record.image)
                if not path.is_absolute():
                    path = Path(where).parent / path  # offline records name their neighbours
                if path.is_file() and path.stat().st_size > MAX_IMAGE_BYTES:
                    raise _Skip("bad_image", f"{path}: over {MAX_IMAGE_BYTES} bytes")
                data = path.read_bytes()
            return decode_image(data)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NotFound"}:
                raise _Skip("missing_image", f"{record.image}: no such object") from None
            raise _Skip("unreadable_image", f"{record.image}: {code or error}") from None
        except (FileNotFoundError, IsADirectoryError):
            raise _Skip("missing_image", f"{record.image}: no such file") from None
        except (OSError, BotoCoreError) as error:
            raise _Skip("unreadable_image", f"{record.image}: {error}") from None
        except ImageDecodeError as error:
            raise _Skip("bad_image", f"{record.image}: {error}") from None


def _lines(body: bytes) -> Iterator[bytes]:
    return (line for line in body.splitlines() if line.strip())


def _parse(line: bytes) -> LabelRecord:
    try:
        return LabelRecord.from_line(line)
    except InvalidLabelRecord as error:
        raise _Skip("malformed_record", str(error)) from None


@dataclass
class Collected:
    """The records under a location, one per inference (its latest answer), and what was not."""

    latest: dict[str, tuple[LabelRecord, str]] = field(default_factory=dict)  # id -> (r, where)
    lines: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, str]] = field(default_factory=list)

    def add(self, record: LabelRecord, where: str) -> None:
        known = self.latest.get(record.inference_id)
        if known is not None:
            self.skipped["superseded"] += 1
            if known[0].decided_at > record.decided_at:
                return
        self.latest[record.inference_id] = (record, where)

    def skip(self, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append({"reason": reason, "detail": detail[:300]})


def collect(store: RecordStore, workers: int = DEFAULT_WORKERS) -> Collected:
    """Every record line under `store`, parsed; malformed lines and superseded answers counted."""
    found = Collected()
    for where, body in store.objects(workers):
        if isinstance(body, _Skip):
            found.lines += 1
            found.skip(body.reason, f"{where}: {body}")
            continue
        for line in _lines(body):
            found.lines += 1
            try:
                record = _parse(line)
            except _Skip as error:
                found.skip(error.reason, f"{where}: {error}")
                continue
            found.add(record, where)
    return found


def read_label_records(
    source: str, *, workers: int = DEFAULT_WORKERS, progress: bool = True, client: Any = None
) -> tuple[ImageSet, dict[str, Any]]:
    """The human-labelled vehicles of `labels:<location>` and the card's description of them."""
    location = source.removeprefix(PREFIX)
    records = RecordStore(location, client if client is not None else make_client(workers))
    found = collect(records, workers)
    wanted: list[tuple[LabelRecord, str]] = []
    for record, where in found.latest.values():
        if record.decision == "routed":
            found.skipped["routed_unreviewed"] += 1
        elif record.label not in CLASS_INDEX:
            found.skipped[str(record.label)] += 1
        else:
            wanted.append((record, where))

    def fetch(item: tuple[LabelRecord, str]) -> np.ndarray | _Skip:
        try:
            return records.image(*item)
        except _Skip as error:
            return error

    kept: list[tuple[LabelRecord, np.ndarray]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = pool.map(fetch, wanted)
        bar = tqdm(answers, total=len(wanted), desc="labelled images", disable=not progress)
        for (record, _), answer in zip(wanted, bar, strict=True):
            if isinstance(answer, _Skip):
                found.skip(answer.reason, str(answer))
            else:
                kept.append((record, answer))
    kept.sort(key=lambda item: item[0].inference_id)  # the same records stage the same files
    description = {
        "kind": "label-records",
        "location": location,
        "records": found.lines,
        "used": len(kept),
        "skipped": dict(sorted(found.skipped.items())),
        "skipped_examples": found.examples,
        "model_versions": dict(sorted(Counter(r.model_version for r, _ in kept).items())),
        "reasons": dict(sorted(Counter(str(r.reason) for r, _ in kept).items())),
    }
    if not kept:
        raise NoTargetLabelsError(
            f"{location}: no reviewed bicycle or motorcycle labels among {found.lines} record "
            f"lines (left out: {json.dumps(description['skipped'])})"
        )
    images = ImageSet(
        pixels=np.stack([pixels for _, pixels in kept]).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 3),
        labels=np.array([CLASS_INDEX[str(r.label)] for r, _ in kept], dtype=np.int64),
        ids=[f"live_{r.inference_id}" for r, _ in kept],
        origins=[r.image for r, _ in kept],
    )
    return images, description


def held_out(image_id: str, fraction: float) -> bool:
    """Whether `image_id` is a test image: a stable hash of the id below `fraction`."""
    digest = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def split_held_out(images: ImageSet, fraction: float) -> tuple[ImageSet, ImageSet]:
    """(train, test) of the labelled images, test by `held_out`."""
    test = np.array([held_out(image_id, fraction) for image_id in images.ids], dtype=bool)
    return images.subset(np.flatnonzero(~test)), images.subset(np.flatnonzero(test))
