"""Strict readers for the fields of incoming events: wrong shapes become InvalidEvent."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from lambdas.shared.bounded_json import DEFAULT_MAX_DEPTH, JsonError, check_depth
from lambdas.shared.errors import InvalidEvent

# S3 bucket naming rules (general purpose buckets): 3-63 chars, lower case, digits, dots, dashes.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024


def require_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def require_event(event: object) -> Mapping[str, Any]:
    """The event as an object nesting at most DEFAULT_MAX_DEPTH levels (the runtime parsed it
    without our bounds; deeper, any walk over it, a log line's repr, could recurse out)."""
    body = require_mapping(event, "event")
    try:
        check_depth(body, DEFAULT_MAX_DEPTH, "event")
    except JsonError as error:
        raise InvalidEvent(str(error)) from None
    return body


def require_str(event: Mapping[str, Any], name: str, max_len: int = 1024) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"field {name!r} must be a non-empty string")
    if len(value) > max_len:
        raise InvalidEvent(f"field {name!r} is longer than {max_len} characters")
    return value


def optional_str(event: Mapping[str, Any], name: str, max_len: int = 1024) -> str | None:
    if event.get(name) is None:
        return None
    return require_str(event, name, max_len)


def require_number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(f"{what} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a double (the runtime parses JSON ints exactly)
        raise InvalidEvent(f"{what} must be finite") from None
    if not math.isfinite(number):
        raise InvalidEvent(f"{what} must be finite")
    return number


def s3_location(event: Mapping[str, Any]) -> tuple[str, str]:
    """Validated (`s3_bucket`, `s3_key`) of an event."""
    bucket = require_str(event, "s3_bucket", 63)
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidEvent(f"s3_bucket {bucket!r} is not a valid bucket name")
    key = require_str(event, "s3_key", MAX_KEY_BYTES)
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent("s3_key is not valid Unicode (lone surrogates)") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidEvent(f"s3_key is longer than {MAX_KEY_BYTES} bytes in UTF-8")
    return bucket, key


def execution_id(event: object) -> str | None:
    """The Step Functions execution id the state machine passes along, for the logs."""
    if isinstance(event, Mapping):
        value = event.get("execution_id")
        if isinstance(value, str) and value:
            return value[:2048]
    return None


# What classify_image lets through (its PROBABILITY_TOLERANCE default): rounding, not a bug.
PROBABILITY_SUM_TOLERANCE = 0.01


def require_probabilities(
    value: object, labels: tuple[str, ...], what: str = "probabilities"
) -> dict[str, float]:
    """One finite probability in [0, 1] per label, summing to 1 within the tolerance."""
    found = require_mapping(value, what)
    values = {label: require_number(found.get(label), f"{what}.{label}") for label in labels}
    if not all(0.0 <= number <= 1.0 for number in values.values()):
        raise InvalidEvent(f"{what} must lie in [0, 1]")
    total = math.fsum(values.values())
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise InvalidEvent(f"{what} sum to {total:.6g}, not 1 (+- {PROBABILITY_SUM_TOLERANCE})")
    return values
