"""The label record: one final decision, as record_label writes it under `labels/` and every
reader (the local run's tally, tests, offline tools) reads it back. This class is the statement
of the schema (version 1; the table in stepfunctions/README.md describes it):

    schema_version  1
    image           s3://bucket/key of the classified image (offline tools: a local path)
    inference_id    the InferenceId of the endpoint call (= the capture's eventMetadata.inferenceId)
    model_version   what the endpoint served
    predicted       the model's label (bicycle | motorcycle)
    confidence      the model's probability of that label
    threshold       the threshold the decision was taken at
    decision        routed (by the model) | reviewed (by a human)
    reason          null | low_confidence | audit (why a human was asked; null when routed)
    label           the human's label (bicycle | motorcycle | not_a_vehicle); null when routed
    reviewer        who answered; null when routed
    decided_at      ISO 8601 UTC time of the decision, milliseconds, `Z`
    execution_id    the Step Functions execution that decided (null if unknown)

`from_dict` is strict: a record that breaks the schema raises InvalidLabelRecord naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.shared.documents import LABELS, MAX_REVIEWER_CHARS, REVIEW_LABELS, REVIEW_REASONS
from lambdas.shared.errors import InvalidEvent, InvalidLabelRecord
from lambdas.shared.events import require_number

SCHEMA_VERSION = 1
DECISIONS = ("routed", "reviewed")
# InvokeEndpoint's InferenceId allows more, but ours are UUIDs: nothing that could leave the prefix.
INFERENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def utc_timestamp(value: object, what: str = "decided_at") -> str:
    """An ISO 8601 time with a zone, as the records write it: UTC, milliseconds, `Z`."""
    if not isinstance(value, str):
        raise InvalidEvent(f"{what} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"{what} {value!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise InvalidEvent(f"{what} must carry a time zone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LabelRecord:
    image: str
    inference_id: str
    model_version: str
    predicted: str
    confidence: float
    threshold: float
    decision: str
    reason: str | None
    label: str | None
    reviewer: str | None
    decided_at: str
    execution_id: str | None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def json_line(self) -> bytes:
        """The object's one line: sorted keys, so a retry writes the same bytes."""
        line = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return (line + "\n").encode("utf-8")

    @property
    def reviewer_disagrees(self) -> bool:
        """A person answered something other than the model's label. On an audit (the model was
        sure) that is a misroute; `not_a_vehicle` counts, since it routed a driver wrongly too."""
        return self.label is not None and self.label != self.predicted

    def key(self, prefix: str) -> str:
        """One object per inference: a retry overwrites the same key with the same line."""
        return f"{prefix}{self.inference_id}.jsonl"

    @classmethod
    def from_dict(cls, record: object) -> LabelRecord:
        try:
            return cls._read(record)
        except InvalidLabelRecord:
            raise
        except InvalidEvent as error:
            raise InvalidLabelRecord(f"label record: {error}") from None

    @classmethod
    def from_line(cls, line: str | bytes) -> LabelRecord:
        try:
            return cls.from_dict(json.loads(line))
        except ValueError as error:
            raise InvalidLabelRecord(f"label record is not JSON: {error}") from None

    @classmethod
    def _read(cls, record: object) -> LabelRecord:
        if not isinstance(record, Mapping):
            raise InvalidLabelRecord(f"label record must be a JSON object, not {type(record)}")
        unknown = sorted(set(record) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidLabelRecord(f"label record has unknown fields {unknown}")
        version = record.get("schema_version")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise InvalidLabelRecord(f"schema_version must be {SCHEMA_VERSION}, got {version!r}")
        decision = _one_of(record, "decision", DECISIONS)
        reason, label, reviewer = _review_fields(record, decision == "reviewed")
        execution_id = record.get("execution_id")
        return cls(
            image=_text(record, "image", 2048),
            inference_id=plain_inference_id(record.get("inference_id"), "inference_id"),
            model_version=_text(record, "model_version", 1024),
            predicted=_one_of(record, "predicted", LABELS),
            confidence=_share(record, "confidence"),
            threshold=_share(record, "threshold"),
            decision=decision,
            reason=reason,
            label=label,
            reviewer=reviewer,
            decided_at=_timestamp(record),
            execution_id=None if execution_id is None else _text(record, "execution_id", 2048),
        )


def _review_fields(
    record: Mapping[str, Any], reviewed: bool
) -> tuple[str | None, str | None, str | None]:
    """`reason`, `label`, `reviewer`: all set when a human decided, all null when the model did."""
    names = ("reason", "label", "reviewer")
    if not reviewed:
        for name in names:
            if record.get(name) is not None:
                raise InvalidEvent(f"{name} must be null when the model routed")
        return None, None, None
    return (
        _one_of(record, "reason", REVIEW_REASONS),
        _one_of(record, "label", REVIEW_LABELS),
        _text(record, "reviewer", MAX_REVIEWER_CHARS),
    )


def plain_inference_id(value: object, what: str) -> str:
    """An inference id that can name an object under the prefix (ours are UUIDs)."""
    if not isinstance(value, str) or not INFERENCE_ID.match(value):
        raise InvalidEvent(f"{what} {value!r} is not a plain id")
    return value


def _text(record: Mapping[str, Any], name: str, max_len: int) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise InvalidEvent(f"{name} must be a non-empty string of at most {max_len} characters")
    return value


def _one_of(record: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = record.get(name)
    if value not in choices:
        raise InvalidEvent(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


def _share(record: Mapping[str, Any], name: str) -> float:
    value = require_number(record.get(name), name)
    if not 0.0 <= value <= 1.0:
        raise InvalidEvent(f"{name} must lie in [0, 1], got {value}")
    return value


def _timestamp(record: Mapping[str, Any]) -> str:
    value = record.get("decided_at")
    if utc_timestamp(value) != value:
        raise InvalidEvent(f"decided_at {value!r} is not UTC with milliseconds and Z")
    return str(value)
