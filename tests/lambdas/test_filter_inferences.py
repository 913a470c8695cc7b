"""filter_inferences: threshold, per-execution override (may only raise it), routing rules from
configuration."""

from __future__ import annotations

import io
import json

import pytest

from lambdas.filter_inferences import handler as filter_handler
from lambdas.filter_inferences.core import (
    FilterSettings,
    audit_draw,
    decide,
    parse_audit_sample_rate,
    parse_event,
)
from lambdas.shared.documents import ReviewAnswer
from lambdas.shared.errors import ConfigurationError, InvalidEvent, ThresholdBelowDeployed
from lambdas.shared.routing import DEFAULT_ROUTING_RULES, decide_reviewed, parse_routes
from tests.lambdas.context import Context

ROUTES = parse_routes(DEFAULT_ROUTING_RULES)
DEPLOYED = 0.85  # any stage threshold; the real one comes from the promoted model


def event(label="bicycle", p=(0.95, 0.05), **extra) -> dict:
    probabilities = {"bicycle": p[0], "motorcycle": p[1]}
    return {"classification": {"label": label, "probabilities": probabilities}, **extra}


def test_confident_classification_is_routed():
    found, threshold = parse_event(event(), DEPLOYED)
    decision = decide(found, threshold, ROUTES).to_dict()["decision"]
    assert decision == {
        "label": "bicycle",
        "confidence": 0.95,
        "threshold": DEPLOYED,
        "action": "route",
        "loading_bay": "bay-bicycle",
        "order_radius_km": 3.0,
    }


def test_threshold_is_inclusive_and_below_goes_to_review():
    at, _ = parse_event(event(p=(0.85, 0.15)), DEPLOYED)
    assert decide(at, DEPLOYED, ROUTES).action == "route"
    below, _ = parse_event(event("motorcycle", (0.151, 0.849)), DEPLOYED)
    assert decide(below, DEPLOYED, ROUTES).action == "review"


def override(place: str, threshold: object) -> dict:
    """A threshold override where an execution may carry it: top level, request, request options."""
    return {
        "top": {"threshold": threshold},
        "request": {"request": {"threshold": threshold}},
        "options": {"request": {"options": {"threshold": threshold}}},
    }[place]


@pytest.mark.parametrize("place", ["top", "request", "options"])
def test_threshold_override_may_raise_the_deployed_one(place):
    found, threshold = parse_event(event(**override(place, 0.97)), DEPLOYED)
    assert threshold == 0.97
    assert decide(found, threshold, ROUTES).action == "review"  # 0.95 < 0.97


def test_an_override_equal_to_the_deployed_threshold_is_accepted():
    assert parse_event(event(threshold=DEPLOYED), DEPLOYED)[1] == DEPLOYED


@pytest.mark.parametrize(("place", "below"), [("top", 0.5), ("request", 0.84), ("options", 0.1)])
def test_threshold_override_below_the_deployed_one_is_refused(place, below):
    with pytest.raises(ThresholdBelowDeployed, match=r"below the deployed threshold 0\.85"):
        parse_event(event(**override(place, below)), DEPLOYED)
    assert issubclass(ThresholdBelowDeployed, InvalidEvent)


@pytest.mark.parametrize("threshold", [0, 1, 1.5, -0.1, "0.9", True, float("nan")])
def test_invalid_threshold_override(threshold):
    with pytest.raises(InvalidEvent):
        parse_event(event(threshold=threshold), DEPLOYED)


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
        parse_event(bad, DEPLOYED)


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
    for bad in (
        {"CONFIDENCE_THRESHOLD": "1"},
        {"CONFIDENCE_THRESHOLD": "0.8", "ROUTING_RULES": "{nope"},
    ):
        with pytest.raises(ConfigurationError):
            FilterSettings.from_env(bad)


@pytest.mark.parametrize("env", [{}, {"CONFIDENCE_THRESHOLD": " "}, {"ROUTING_RULES": "{}"}])
def test_the_threshold_setting_is_required(env):
    """No built-in default: the stage's threshold comes from the promoted model only."""
    with pytest.raises(ConfigurationError, match="CONFIDENCE_THRESHOLD is required"):
        FilterSettings.from_env(env)


@pytest.mark.parametrize("raw", ["0", "1", "-0.2", "nan", "inf", "high"])
def test_an_invalid_threshold_setting_is_a_configuration_error(raw):
    with pytest.raises(ConfigurationError, match="CONFIDENCE_THRESHOLD"):
        FilterSettings.from_env({"CONFIDENCE_THRESHOLD": raw})


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_handler_logs_json_with_the_execution_id(monkeypatch, capsys):
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.9")
    monkeypatch.setenv("AUDIT_SAMPLE_RATE", "0")
    filter_handler.settings.cache_clear()
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


@pytest.mark.parametrize(
    ("bad_event", "error"),
    [({"classification": "?"}, InvalidEvent), (event(threshold=0.5), ThresholdBelowDeployed)],
)
def test_handler_counts_errors_and_reraises_them_typed(monkeypatch, capsys, bad_event, error):
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.9")
    filter_handler.settings.cache_clear()
    with pytest.raises(error):
        filter_handler.handler(bad_event, Context())
    metrics = next(line for line in json_lines(capsys.readouterr().out) if "_aws" in line)
    assert metrics[error.__name__] == [1.0]


def test_handler_without_the_setting_fails_as_a_configuration_error(monkeypatch):
    monkeypatch.delenv("CONFIDENCE_THRESHOLD", raising=False)
    filter_handler.settings.cache_clear()
    with pytest.raises(ConfigurationError, match="CONFIDENCE_THRESHOLD is required"):
        filter_handler.handler(event(), Context())


def test_below_the_threshold_is_reviewed_for_low_confidence():
    found, _ = parse_event(event(p=(0.6, 0.4)), 0.93)
    decision = decide(found, 0.93, ROUTES, audit_sample_rate=1.0, draw=lambda: 0.0).to_dict()[
        "decision"
    ]
    assert (decision["action"], decision["reason"]) == ("review", "low_confidence")
    assert "loading_bay" not in decision


@pytest.mark.parametrize(
    ("rate", "draw", "action"),
    [(0.02, 0.0199, "review"), (0.02, 0.02, "route"), (0.0, 0.0, "route"), (1.0, 0.9999, "review")],
)
def test_audit_sample_of_confident_images(rate, draw, action):
    found, _ = parse_event(event(p=(0.99, 0.01)), 0.93)
    decision = decide(found, 0.93, ROUTES, audit_sample_rate=rate, draw=lambda: draw).to_dict()[
        "decision"
    ]
    assert decision["action"] == action
    if action == "review":
        assert decision["reason"] == "audit"
    else:
        assert decision["loading_bay"] == "bay-bicycle" and "reason" not in decision


def test_audit_sample_rate_setting():
    assert parse_audit_sample_rate("") == 0.02
    assert parse_audit_sample_rate("0") == 0.0
    assert parse_audit_sample_rate("1") == 1.0
    settings = FilterSettings.from_env({"CONFIDENCE_THRESHOLD": "0.9", "AUDIT_SAMPLE_RATE": "0.1"})
    assert settings.audit_sample_rate == 0.1
    for bad in ("-0.1", "1.5", "nan", "often"):
        with pytest.raises(ConfigurationError, match="AUDIT_SAMPLE_RATE"):
            parse_audit_sample_rate(bad)


def test_the_reviewers_label_is_routed_or_rejected():
    routed = decide_reviewed(ReviewAnswer("motorcycle", "rev-1"), ROUTES).to_dict()["decision"]
    assert routed == {
        "label": "motorcycle",
        "reviewer": "rev-1",
        "action": "route",
        "loading_bay": "bay-motorcycle",
        "order_radius_km": 15.0,
    }
    rejected = decide_reviewed(ReviewAnswer("not_a_vehicle", "rev-1"), ROUTES).to_dict()["decision"]
    assert rejected == {"label": "not_a_vehicle", "reviewer": "rev-1", "action": "reject"}


@pytest.mark.parametrize(
    "review",
    [
        {"label": "cat", "reviewer": "r"},
        {"label": "bicycle"},
        {"label": "bicycle", "reviewer": "  "},
        {"label": "bicycle", "reviewer": 7},
        {"label": "bicycle", "reviewer": "r" * 257},
        "bicycle",
    ],
)
def test_invalid_review_answers(review):
    with pytest.raises(InvalidEvent):
        ReviewAnswer.in_event({"review": review})


def test_handler_no_longer_takes_a_review_answer(monkeypatch):
    """The review machine routes a reviewer's answer in record_label (its one Lambda step);
    an answer sent here is no classification to decide on."""
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.9")
    filter_handler.settings.cache_clear()
    answer = {"review": {"label": "bicycle", "reviewer": "rev-9"}, "execution_id": "e"}
    with pytest.raises(InvalidEvent, match="classification"):
        filter_handler.handler(answer, Context())


def test_the_audit_draw_is_fixed_by_the_inference_id():
    """Express runs at least once: a repeated run of one inference must decide the same way."""
    draws = [audit_draw(f"id-{n}") for n in range(2000)]
    assert audit_draw("id-7") == draws[7]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert 0.01 < sum(d < 0.02 for d in draws) / len(draws) < 0.03  # uniform enough for 2%


def test_handler_audits_the_same_inference_the_same_way_every_time(monkeypatch, capsys):
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.9")
    monkeypatch.setenv("AUDIT_SAMPLE_RATE", "0.5")
    filter_handler.settings.cache_clear()
    actions = {}
    for n in range(40):
        confident = event(p=(0.99, 0.01))
        confident["classification"]["inference_id"] = f"inference-{n}"
        runs = {filter_handler.handler(confident, Context())["decision"]["action"] for _ in "ab"}
        assert len(runs) == 1
        actions[n] = runs.pop()
        assert actions[n] == ("review" if audit_draw(f"inference-{n}") < 0.5 else "route")
    assert set(actions.values()) == {"review", "route"}
    filter_handler.settings.cache_clear()
