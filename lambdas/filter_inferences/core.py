"""Pure logic of filter_inferences: the confidence threshold and the routing decision.

The threshold is the stage's (`CONFIDENCE_THRESHOLD`, required: Terraform sets it from the
promoted model's decision.json or the stage's pin). An image is routed iff its top probability
is >= the threshold. A per-execution `threshold` (`ExecutionOptions`) may only raise it: a
lower one is refused (`ThresholdBelowDeployed`), since it would route on less confidence than the
model earned. What it hands on is a `DecisionDocument`. The routing rules are
`lambdas.shared.routing`'s (record_label routes a reviewer's answer by the same ones).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from lambdas.shared.config import env_float
from lambdas.shared.documents import ClassificationDocument, DecisionDocument, ExecutionOptions
from lambdas.shared.errors import ConfigurationError
from lambdas.shared.routing import Route, routes_from_env

# Share of confident images sent to review anyway, so routed accuracy is measured live.
DEFAULT_AUDIT_SAMPLE_RATE = 0.02


@dataclass(frozen=True)
class FilterSettings:
    threshold: float
    routes: Mapping[str, Route]
    audit_sample_rate: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FilterSettings:
        threshold = env_float(env, "CONFIDENCE_THRESHOLD", None, 0.0, 1.0)
        return cls(
            threshold=threshold,
            routes=routes_from_env(env),
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
