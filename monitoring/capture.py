"""Streaming reader of SageMaker data-capture JSON Lines, from a local folder or an S3 window.

Layout written by SageMaker: `s3://bucket/prefix/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`,
one record per line:
`{"captureData": {"endpointInput": {"observedContentType", "mode", "data", "encoding"},
"endpointOutput": {...}}, "eventMetadata": {"eventId", "inferenceTime"}, "eventVersion": "0"}`.

Everything here is a generator: files are listed lazily, read line by line, and each line is
parsed into a small `CaptureRecord` (or a typed reason why not), so memory does not grow with
the window. Every line of every file is read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3

from lambdas.shared import bounded_json

# orjson parses a capture line ~3x faster than json and pybase64 decodes ~10x faster than
# binascii; both are optional (the stdlib does the same job, slower) and every input they refuse
# is handed to the stdlib, so results never depend on which is installed.
try:
    import orjson

    _fast_loads: Any = orjson.loads
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _fast_loads = None
try:
    import pybase64

    _fast_b64: Any = pybase64.b64decode
except ImportError:  # pragma: no cover
    _fast_b64 = None

# Reasons a line is (partly) unusable; the report counts each.
NOT_JSON = "not_json"
NOT_CAPTURE_RECORD = "not_capture_record"
UNKNOWN_INPUT_ENCODING = "unknown_input_encoding"
INPUT_NOT_IMAGE = "input_not_image"
UNDECODABLE_IMAGE = "undecodable_image"
UNKNOWN_OUTPUT_ENCODING = "unknown_output_encoding"
BAD_OUTPUT = "bad_output"
BAD_INFERENCE_TIME = "bad_inference_time"
UNREADABLE_FILE = "unreadable_file"

# A record lands in the hour partition of the capture file's write time, which can be after its
# inference time: a window also lists this many partitions after its end.
PARTITION_SLACK = timedelta(hours=1)
# The longest window a run may read: a month of hour partitions (744 listings per root). A
# longer one (an event saying 1970 -> 2100: a million listings) is refused, not attempted.
MAX_WINDOW = timedelta(days=31)
# SageMaker captures payloads of up to 6 MB (8 MB in base64) plus the answer.
MAX_LINE_BYTES = 16 * 1024 * 1024


class CaptureSourceError(RuntimeError):
    """The capture location does not exist or cannot be listed (missing folder or bucket)."""


class WindowError(CaptureSourceError):
    """The window is empty, reversed or longer than MAX_WINDOW."""


def check_window(start: datetime | None, end: datetime | None) -> None:
    """Refuse a reversed window and a bounded one longer than MAX_WINDOW (WindowError)."""
    if start is not None and end is not None:
        if end <= start:
            raise WindowError(
                f"window end {end.isoformat()} is not after start {start.isoformat()}"
            )
        if end - start > MAX_WINDOW:
            raise WindowError(
                f"window {start.isoformat()} .. {end.isoformat()} is longer than "
                f"{MAX_WINDOW.days} days"
            )


class S3Client(Protocol):  # the parts of boto3's S3 client used here
    def get_paginator(self, operation_name: str) -> Any: ...
    def get_object(self, **kwargs: Any) -> Any: ...


@dataclass(slots=True)
class CaptureRecord:
    """One parsed line. `problems` lists what could not be used; the rest is still counted."""

    image_bytes: bytes | None
    content_type: str
    probabilities: list[float] | None
    inference_time: datetime | None
    problems: list[str]


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri}")
    return bucket, key


def parse_time(value: object) -> datetime | None:
    """ISO-8601 (with Z or an offset; naive = UTC) -> aware UTC datetime, or None.

    None too for times in the years 1 and 9999, where converting to UTC or adding the minutes
    and hours of a window would leave datetime's range (OverflowError)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if not 1 < parsed.year < 9999:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is UTC:  # "Z", as SageMaker writes it: already the answer
        return parsed
    return parsed.astimezone(UTC)


def iso_time_argument(value: str) -> datetime:
    """argparse type of the CLIs' --start/--end: an ISO-8601 time, or a one-line usage error
    (`2026-01-01T10:00:00 UTC` is refused, never read as "now")."""
    parsed = parse_time(value)
    if parsed is None:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 time: {value!r} (e.g. 2026-01-01T10:00:00Z or +00:00)"
        )
    return parsed


def _b64(data: object) -> bytes:
    if not isinstance(data, str):
        raise ValueError("BASE64 data is not a string")
    if _fast_b64 is not None:
        try:  # strict alphabet: SageMaker writes plain base64; anything else takes the slow path
            decoded: bytes = _fast_b64(data, validate=True)
            return decoded
        except (ValueError, binascii.Error):
            pass
    return base64.b64decode(data, validate=False)


def _loads(line: bytes | str) -> Any:
    """The bounded parse (size, depth, integer length): a hostile line is one NOT_JSON, never a
    RecursionError that would lose the hour's report (orjson first, json for what it refuses).
    Depth: orjson's own bound, as nothing here recurses into a record or repr()s it (fields
    are read with .get, strings only through `_text`, outputs unwrapped by a bounded loop)."""
    return bounded_json.loads(
        line,
        max_bytes=MAX_LINE_BYTES,
        max_depth=bounded_json.FAST_PARSER_MAX_DEPTH,
        what="capture line",
    )


def _text(value: object) -> str:
    """A string field, or "" (never str() of a nested value: its repr could recurse out)."""
    return value if isinstance(value, str) else ""


# An output is unwrapped at most this often ({"predictions": [[p0, p1]]} takes 2).
_MAX_UNWRAP = 4
_PROBABILITY_KEYS = ("probabilities", "predictions", "scores", "probability")


def _parse_probabilities(value: object) -> list[float]:
    """JSON output value -> list of class probabilities; raises ValueError when it is not."""
    for _ in range(_MAX_UNWRAP):  # a loop, not recursion: outputs can nest 1,024 deep
        if isinstance(value, dict):
            key = next(
                (
                    k
                    for k in ("probabilities", "predictions", "scores", "probability")
                    if k in value
                ),
                None,
            )
            if key is None:
                raise ValueError("no probabilities in the output object")
            value = value[key]
        elif isinstance(value, list) and len(value) == 1 and isinstance(value[0], list | dict):
            value = value[0]  # a batch of one
        else:
            break
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError("output is not a list of class probabilities")
    probabilities = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValueError("non-numeric probability")
        number = float(item)
        if not math.isfinite(number) or number < -1e-6 or number > 1.0 + 1e-6:
            raise ValueError("probability outside [0, 1]")
        probabilities.append(number)
    return probabilities


def _parse_output_text(text: str) -> list[float]:
    if _fast_loads is not None:
        # the endpoint's usual "[p0, p1]" through orjson (~6x cheaper than splitting it and
        # calling float() per part); used only when it is a list of two or more floats, all
        # valid probabilities, where the code below gives the same floats (both parsers round
        # correctly; JSON's number grammar is a subset of float()'s); anything else goes there
        try:
            parsed = _fast_loads(text)
        except ValueError:
            parsed = None
        if type(parsed) is list and len(parsed) >= 2:
            for value in parsed:
                if type(value) is not float or not -1e-6 <= value <= 1.0 + 1e-6:
                    break
            else:
                return parsed
    text = text.strip()
    if text.startswith("[") and text.endswith("]") and text.find("[", 1) < 0:
        # the endpoint's usual "[p0, p1]": split instead of a second json.loads per record
        try:
            values = [float(part) for part in text[1:-1].split(",")]
        except ValueError:
            pass  # not plain numbers: let the JSON parser say what it is
        else:
            if len(values) < 2:
                return _parse_probabilities(values)  # raises
            for value in values:  # (False for NaN: exactly _parse_probabilities' rule)
                if not -1e-6 <= value <= 1.0 + 1e-6:
                    return _parse_probabilities(values)  # raises
            return values
    if text.startswith(("[", "{")):
        return _parse_probabilities(_loads(text))
    # text/csv: "0.1,0.9" (one row)
    return _parse_probabilities([float(part) for part in text.split(",")])


def parse_output(output: object) -> list[float]:
    """endpointOutput -> probabilities. Raises KeyError (unknown encoding) or ValueError."""
    if not isinstance(output, dict):
        raise ValueError("endpointOutput is not an object")
    encoding = _text(output.get("encoding", "JSON")).upper()
    data = output.get("data")
    if encoding == "BASE64":
        return _parse_output_text(_b64(data).decode("utf-8"))
    if encoding in ("JSON", "CSV", "TEXT", "UTF-8", "UTF8"):
        if isinstance(data, str):
            return _parse_output_text(data)
        return _parse_probabilities(data)
    raise KeyError(encoding)


def parse_line(line: bytes | str) -> CaptureRecord:
    """Parse one JSON Lines record; never raises for bad input (problems are listed)."""
    try:
        record = _loads(line)
    except (ValueError, UnicodeDecodeError):
        return CaptureRecord(None, "", None, None, [NOT_JSON])
    capture = record.get("captureData") if isinstance(record, dict) else None
    if not isinstance(capture, dict):
        return CaptureRecord(None, "", None, None, [NOT_CAPTURE_RECORD])
    problems: list[str] = []
    metadata = record.get("eventMetadata")
    inference_time = (
        parse_time(metadata.get("inferenceTime")) if isinstance(metadata, dict) else None
    )

    image_bytes: bytes | None = None
    content_type = ""
    endpoint_input = capture.get("endpointInput")
    if isinstance(endpoint_input, dict):
        content_type = _text(endpoint_input.get("observedContentType"))
        encoding = _text(endpoint_input.get("encoding")).upper()
        if encoding == "BASE64":
            try:
                image_bytes = _b64(endpoint_input.get("data"))
            except (ValueError, binascii.Error):
                problems.append(UNDECODABLE_IMAGE)
        elif encoding in ("JSON", "CSV", "TEXT"):
            problems.append(INPUT_NOT_IMAGE)
        else:
            problems.append(UNKNOWN_INPUT_ENCODING)
    else:
        problems.append(NOT_CAPTURE_RECORD)

    probabilities: list[float] | None = None
    try:
        probabilities = parse_output(capture.get("endpointOutput"))
    except KeyError:
        problems.append(UNKNOWN_OUTPUT_ENCODING)
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        problems.append(BAD_OUTPUT)
    return CaptureRecord(image_bytes, content_type, probabilities, inference_time, problems)


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; either side may be open."""

    start: datetime | None = None
    end: datetime | None = None

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment < self.end
        )

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    @classmethod
    def previous_hours(cls, now: datetime, hours: int = 1) -> Window:
        """The last `hours` full hours before `now` (the hourly job's default window)."""
        end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return cls(end - timedelta(hours=hours), end)


class CaptureFile(Protocol):
    @property
    def name(self) -> str: ...

    def lines(self) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class LocalCaptureFile:
    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def lines(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            yield from handle


@dataclass(frozen=True)
class S3CaptureFile:
    client: S3Client | None  # None: a client of this process (files sent to worker processes)
    bucket: str
    key: str

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def detached(self) -> S3CaptureFile:
        """A picklable copy without the client."""
        return S3CaptureFile(None, self.bucket, self.key)

    def lines(self) -> Iterator[bytes]:
        client = self.client if self.client is not None else _process_client()
        body = client.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        try:
            yield from body.iter_lines(chunk_size=1 << 16)
        finally:
            body.close()


@functools.cache
def _process_client() -> S3Client:
    client: S3Client = boto3.client("s3")
    return client


def iter_local_files(path: Path) -> Iterator[LocalCaptureFile]:
    """Every *.jsonl under a folder, recursively, in name order (or the one file given)."""
    if path.is_file():
        yield LocalCaptureFile(path)
        return
    if not path.is_dir():
        raise CaptureSourceError(f"capture folder not found: {path}")
    for file in sorted(path.rglob("*.jsonl")):
        if file.is_file():
            yield LocalCaptureFile(file)


def _is_year(part: str) -> bool:
    return len(part) == 4 and part.isdigit()


def find_partition_roots(client: S3Client, bucket: str, prefix: str, depth: int = 3) -> list[str]:
    """Prefixes under which the yyyy/mm/dd/hh partitions start (prefix, or endpoint/variant)."""
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    children: list[str] = []
    for page in _pages(client, Bucket=bucket, Prefix=prefix, Delimiter="/"):
        children.extend(item["Prefix"] for item in page.get("CommonPrefixes", []))
    names = [child[len(prefix) :].rstrip("/") for child in children]
    if any(_is_year(name) for name in names):
        return [prefix]
    if depth == 0:
        return []
    roots: list[str] = []
    for child in children:
        roots.extend(find_partition_roots(client, bucket, child, depth - 1))
    return roots


def hour_prefixes(root: str, window: Window) -> Iterator[str]:
    """Hour partitions `root/yyyy/mm/dd/hh/` that can hold records of the window."""
    assert window.start is not None and window.end is not None
    check_window(window.start, window.end)
    hour = window.start.replace(minute=0, second=0, microsecond=0)
    last = window.end + PARTITION_SLACK
    while hour < last:
        yield f"{root}{hour:%Y/%m/%d/%H}/"
        hour += timedelta(hours=1)


def _pages(client: S3Client, **kwargs: str) -> Iterator[dict[str, Any]]:
    """ListObjectsV2 pages; a missing or forbidden bucket becomes one CaptureSourceError.

    (No HeadBucket first: a role allowed to list only the capture prefix may not call it.)"""
    try:
        yield from client.get_paginator("list_objects_v2").paginate(**kwargs)
    except Exception as error:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket", "AccessDenied", "AllAccessDisabled", "403", "404"):
            raise CaptureSourceError(
                f"capture bucket not readable: {kwargs['Bucket']}: {code}"
            ) from error
        raise


def _list_keys(client: S3Client, bucket: str, prefix: str) -> Iterator[str]:
    for page in _pages(client, Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".jsonl"):
                yield item["Key"]


def iter_s3_files(client: S3Client, uri: str, window: Window) -> Iterator[S3CaptureFile]:
    """Capture files under an S3 URI: the window's hour partitions when bounded, else all."""
    bucket, prefix = parse_s3_uri(uri)
    if window.start is None or window.end is None:
        for key in _list_keys(client, bucket, prefix):
            yield S3CaptureFile(client, bucket, key)
        return
    roots = find_partition_roots(client, bucket, prefix)
    if not roots:  # not SageMaker's layout (a flat export): read all, filter by time
        for key in _list_keys(client, bucket, prefix):
            yield S3CaptureFile(client, bucket, key)
        return
    for root in roots:
        for hour_prefix in hour_prefixes(root, window):
            for key in _list_keys(client, bucket, hour_prefix):
                yield S3CaptureFile(client, bucket, key)


def iter_capture_files(
    source: str | Path, window: Window, s3_client: S3Client | None = None
) -> Iterator[CaptureFile]:
    """Files of a local folder/file or an s3:// URI (WindowError first for a window too long)."""
    check_window(window.start, window.end)
    if str(source).startswith("s3://"):
        if s3_client is None:
            s3_client = boto3.client("s3")
        yield from iter_s3_files(s3_client, str(source), window)
    else:
        yield from iter_local_files(Path(source))
