"""Typed documents of the hand-offs between the Lambdas: the one statement of their shape.

Each is a frozen dataclass; the producing side builds it and returns `to_dict()` (the JSON the
state machines pass on, field names fixed: the ASL reads them), the consuming side reads it with
`from_dict()`, which validates and raises InvalidEvent naming the field for a malformed document.

    ImageDocument           serialize_image -> classify_image                  `image`
    ClassificationDocument  classify_image -> filter_inferences, record_label  `classification`
    DecisionDocument        filter_inferences -> the machines, record_label    `decision`
    ReviewAnswer            a reviewer (SendTaskSuccess) -> record_label (the review machine)
    ExecutionOptions        the request's per-execution options (the threshold override), the
                            one place they are read (classify_image, filter_inferences)

The label record, what record_label writes, is `lambdas.shared.label_record.LabelRecord`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from contract import CLASS_NAMES
from lambdas.shared.errors import InvalidEvent, ThresholdBelowDeployed
from lambdas.shared.events import (
    optional_str,
    require_event,
    require_mapping,
    require_number,
    require_probabilities,
    s3_location,
)
from lambdas.shared.formats import CONTENT_TYPES

LABELS = CLASS_NAMES
# What a reviewer may answer: one of the vehicle types, or that the image shows neither.
NOT_A_VEHICLE = "not_a_vehicle"
REVIEW_LABELS = (*LABELS, NOT_A_VEHICLE)
# Why the model's decision asks a human: below the threshold, or a sampled confident image.
REVIEW_REASONS = ("low_confidence", "audit")
MAX_REVIEWER_CHARS = 256
# Half the Earth's circumference: any radius beyond it is a typo, not a delivery area.
MAX_ORDER_RADIUS_KM = 20_000.0


def _optional_text(found: Mapping[str, Any], name: str) -> str | None:
    """A descriptive field passed along as is: a non-empty string, else absent."""
    value = found.get(name)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class ClassificationDocument:
    """classify_image -> filter_inferences (`classification`): the endpoint's probabilities and
    the most probable label, with where they came from (inference id: the capture record's)."""

    label: str
    probabilities: Mapping[str, float]
    endpoint_name: str | None = None
    invoked_variant: str | None = None
    inference_id: str | None = None
    model_version: str | None = None

    @classmethod
    def of(
        cls,
        probabilities: tuple[float, float],
        endpoint_name: str,
        variant: str | None,
        *,
        inference_id: str | None = None,
        model_version: str | None = None,
    ) -> ClassificationDocument:
        """The document of the endpoint's answer; ties go to the first label."""
        index = 0 if probabilities[0] >= probabilities[1] else 1
        return cls(
            label=LABELS[index],
            probabilities=dict(zip(LABELS, probabilities, strict=True)),
            endpoint_name=endpoint_name,
            invoked_variant=variant,
            inference_id=inference_id,
            model_version=model_version,
        )

    @property
    def class_index(self) -> int:
        return LABELS.index(self.label)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        return {
            "classification": {
                "label": self.label,
                "class_index": self.class_index,
                "confidence": self.confidence,
                "probabilities": dict(self.probabilities),
                "endpoint_name": self.endpoint_name,
                "invoked_variant": self.invoked_variant,
                "inference_id": self.inference_id,
                "model_version": self.model_version,
            }
        }

    @classmethod
    def from_dict(cls, event: object) -> ClassificationDocument:
        """The `classification` of an event: a known label that is the most probable one, and a
        valid probability per label; the descriptive fields are kept when they are strings."""
        found = require_mapping(require_event(event).get("classification"), "classification")
        label = found.get("label")
        if label not in LABELS:
            raise InvalidEvent(f"classification.label must be one of {LABELS}")
        values = require_probabilities(
            found.get("probabilities"), LABELS, "classification.probabilities"
        )
        if values[str(label)] < max(values.values()):
            raise InvalidEvent("classification.label is not the most probable class")
        return cls(
            label=str(label),
            probabilities=values,
            endpoint_name=_optional_text(found, "endpoint_name"),
            invoked_variant=_optional_text(found, "invoked_variant"),
            inference_id=_optional_text(found, "inference_id"),
            model_version=_optional_text(found, "model_version"),
        )


def _decode_inline(document: Mapping[str, Any], field: str) -> bytes | None:
    """`document["inline_b64"]` decoded and checked against `document["sha256"]`, if present."""
    inline_b64 = document.get("inline_b64")
    if inline_b64 is None:
        return None
    if not isinstance(inline_b64, str):
        raise InvalidEvent(f"{field}.inline_b64 must be a base64 string")
    try:
        inline = base64.b64decode(inline_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent(f"{field}.inline_b64 is not valid base64") from None
    sha256 = optional_str(document, "sha256", 64)
    if sha256 is not None and hashlib.sha256(inline).hexdigest() != sha256:
        raise InvalidEvent(f"{field}.inline_b64 does not match {field}.sha256")
    return inline


def _prepared(image: Mapping[str, Any]) -> bytes | None:
    if image.get("prepared") is None:
        return None
    prepared = require_mapping(image["prepared"], "image.prepared")
    if prepared.get("content_type") != "image/png":
        raise InvalidEvent("image.prepared.content_type must be image/png")
    data = _decode_inline(prepared, "image.prepared")
    if data is None:
        raise InvalidEvent("image.prepared must carry inline_b64")
    return data


def _optional_int(found: Mapping[str, Any], name: str) -> int | None:
    """A descriptive count passed along as is: an integer, else absent."""
    value = found.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ImageDocument:
    """serialize_image -> classify_image (`image`): the upload's reference (pinned by version id
    or ETag, and SHA-256) and header, and the model's input made from it (`prepared`, a small
    PNG sent to the endpoint as image/png). Documents from before serialize_image prepared images
    carry the uploaded bytes inline (`inline`) or only the reference."""

    content_type: str
    s3_bucket: str
    s3_key: str
    version_id: str | None
    etag: str | None
    inline: bytes | None
    sha256: str | None
    prepared: bytes | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        image: dict[str, Any] = {
            "s3_bucket": self.s3_bucket,
            "s3_key": self.s3_key,
            "version_id": self.version_id,
            "etag": self.etag,
            "format": self.format,
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }
        if self.inline is not None:
            image["inline_b64"] = base64.b64encode(self.inline).decode("ascii")
        if self.prepared is not None:
            image["prepared"] = {
                "content_type": "image/png",
                "size_bytes": len(self.prepared),
                "sha256": hashlib.sha256(self.prepared).hexdigest(),
                "inline_b64": base64.b64encode(self.prepared).decode("ascii"),
            }
        return {"image": image}

    @classmethod
    def from_dict(cls, event: object) -> ImageDocument:
        image = require_mapping(require_event(event).get("image"), "image")
        content_type = image.get("content_type")
        if content_type not in CONTENT_TYPES.values():
            raise InvalidEvent(
                f"image.content_type must be one of {sorted(CONTENT_TYPES.values())}"
            )
        bucket, key = s3_location(image)
        return cls(
            content_type=str(content_type),
            s3_bucket=bucket,
            s3_key=key,
            version_id=optional_str(image, "version_id", 1024),
            etag=optional_str(image, "etag", 1024),
            inline=_decode_inline(image, "image"),
            sha256=optional_str(image, "sha256", 64),
            prepared=_prepared(image),
            format=_optional_text(image, "format"),
            width=_optional_int(image, "width"),
            height=_optional_int(image, "height"),
            size_bytes=_optional_int(image, "size_bytes"),
        )


def _requested_threshold(event: Mapping[str, Any]) -> object:
    """The threshold override, unchecked: top-level `threshold`, else the request's `threshold`,
    else its `options.threshold` (the batch's item shape); None when absent."""
    override = event.get("threshold")
    request = event.get("request")
    if override is None and isinstance(request, Mapping):
        override = request.get("threshold")
        options = request.get("options")
        if override is None and isinstance(options, Mapping):
            override = options.get("threshold")
    return override


@dataclass(frozen=True)
class ExecutionOptions:
    """The per-execution options of a request, read only here: so far the threshold override
    (null or absent: the stage's threshold), which may only raise the stage's threshold.
    `to_dict()` is the batch items' `options` shape."""

    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {} if self.threshold is None else {"threshold": self.threshold}

    @classmethod
    def from_dict(cls, event: object) -> ExecutionOptions:
        override = _requested_threshold(require_event(event))
        if override is None:
            return cls()
        threshold = require_number(override, "threshold")
        if not 0.0 < threshold < 1.0:
            raise InvalidEvent(f"threshold {threshold} must lie strictly between 0 and 1")
        return cls(threshold)

    def threshold_over(self, deployed: float) -> float:
        """The threshold this execution decides at: the override, else the deployed one."""
        if self.threshold is None:
            return deployed
        if self.threshold < deployed:
            raise ThresholdBelowDeployed(
                f"threshold {self.threshold} is below the deployed threshold {deployed}: "
                "an execution may only raise it"
            )
        return self.threshold


def _choice(found: Mapping[str, Any], name: str, choices: tuple[str, ...], what: str) -> str:
    value = found.get(name)
    if value not in choices:
        raise InvalidEvent(f"{what}.{name} must be one of {choices}, got {value!r}")
    return str(value)


def _reviewer(found: Mapping[str, Any], what: str) -> str:
    """Who answered: a non-empty name, surrounding blanks dropped."""
    value = found.get("reviewer")
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REVIEWER_CHARS:
        raise InvalidEvent(
            f"{what}.reviewer must be a non-empty string of at most {MAX_REVIEWER_CHARS} characters"
        )
    return value.strip()


def _share(found: Mapping[str, Any], name: str, what: str) -> float:
    value = require_number(found.get(name), f"{what}.{name}")
    if not 0.0 <= value <= 1.0:
        raise InvalidEvent(f"{what}.{name} must lie in [0, 1], got {value}")
    return value


def _absent(found: Mapping[str, Any], names: tuple[str, ...], what: str, why: str) -> None:
    for name in names:
        if found.get(name) is not None:
            raise InvalidEvent(f"{what}.{name} is not part of {why}")


@dataclass(frozen=True)
class ReviewAnswer:
    """A reviewer -> the waiting review execution: the SendTaskSuccess output `{label, reviewer}`
    (review tool, demo), which the review machine hands on as `review` to record_label (its one
    Lambda step, ApplyAnswer: route, record, outcome). The human's label is final."""

    label: str
    reviewer: str

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "reviewer": self.reviewer}

    @classmethod
    def from_dict(cls, answer: object, what: str = "review") -> ReviewAnswer:
        found = require_mapping(answer, what)
        return cls(_choice(found, "label", REVIEW_LABELS, what), _reviewer(found, what))

    @classmethod
    def in_event(cls, event: object) -> ReviewAnswer | None:
        """The event's `review`, or None when it has none (absent or null)."""
        answer = require_event(event).get("review")
        return None if answer is None else cls.from_dict(answer)


MODEL_ACTIONS = ("route", "review")
REVIEWED_ACTIONS = ("route", "reject")


@dataclass(frozen=True)
class DecisionDocument:
    """filter_inferences -> the machines (their Choice reads `action`), the review machine and
    record_label (`decision`).

    The model's decision (no reviewer): `route` when the confidence reaches the threshold, with
    the label's loading bay and order radius; else `review`, reason `low_confidence`; a confident
    image sampled for audit is `review`, reason `audit`. A reviewer's decision (the review
    machine's ApplyAnswer): `route` by the human's label, or `reject` an image that shows no
    vehicle (`lambdas.shared.routing.decide_reviewed`, called by record_label); it names the
    reviewer and has no confidence, threshold or reason."""

    action: str
    label: str
    confidence: float | None = None
    threshold: float | None = None
    reason: str | None = None
    loading_bay: str | None = None
    order_radius_km: float | None = None
    reviewer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        decision: dict[str, Any] = {"label": self.label}
        if self.reviewer is None:
            decision.update(confidence=self.confidence, threshold=self.threshold)
        else:
            decision["reviewer"] = self.reviewer
        decision["action"] = self.action
        if self.reason is not None:
            decision["reason"] = self.reason
        if self.action == "route":
            decision.update(loading_bay=self.loading_bay, order_radius_km=self.order_radius_km)
        return {"decision": decision}

    @classmethod
    def from_dict(cls, event: object) -> DecisionDocument:
        found = require_mapping(require_event(event).get("decision"), "decision")
        decision = cls._model(found) if found.get("reviewer") is None else cls._reviewed(found)
        if decision.action != "route":
            _absent(
                found,
                ("loading_bay", "order_radius_km"),
                "decision",
                f"a decision to {decision.action}",
            )
            return decision
        bay = found.get("loading_bay")
        if not isinstance(bay, str) or not bay.strip():
            raise InvalidEvent("decision.loading_bay must be a non-empty string")
        radius = require_number(found.get("order_radius_km"), "decision.order_radius_km")
        if not 0.0 < radius <= MAX_ORDER_RADIUS_KM:
            raise InvalidEvent(
                f"decision.order_radius_km must lie in (0, {MAX_ORDER_RADIUS_KM:g}], got {radius}"
            )
        return replace(decision, loading_bay=bay, order_radius_km=radius)

    @classmethod
    def _model(cls, found: Mapping[str, Any]) -> DecisionDocument:
        action = _choice(found, "action", MODEL_ACTIONS, "decision")
        confidence = _share(found, "confidence", "decision")
        threshold = _share(found, "threshold", "decision")
        if action == "route":
            _absent(found, ("reason",), "decision", "a decision to route")
            if confidence < threshold:
                raise InvalidEvent("decision routes below decision.threshold")
            reason = None
        else:
            reason = _choice(found, "reason", REVIEW_REASONS, "decision")
            if (reason == "low_confidence") != (confidence < threshold):
                raise InvalidEvent(
                    f"decision.reason {reason} does not fit confidence {confidence} at "
                    f"threshold {threshold}"
                )
        return cls(
            action=action,
            label=_choice(found, "label", LABELS, "decision"),
            confidence=confidence,
            threshold=threshold,
            reason=reason,
        )

    @classmethod
    def _reviewed(cls, found: Mapping[str, Any]) -> DecisionDocument:
        _absent(found, ("confidence", "threshold", "reason"), "decision", "a reviewer's decision")
        action = _choice(found, "action", REVIEWED_ACTIONS, "decision")
        label = _choice(found, "label", REVIEW_LABELS, "decision")
        if (action == "reject") != (label == NOT_A_VEHICLE):
            raise InvalidEvent(f"decision.action {action} does not fit the label {label}")
        return cls(action=action, label=label, reviewer=_reviewer(found, "decision"))
