"""Hostile workflow inputs: each is the typed error its state machine catches, never a crash."""

from __future__ import annotations

import pytest

from lambdas.classify_image.core import parse_event as classify_event
from lambdas.classify_image.core import parse_prediction
from lambdas.filter_inferences.core import parse_event
from lambdas.serialize_image.core import parse_event as serialize_event
from lambdas.shared.errors import ConfigurationError, InvalidEvent, ModelError
from lambdas.shared.routing import DEFAULT_ROUTING_RULES, parse_routes, routes_from_env


@pytest.mark.parametrize(
    "body",
    [
        b"[1" + b"0" * 5000 + b", 0]",  # int(): "exceeds the limit (4300 digits)" ValueError
        b"[1" + b"0" * 400 + b", 0]",  # float(): OverflowError
        b"[" * 100_000 + b"]" * 100_000,
        b"[0.5, 0.5" + b" " * 70_000 + b"]",  # beyond the answer size bound
        b"\xff\xfe\x00[",
    ],
)
def test_endpoint_answers_beyond_bounds_are_model_errors(body: bytes):
    with pytest.raises(ModelError):
        parse_prediction(body, 0.01)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.mark.parametrize("parse", [classify_event, serialize_event, lambda e: parse_event(e, 0.9)])
def test_events_nesting_too_deep_are_invalid_events(parse):
    with pytest.raises(InvalidEvent, match="deeper than"):
        parse({"extra": _nested(10_000)})


@pytest.mark.parametrize(
    ("probabilities", "ok"),
    [
        ((0.95, 0.05), True),
        ((0.995, 0.0), True),  # rounding inside the tolerance
        ((0.95, 0.95), False),  # sums to 1.9
        ((0.6, 0.0), False),
        ((float("inf"), 0.0), False),
        ((float("nan"), 0.5), False),
    ],
)
def test_filter_checks_probabilities_sum_to_one_and_are_finite(probabilities, ok):
    event = {
        "classification": {
            "label": "bicycle",
            "probabilities": dict(zip(("bicycle", "motorcycle"), probabilities, strict=True)),
        }
    }
    if ok:
        assert parse_event(event, 0.9)[0].confidence == probabilities[0]
    else:
        with pytest.raises(InvalidEvent):
            parse_event(event, 0.9)


@pytest.mark.parametrize("radius", [float("inf"), float("nan"), 1e308, 20_001, -1, 0, True, "5"])
def test_routing_rules_refuse_infinite_nan_and_absurd_radii(radius):
    rules = {**DEFAULT_ROUTING_RULES, "bicycle": {"loading_bay": "A", "order_radius_km": radius}}
    with pytest.raises(ConfigurationError, match="order_radius_km"):
        parse_routes(rules)


@pytest.mark.parametrize(
    "raw",
    [
        '{"bicycle": {"loading_bay": "A", "order_radius_km": Infinity}, "motorcycle": {}}',
        '{"bicycle": {"loading_bay": "A", "order_radius_km": 1e999}}',
        "[" * 10_000,
        '{"bicycle": 1' + "0" * 5000 + "}",
    ],
)
def test_routing_rules_json_beyond_bounds_is_a_configuration_error(raw):
    with pytest.raises(ConfigurationError):
        routes_from_env({"ROUTING_RULES": raw})
