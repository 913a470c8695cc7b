"""The routing rules: where each vehicle type loads and how far its orders may be.

One statement for both deciders: filter_inferences routes the model's confident decisions by
them, record_label routes a reviewer's answer by them (the review machine's one Lambda step).
Both read `ROUTING_RULES` from their environment, which Terraform sets from one value (the
system module's `routing`, in each stage's main.tf).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.shared.config import env_json
from lambdas.shared.documents import LABELS, MAX_ORDER_RADIUS_KM, DecisionDocument, ReviewAnswer
from lambdas.shared.errors import ConfigurationError

# Where each vehicle type loads and how far its orders may be; overridden by ROUTING_RULES.
DEFAULT_ROUTING_RULES: dict[str, dict[str, Any]] = {
    "bicycle": {"loading_bay": "bay-bicycle", "order_radius_km": 3.0},
    "motorcycle": {"loading_bay": "bay-motorcycle", "order_radius_km": 15.0},
}


@dataclass(frozen=True)
class Route:
    loading_bay: str
    order_radius_km: float


def routes_from_env(env: Mapping[str, str]) -> dict[str, Route]:
    """The routes of `ROUTING_RULES` (JSON), else the defaults."""
    return parse_routes(env_json(env, "ROUTING_RULES", DEFAULT_ROUTING_RULES))


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
