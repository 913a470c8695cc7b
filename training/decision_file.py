"""Read the model's routing threshold from the `decision.json` member of a model archive.

Training writes `decision.json` at the top of model.tar.gz:
`{"format": 1, "decision_threshold": <float in (0, 1)>, "max_misroute_rate": ..., "method": ...,
"certified": ..., "validation_images": ...}`. Promotion and the drift baseline read only that
member, from a local path or an s3:// URI, streaming the archive until the member is found (the
model weights after it are never read), so neither needs torch nor a download of the whole
model.
"""

from __future__ import annotations

import json
import math
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MEMBER = "decision.json"
FORMAT = 1
MAX_MEMBER_BYTES = 64 * 1024  # a few fields; anything larger is not our file


class DecisionFileError(ValueError):
    """The archive cannot be read, or its decision.json is malformed or out of range."""


@dataclass(frozen=True)
class Decision:
    """What promotion and the baseline need from decision.json (the rest stays in `fields`)."""

    decision_threshold: float
    certified: bool | None
    fields: Mapping[str, Any]


def check_threshold(value: object, what: str) -> float:
    """A routing threshold: a finite number strictly inside (0, 1); routed iff top p >= it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecisionFileError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and 0.0 < number < 1.0):
        raise DecisionFileError(f"{what} {number} must lie strictly between 0 and 1")
    return number


def parse_decision(data: bytes, source: str) -> Decision:
    try:
        body = json.loads(data)
    except ValueError as error:
        raise DecisionFileError(f"{source}: {MEMBER} is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise DecisionFileError(f"{source}: {MEMBER} is not a JSON object")
    if body.get("format") != FORMAT:
        raise DecisionFileError(
            f"{source}: {MEMBER} format {body.get('format')!r} is not supported (want {FORMAT})"
        )
    threshold = check_threshold(body.get("decision_threshold"), f"{source}: decision_threshold")
    certified = body.get("certified")
    return Decision(threshold, certified if isinstance(certified, bool) else None, body)


def _member_from_stream(stream: IO[bytes], source: str) -> bytes | None:
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as archive:
            for member in archive:
                if member.name.removeprefix("./") != MEMBER:
                    continue
                if not member.isfile() or member.size > MAX_MEMBER_BYTES:
                    raise DecisionFileError(f"{source}: {MEMBER} is not a small regular file")
                extracted = archive.extractfile(member)
                assert extracted is not None  # a regular file
                return extracted.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DecisionFileError(f"{source} is not a readable .tar.gz archive: {error}") from None
    return None


def read_decision(location: str | Path, s3_client: Any = None) -> Decision | None:
    """decision.json of the archive at a path or s3:// URI (read with `s3_client`, which the
    caller makes: this module stays standard-library only); None when the archive has none."""
    source = str(location)
    if source.startswith("s3://"):
        bucket, _, key = source.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise DecisionFileError(f"{source} is not an s3://bucket/key URI")
        if s3_client is None:
            raise DecisionFileError(f"reading {source} needs an S3 client")
        try:
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as error:  # NoSuchKey / NoSuchBucket / AccessDenied: one clear error
            raise DecisionFileError(f"cannot read {source}: {error}") from error
        try:
            data = _member_from_stream(body, source)
        finally:
            body.close()  # stop the download: the weights after decision.json are not needed
    else:
        path = Path(location)
        if not path.is_file():
            raise DecisionFileError(f"model archive not found: {path}")
        with path.open("rb") as stream:
            data = _member_from_stream(stream, source)
    return None if data is None else parse_decision(data, source)
