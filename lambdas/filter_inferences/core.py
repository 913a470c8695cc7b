"""Pure logic of filter_inferences: the confidence threshold and the routing decision.

The threshold is the stage's (`CONFIDENCE_THRESHOLD`, required: Terraform sets it from the
promoted model's decision.json or the stage's pin). An image is routed iff its top probability
is >= the threshold. A per-execution `threshold` (`ExecutionOptions`) may only raise it: a
lower one is refused (`ThresholdBelowDeployed`), since it would route on less confidence than the
model earned. What it hands on is a `DecisionDocument`; a reviewer's answer is a `ReviewAnswer`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from contract import CLASS_NAMES
from lambdas.shared.config import env_float, env_json
from lambdas.shared.documents import (
    MAX_ORDER_RADIUS_KM,
    ClassificationDocument,
    DecisionDocument,
    ExecutionOptions,
    ReviewAnswer,
)
from lambdas.shared.errors import ConfigurationError

LABELS = CLASS_NAMES
# Share of confident images sent to review anyway, so routed accuracy is measured live.
DEFAULT_AUDIT_SAMPLE_RATE = 0.02
# Where each vehicle type loads and how far its orders may be; overridden by ROUTING_RULES.
DEFAULT_ROUTING_RULES: dict[str, dict[str, Any]] = {
    "bicycle": {"loading_bay": "bay-bicycle", "order_radius_km": 3.0},
    "motorcycle": {"loading_bay": "bay-motorcycle", "order_radius_km": 15.0},
}


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
    """The classification to judge and the threshold that applies to this execution (the
    request's `ExecutionOptions`: an override below the deployed threshold raises
    `ThresholdBelowDeployed`)."""
    found = ClassificationDocument.from_dict(event)
    return found, ExecutionOptions.from_dict(event).threshold_over(deployed_threshold)


def decide(
    found: ClassificationDocument,
    threshold: float,
    routes: Mapping[str, Route],
    audit_sample_rate: float = 0.0,
    draw: Callable[[], float] = lambda: 1.0,
) -> DecisionDocument:
    """Route when the top probability reaches the threshold; otherwise ask a human.

    A confident image still goes to review, reason `audit`, when `draw()` (uniform in [0, 1),
    injected so tests are deterministic) falls below `audit_sample_rate`.
    """
    asked = DecisionDocument(
        action="review", label=found.label, confidence=found.confidence, threshold=threshold
    )
    if found.confidence < threshold:
        return replace(asked, reason="low_confidence")
    if audit_sample_rate > 0.0 and draw() < audit_sample_rate:
        return replace(asked, reason="audit")
    route = routes[found.label]
    return replace(
        asked,
        action="route",
        loading_bay=route.loading_bay,
        order_radius_km=route.order_radius_km,
    )


def audit_draw(inference_id: str) -> float:
    """A uniform number in [0, 1) fixed by the inference id: the audit sample draws it, so a
    repeated run of the same inference (Express runs at least once) decides the same way."""
    digest = hashlib.sha256(inference_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def decide_reviewed(answer: ReviewAnswer, routes: Mapping[str, Route]) -> DecisionDocument:
    """The human's label is final: route by it, or reject an image that shows no vehicle."""
    if answer.label not in routes:
        return DecisionDocument(action="reject", label=answer.label, reviewer=answer.reviewer)
    route = routes[answer.label]
    return DecisionDocument(
        action="route",
        label=answer.label,
        reviewer=answer.reviewer,
        loading_bay=route.loading_bay,
        order_radius_km=route.order_radius_km,
    )
