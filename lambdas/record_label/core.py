"""Pure logic of record_label: settings, the label record (schema version 1) and its key.

One record per image, one JSON line per object, keyed by the inference id, so a retried write
lands on the same object. Schema (documented in stepfunctions/README.md):

    schema_version  1
    image           s3://bucket/key of the classified image
    inference_id    the InferenceId of the endpoint call (= the capture's eventMetadata.inferenceId)
    model_version   what the endpoint served
    predicted       the model's label (bicycle | motorcycle)
    confidence      the model's probability of that label
    threshold       the threshold the decision was taken at
    decision        routed (by the model) | reviewed (by a human)
    reason          null | low_confidence | audit (why a human was asked)
    label           the human's label (bicycle | motorcycle | not_a_vehicle); null when routed
    reviewer        who answered; null when routed
    decided_at      ISO 8601 UTC time of the decision
    execution_id    the Step Functions execution that decided
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contract import CLASS_NAMES
from lambdas.shared.config import env_str
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from lambdas.shared.events import require_mapping, require_number, require_str, s3_location

SCHEMA_VERSION = 1
PREDICTED_LABELS = CLASS_NAMES
REVIEW_LABELS = (*PREDICTED_LABELS, "not_a_vehicle")
REVIEW_REASONS = ("low_confidence", "audit")
# InvokeEndpoint's InferenceId allows more, but ours are UUIDs: nothing that could leave the prefix.
_INFERENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._/-]*/)?$")


@dataclass(frozen=True)
class RecordSettings:
    bucket: str
    prefix: str
    kms_key_id: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RecordSettings:
        prefix = env_str(env, "LABELS_PREFIX", "labels/")
        if not _PREFIX.match(prefix) or ".." in prefix:
            raise ConfigurationError(f"LABELS_PREFIX={prefix!r} must be a key prefix ending in '/'")
        return cls(
            bucket=env_str(env, "LABELS_BUCKET"),
            prefix=prefix,
            kms_key_id=env.get("LABELS_KMS_KEY_ID", "").strip() or None,
        )


def _optional_choice(body: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if value not in choices:
        raise InvalidEvent(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


def _decided_at(value: object, now: datetime) -> str:
    """The state's entered time (the same on every retry), else now; always UTC with a Z."""
    if value is None:
        moment = now
    else:
        if not isinstance(value, str):
            raise InvalidEvent("decided_at must be an ISO 8601 string")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent(f"decided_at {value!r} is not ISO 8601") from None
        if moment.tzinfo is None:
            raise InvalidEvent("decided_at must carry a time zone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_record(event: object, now: datetime) -> dict[str, Any]:
    """The label record of one final decision.

    Event: `image` ({s3_bucket, s3_key}), `classification` (classify_image's, with
    `inference_id` and `model_version`), `decision` (filter_inferences' decision on it),
    `review` (the reviewer's `{label, reviewer}`; absent or null when routed without review),
    `decided_at`, `execution_id`.
    """
    body = require_mapping(event, "event")
    bucket, key = s3_location(require_mapping(body.get("image"), "image"))
    found = require_mapping(body.get("classification"), "classification")
    inference_id = require_str(found, "inference_id", 64)
    if not _INFERENCE_ID.match(inference_id):
        raise InvalidEvent(f"classification.inference_id {inference_id!r} is not a plain id")
    predicted = _optional_choice(found, "label", PREDICTED_LABELS)
    if predicted is None:
        raise InvalidEvent("classification.label is required")
    decision = require_mapping(body.get("decision"), "decision")
    review = body.get("review")
    label = reviewer = None
    if review is not None:
        answer = require_mapping(review, "review")
        label = _optional_choice(answer, "label", REVIEW_LABELS)
        if label is None:
            raise InvalidEvent("review.label is required")
        reviewer = require_str(answer, "reviewer", 256)
    return {
        "schema_version": SCHEMA_VERSION,
        "image": f"s3://{bucket}/{key}",
        "inference_id": inference_id,
        "model_version": found.get("model_version") or "unknown",
        "predicted": predicted,
        "confidence": require_number(found.get("confidence"), "classification.confidence"),
        "threshold": require_number(decision.get("threshold"), "decision.threshold"),
        "decision": "routed" if review is None else "reviewed",
        "reason": _optional_choice(decision, "reason", REVIEW_REASONS),
        "label": label,
        "reviewer": reviewer,
        "decided_at": _decided_at(body.get("decided_at"), now),
        "execution_id": body.get("execution_id")
        if isinstance(body.get("execution_id"), str)
        else None,
    }


def record_key(prefix: str, record: Mapping[str, Any]) -> str:
    """One object per inference: a retry overwrites the same key with the same line."""
    return f"{prefix}{record['inference_id']}.jsonl"


def json_line(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
