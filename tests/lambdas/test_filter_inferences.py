"""filter_inferences: threshold, per-execution override, routing rules from configuration."""

from __future__ import annotations

import io
import json

import pytest

from lambdas.filter_inferences import handler as filter_handler
from lambdas.filter_inferences.core import (
    DEFAULT_ROUTING_RULES,
    FilterSettings,
    decide,
    parse_event,
    parse_routes,
)
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from tests.lambdas.conftest import Context

ROUTES = parse_routes(DEFAULT_ROUTING_RULES)


def event(label="bicycle", p=(0.95, 0.05), **extra) -> dict:
    probabilities = {"bicycle": p[0], "motorcycle": p[1]}
    return {"classification": {"label": label, "probabilities": probabilities}, **extra}


def test_confident_classification_is_routed():
    found, threshold = parse_event(event(), 0.93)
    decision = decide(found, threshold, ROUTES)["decision"]
    assert decision == {
        "label": "bicycle",
        "confidence": 0.95,
        "threshold": 0.93,
        "action": "route",
        "loading_bay": "bay-bicycle",
        "order_radius_km": 3.0,
    }


def test_threshold_is_inclusive_and_below_goes_to_review():
    at, _ = parse_event(event(p=(0.93, 0.07)), 0.93)
    assert decide(at, 0.93, ROUTES)["decision"]["action"] == "route"
    below, _ = parse_event(event("motorcycle", (0.08, 0.92)), 0.93)
    assert decide(below, 0.93, ROUTES)["decision"]["action"] == "review"


@pytest.mark.parametrize(
    "override",
    [
        {"threshold": 0.5},
        {"request": {"threshold": 0.5}},
        {"request": {"options": {"threshold": 0.5}}},
    ],
)
def test_threshold_override_per_execution(override):
    assert parse_event(event(**override), 0.93)[1] == 0.5


@pytest.mark.parametrize("threshold", [0, 1, 1.5, -0.1, "0.9", True, float("nan")])
def test_invalid_threshold_override(threshold):
    with pytest.raises(InvalidEvent):
        parse_event(event(threshold=threshold), 0.93)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"classification": None},
        {"classification": {"label": "car", "probabilities": {"bicycle": 1, "motorcycle": 0}}},
        event(p=("x", 0.1)),
        event(p=(1.2, -0.2)),
        event(label="bicycle", p=(0.1, 0.9)),
    ],
)
def test_malformed_classifications(bad):
    with pytest.raises(InvalidEvent):
        parse_event(bad, 0.93)


@pytest.mark.parametrize(
    "rules",
    [
        [],
        {"bicycle": {"loading_bay": "A", "order_radius_km": 1}},
        {**DEFAULT_ROUTING_RULES, "car": {"loading_bay": "C", "order_radius_km": 1}},
        {**DEFAULT_ROUTING_RULES, "bicycle": {"loading_bay": "", "order_radius_km": 1}},
        {**DEFAULT_ROUTING_RULES, "bicycle": {"loading_bay": "A", "order_radius_km": 0}},
        {**DEFAULT_ROUTING_RULES, "bicycle": "A"},
    ],
)
def test_routing_rules_are_validated(rules):
    with pytest.raises(ConfigurationError):
        parse_routes(rules)


def test_settings_from_env():
    rules = {
        "bicycle": {"loading_bay": "B1", "order_radius_km": 2},
        "motorcycle": {"loading_bay": "M1", "order_radius_km": 12.5},
    }
    settings = FilterSettings.from_env(
        {"CONFIDENCE_THRESHOLD": "0.8", "ROUTING_RULES": json.dumps(rules)}
    )
    assert settings.threshold == 0.8
    assert settings.routes["motorcycle"].loading_bay == "M1"
    for bad in ({"CONFIDENCE_THRESHOLD": "1"}, {"ROUTING_RULES": "{nope"}):
        with pytest.raises(ConfigurationError):
            FilterSettings.from_env(bad)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_handler_logs_json_with_the_execution_id(monkeypatch, capsys):
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.9")
    log_stream = io.StringIO()
    monkeypatch.setattr(filter_handler.logger.registered_handler, "stream", log_stream)
    result = filter_handler.handler(event(execution_id="arn:aws:states:exec-1"), Context())
    assert result["decision"]["threshold"] == 0.9
    logs = json_lines(log_stream.getvalue())
    decided = next(line for line in logs if line.get("message") == "decided")
    assert decided["execution_id"] == "arn:aws:states:exec-1"
    assert decided["level"] == "INFO"
    metrics = next(line for line in json_lines(capsys.readouterr().out) if "_aws" in line)
    names = {m["Name"] for m in metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"Routed", "Succeeded"}


def test_handler_counts_errors_and_reraises_them_typed(capsys):
    with pytest.raises(InvalidEvent):
        filter_handler.handler({"classification": "?"}, Context())
    metrics = next(line for line in json_lines(capsys.readouterr().out) if "_aws" in line)
    assert metrics["InvalidEvent"] == [1.0]
