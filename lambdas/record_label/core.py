"""Pure logic of record_label: settings, and the label record of one final decision.

One record per image, one JSON line per object, keyed by the inference id, so a retried write
lands on the same object. The record's schema is `lambdas.shared.label_record.LabelRecord`
(documented in stepfunctions/README.md, "Label records").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lambdas.shared.config import env_str
from lambdas.shared.documents import ClassificationDocument, DecisionDocument, ReviewAnswer
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from lambdas.shared.events import require_event, require_mapping, s3_location
from lambdas.shared.label_record import LabelRecord, plain_inference_id, utc_timestamp

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


def _model_decision(event: Mapping[str, object], found: ClassificationDocument) -> DecisionDocument:
    """The model's decision on this classification (the review machine passes the model's too)."""
    decision = DecisionDocument.from_dict(event)
    if decision.reviewer is not None:
        raise InvalidEvent("decision must be the model's decision, not a reviewer's")
    if decision.label != found.label:
        raise InvalidEvent("decision.label is not the classification's label")
    return decision


def build_record(event: object, now: datetime) -> LabelRecord:
    """The label record of one final decision.

    Event: `image` ({s3_bucket, s3_key}), `classification` (classify_image's, with
    `inference_id` and `model_version`), `decision` (filter_inferences' decision on it),
    `review` (the reviewer's answer; absent or null when routed without review),
    `decided_at` (the recording state's entry time, the same on every retry; else now),
    `execution_id`.
    """
    body = require_event(event)
    bucket, key = s3_location(require_mapping(body.get("image"), "image"))
    found = ClassificationDocument.from_dict(body)
    inference_id = plain_inference_id(found.inference_id, "classification.inference_id")
    decision = _model_decision(body, found)
    answer = ReviewAnswer.in_event(body)
    if (answer is None) != (decision.action == "route"):
        raise InvalidEvent(
            f"a decision to {decision.action} is recorded "
            + ("with the reviewer's answer (`review`)" if answer is None else "without `review`")
        )
    decided_at = body.get("decided_at")
    execution_id = body.get("execution_id")
    return LabelRecord(
        image=f"s3://{bucket}/{key}",
        inference_id=inference_id,
        model_version=found.model_version or "unknown",
        predicted=found.label,
        confidence=found.confidence,
        threshold=float(decision.threshold or 0.0),  # (a model's decision always has one)
        decision="routed" if answer is None else "reviewed",
        reason=decision.reason,
        label=None if answer is None else answer.label,
        reviewer=None if answer is None else answer.reviewer,
        decided_at=utc_timestamp(now.isoformat() if decided_at is None else decided_at),
        execution_id=execution_id if isinstance(execution_id, str) else None,
    )
