"""Pure logic of filter_inferences: the confidence threshold and the routing decision.

The threshold is the stage's (`CONFIDENCE_THRESHOLD`, required: Terraform sets it from the
promoted model's decision.json or the stage's pin). An image is routed iff its top probability
is >= the threshold. A per-execution `threshold` may only raise it: a lower one is refused
(`ThresholdBelowDeployed`), since it would route on less confidence than the model earned.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contract import CLASS_NAMES
from lambdas.shared.config import env_float, env_json
from lambdas.shared.documents import ClassificationDocument
from lambdas.shared.errors import ConfigurationError, InvalidEvent, ThresholdBelowDeployed
from lambdas.shared.events import (
    requested_threshold,
    require_event,
    require_mapping,
    require_number,
)

LABELS = CLASS_NAMES
# What a reviewer may answer: one of the vehicle types, or that the image shows neither.
REVIEW_LABELS = (*LABELS, "not_a_vehicle")
# Share of confident images sent to review anyway, so routed accuracy is measured live.
DEFAULT_AUDIT_SAMPLE_RATE = 0.02
# Where each vehicle type loads and how far its orders may be; overridden by ROUTING_RULES.
DEFAULT_ROUTING_RULES: dict[str, dict[str, Any]] = {
    "bicycle": {"loading_bay": "bay-bicycle", "order_radius_km": 3.0},
    "motorcycle": {"loading_bay": "bay-motorcycle", "order_radius_km": 15.0},
}

# Half the Earth's circumference: any radius beyond it is a typo, not a delivery area.
MAX_ORDER_RADIUS_KM = 20_000.0


@dataclass(frozen=True)
class Route:
    loading_bay: str
    order_radius_km: float


@dataclass(frozen=True)
class FilterSettings:
    threshold: float
    routes: Mapping[str, Route]
    audit_sample_rate: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FilterSettings:
        threshold = env_float(env, "CONFIDENCE_THRESHOLD", None, 0.0, 1.0)
        rules = env_json(env, "ROUTING_RULES", DEFAULT_ROUTING_RULES)
        return cls(
            threshold=threshold,
            routes=parse_routes(rules),
            audit_sample_rate=parse_audit_sample_rate(env.get("AUDIT_SAMPLE_RATE", "")),
        )


def parse_audit_sample_rate(raw: str) -> float:
    """AUDIT_SAMPLE_RATE in [0, 1]: 0 never audits, 1 sends every confident image to review."""
    if not raw.strip():
        return DEFAULT_AUDIT_SAMPLE_RATE
    try:
        rate = float(raw)
    except ValueError:
        raise ConfigurationError(f"AUDIT_SAMPLE_RATE={raw!r} is not a number") from None
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ConfigurationError(f"AUDIT_SAMPLE_RATE={rate} must lie in [0, 1]")
    return rate


def parse_routes(rules: object) -> dict[str, Route]:
    if not isinstance(rules, dict) or set(rules) != set(LABELS):
        raise ConfigurationError(f"ROUTING_RULES must be an object with exactly the keys {LABELS}")
    routes = {}
    for label in LABELS:
        rule = rules[label]
        bay = rule.get("loading_bay") if isinstance(rule, dict) else None
        radius = rule.get("order_radius_km") if isinstance(rule, dict) else None
        if not isinstance(bay, str) or not bay.strip():
            raise ConfigurationError(
                f"ROUTING_RULES.{label}.loading_bay must be a non-empty string"
            )
        if (
            isinstance(radius, bool)
            or not isinstance(radius, int | float)
            or not 0 < radius <= MAX_ORDER_RADIUS_KM  # (False for NaN and infinity)
        ):
            raise ConfigurationError(
                f"ROUTING_RULES.{label}.order_radius_km must be a number in "
                f"(0, {MAX_ORDER_RADIUS_KM:g}]"
            )
        routes[label] = Route(loading_bay=bay, order_radius_km=float(radius))
    return routes


def parse_event(event: object, deployed_threshold: float) -> tuple[ClassificationDocument, float]:
    """The classification to judge and the threshold that applies to this execution.

    A per-execution override comes as `request.threshold` or `request.options.threshold` (the
    batch's item shape), or top-level `threshold`; null or absent means the deployed threshold.
    An override below the deployed threshold raises `ThresholdBelowDeployed`.
    """
    found = ClassificationDocument.from_dict(event)
    override = requested_threshold(require_event(event))
    threshold = deployed_threshold
    if override is not None:
        threshold = require_number(override, "threshold")
        if not 0.0 < threshold < 1.0:
            raise InvalidEvent(f"threshold {threshold} must lie strictly between 0 and 1")
        if threshold < deployed_threshold:
            raise ThresholdBelowDeployed(
                f"threshold {threshold} is below the deployed threshold {deployed_threshold}: "
                "an execution may only raise it"
            )
    return found, threshold


def decide(
    found: ClassificationDocument,
    threshold: float,
    routes: Mapping[str, Route],
    audit_sample_rate: float = 0.0,
    draw: Callable[[], float] = lambda: 1.0,
) -> dict[str, Any]:
    """Route when the top probability reaches the threshold; otherwise ask a human.

    A confident image still goes to review, reason `audit`, when `draw()` (uniform in [0, 1),
    injected so tests are deterministic) falls below `audit_sample_rate`.
    """
    decision: dict[str, Any] = {
        "label": found.label,
        "confidence": found.confidence,
        "threshold": threshold,
    }
    if found.confidence < threshold:
        decision.update(action="review", reason="low_confidence")
    elif audit_sample_rate > 0.0 and draw() < audit_sample_rate:
        decision.update(action="review", reason="audit")
    else:
        route = routes[found.label]
        decision.update(
            action="route",
            loading_bay=route.loading_bay,
            order_radius_km=route.order_radius_km,
        )
    return {"decision": decision}


def audit_draw(inference_id: str) -> float:
    """A uniform number in [0, 1) fixed by the inference id: the audit sample draws it, so a
    repeated run of the same inference (Express runs at least once) decides the same way."""
    digest = hashlib.sha256(inference_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class ReviewAnswer:
    label: str
    reviewer: str


def parse_review(event: object) -> ReviewAnswer | None:
    """The reviewer's answer (`review`: the SendTaskSuccess output), or None when there is none."""
    body = require_mapping(event, "event")
    if body.get("review") is None:
        return None
    answer = require_mapping(body["review"], "review")
    label = answer.get("label")
    if label not in REVIEW_LABELS:
        raise InvalidEvent(f"review.label must be one of {REVIEW_LABELS}, got {label!r}")
    reviewer = answer.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip() or len(reviewer) > 256:
        raise InvalidEvent("review.reviewer must be a non-empty string of at most 256 characters")
    return ReviewAnswer(label=str(label), reviewer=reviewer.strip())


def decide_reviewed(answer: ReviewAnswer, routes: Mapping[str, Route]) -> dict[str, Any]:
    """The human's label is final: route by it, or reject an image that shows no vehicle."""
    decision: dict[str, Any] = {"label": answer.label, "reviewer": answer.reviewer}
    if answer.label in routes:
        route = routes[answer.label]
        decision.update(
            action="route", loading_bay=route.loading_bay, order_radius_km=route.order_radius_km
        )
    else:
        decision.update(action="reject")
    return {"decision": decision}
