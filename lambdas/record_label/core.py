"""Pure logic of record_label: settings, the label record of one final decision, and the review
machine's outcome document.

One record per image, one JSON line per object, keyed by the inference id, so a retried write
lands on the same object. The record's schema is `lambdas.shared.label_record.LabelRecord`
(documented in stepfunctions/README.md, "Label records"). For a reviewer's answer this function
is the review machine's one Lambda step: it also routes by the human's label (the routing rules
of `lambdas.shared.routing`, as filter_inferences routes) and returns the execution's outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambdas.shared.config import env_str
from lambdas.shared.documents import ClassificationDocument, DecisionDocument, ReviewAnswer
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from lambdas.shared.events import require_event, require_mapping, s3_location
from lambdas.shared.label_record import LabelRecord, plain_inference_id, utc_timestamp
from lambdas.shared.routing import Route, decide_reviewed, routes_from_env

_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._/-]*/)?$")


@dataclass(frozen=True)
class RecordSettings:
    bucket: str
    prefix: str
    kms_key_id: str | None
    routes: Mapping[str, Route]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RecordSettings:
        prefix = env_str(env, "LABELS_PREFIX", "labels/")
        if not _PREFIX.match(prefix) or ".." in prefix:
            raise ConfigurationError(f"LABELS_PREFIX={prefix!r} must be a key prefix ending in '/'")
        return cls(
            bucket=env_str(env, "LABELS_BUCKET"),
            prefix=prefix,
            kms_key_id=env.get("LABELS_KMS_KEY_ID", "").strip() or None,
            routes=routes_from_env(env),
        )


def _model_decision(event: Mapping[str, object], found: ClassificationDocument) -> DecisionDocument:
    """The model's decision on this classification (the review machine passes the model's too)."""
    decision = DecisionDocument.from_dict(event)
    if decision.reviewer is not None:
        raise InvalidEvent("decision must be the model's decision, not a reviewer's")
    if decision.label != found.label:
        raise InvalidEvent("decision.label is not the classification's label")
    return decision


@dataclass(frozen=True)
class FinalDecision:
    """One final decision as the machines hand it over: the record to write and, for a
    reviewer's answer, what the review machine's outcome is made of."""

    record: LabelRecord
    classification: ClassificationDocument
    model_decision: DecisionDocument
    answer: ReviewAnswer | None
    request: object
    workflow_execution_id: str | None


def build_record(event: object, now: datetime) -> LabelRecord:
    """The label record of one final decision (`read_final`)."""
    return read_final(event, now).record


def read_final(event: object, now: datetime) -> FinalDecision:
    """The final decision of an event, validated.

    Event: `image` ({s3_bucket, s3_key}), `classification` (classify_image's, with
    `inference_id` and `model_version`), `decision` (filter_inferences' decision on it),
    `review` (the reviewer's answer; absent or null when routed without review),
    `decided_at` (the recording state's entry time, the same on every retry; else now),
    `execution_id` (the execution that decided); from the review machine also `request` and
    `workflow_execution_id` (the classify execution's), which its outcome carries on.
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
    workflow_execution_id = body.get("workflow_execution_id")
    record = LabelRecord(
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
    return FinalDecision(
        record=record,
        classification=found,
        model_decision=decision,
        answer=answer,
        request=body.get("request"),
        workflow_execution_id=(
            workflow_execution_id if isinstance(workflow_execution_id, str) else None
        ),
    )


def reviewed_outcome(
    final: FinalDecision, routes: Mapping[str, Route], label_record: Mapping[str, Any]
) -> dict[str, Any]:
    """The review execution's output once a reviewer answered: `RoutedByReviewer` (routed by the
    human's label) or `Rejected` (no vehicle), with the label record's status (`written` with its
    `uri`, or `failed` with `error` and `cause`: the decision stands either way)."""
    if final.answer is None:
        raise InvalidEvent("only a reviewer's answer has a review outcome")
    decision = decide_reviewed(final.answer, routes)
    return {
        "outcome": "RoutedByReviewer" if decision.action == "route" else "Rejected",
        "execution_id": final.workflow_execution_id,
        "request": final.request,
        **final.classification.to_dict(),
        **decision.to_dict(),
        "review": {
            "reason": final.model_decision.reason,
            "model_decision": final.model_decision.to_dict()["decision"],
            "review_execution_id": final.record.execution_id,
        },
        "label_record": dict(label_record),
    }
