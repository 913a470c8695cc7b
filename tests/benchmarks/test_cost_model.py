"""The cost model's arithmetic on hand-computed cases (prices of benchmarks.cost_model)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from benchmarks.bench_costs import (
    WORKFLOW_GOAL_PER_MILLION,
    Assumptions,
    outcome_weights,
    review_share_at_goal,
    workflow_per_million,
)
from benchmarks.cost_model import (
    GB,
    HOURS_PER_MONTH,
    CostModelError,
    Endpoint,
    Fixed,
    ImageUsage,
    LambdaCall,
    endpoint_month,
    instances_needed,
    lambda_per_image,
    off_hours_per_month,
    per_million,
    stage_month,
    target_invocations_per_instance,
    workflow_per_image,
    xray_traces_per_image,
)
from benchmarks.stage_settings import endpoint_defaults, literal_assignments, read_stage
from benchmarks.workflow_usage import PathCount


def test_standard_workflow_costs_a_transition_each():
    # 7 transitions x $0.025 per 1,000 = $175 per million images.
    usage = ImageUsage(standard_transitions=7)
    assert workflow_per_image(usage) * 1_000_000 == pytest.approx(175.0)


def test_express_bills_a_request_plus_64_mb_for_each_started_100_ms():
    # 250 ms bills 300 ms: 0.3 s x 0.0625 GB x $0.00001667 + $0.000001.
    usage = ImageUsage(express_executions=1, express_duration_ms=250)
    assert workflow_per_image(usage) == pytest.approx(0.3 * 0.0625 * 0.00001667 + 0.000001)


def test_lambda_rounds_each_call_up_to_the_millisecond_and_prices_by_architecture():
    call = LambdaCall(memory_mb=1024, duration_ms=20.2)
    assert call.gb_seconds == pytest.approx(0.021)
    usage = ImageUsage(lambda_requests=4, lambda_gb_seconds=0.021)
    assert lambda_per_image(usage, "x86_64") == pytest.approx(4 * 0.0000002 + 0.021 * 0.0000166667)
    assert lambda_per_image(usage, "arm64") == pytest.approx(4 * 0.0000002 + 0.021 * 0.0000133334)
    with pytest.raises(CostModelError):
        lambda_per_image(usage, "sparc")
    with pytest.raises(CostModelError):
        LambdaCall(memory_mb=64, duration_ms=1)


def test_an_idle_endpoint_costs_its_floor_around_the_clock():
    endpoint = Endpoint("ml.m5.large", min_capacity=1, max_capacity=2)
    # 100,000 images a month is 0.04/s: one instance, 730 h x $0.115.
    assert endpoint_month(endpoint, 100_000, 2.5, 0.2, 3000) == pytest.approx(83.95)


def test_a_busy_endpoint_scales_out_until_its_maximum_and_off_hours_hold_the_floor():
    # 3,000,000 a month = 1.14/s; 0.25/s per vCPU x 4 vCPUs = 1/s per instance: 2 needed.
    assert instances_needed(3_000_000, 1.0) == 2
    endpoint = Endpoint("ml.m5.xlarge", min_capacity=1, max_capacity=6, off_hours_per_month=100)
    assert endpoint_month(endpoint, 3_000_000, 0.25, 0.2, 3000) == pytest.approx(
        (2 * 630 + 1 * 100) * 0.23
    )
    capped = Endpoint("ml.m5.xlarge", min_capacity=1, max_capacity=1)
    assert endpoint_month(capped, 3_000_000, 0.25, 0.2, 3000) == pytest.approx(730 * 0.23)
    with pytest.raises(CostModelError, match="no price"):
        endpoint_month(Endpoint("ml.p9.large"), 1, 1, 1, 1)


def test_serverless_bills_memory_seconds_and_data():
    endpoint = Endpoint(serverless=True, serverless_memory_mb=2048)
    # 1M x 0.2 s x 2 GB x $0.00002 = $8, plus 1M x 3000 B at $0.016/GB.
    expected = 8.0 + 1_000_000 * 3000 / GB * 0.016
    assert endpoint_month(endpoint, 1_000_000, 2.5, 0.2, 3000) == pytest.approx(expected)


def test_weekday_nights_and_weekends_off():
    # Down 20:00 and up 07:00 Monday-Friday: four 11 h nights + Friday 20:00 to Monday 07:00
    # (59 h) = 103 of the week's 168 hours.
    hours = off_hours_per_month("cron(0 20 ? * MON-FRI *)", "cron(0 7 ? * MON-FRI *)")
    assert hours == pytest.approx(103 / 168 * HOURS_PER_MONTH)
    nightly = off_hours_per_month("cron(30 22 ? * * *)", "cron(30 6 ? * * *)")
    assert nightly == pytest.approx(56 / 168 * HOURS_PER_MONTH)
    for bad in ("cron(0 25 ? * MON *)", "rate(1 hour)", "cron(0 7 ? * MOON *)"):
        with pytest.raises(CostModelError):
            off_hours_per_month(bad, "cron(0 7 ? * MON-FRI *)")


def test_xray_samples_one_a_second_then_five_percent():
    assert xray_traces_per_image(0.5) == 1.0
    assert xray_traces_per_image(3.0) == pytest.approx((1 + 0.05 * 2) / 3)


def test_autoscaling_target_is_half_the_measured_maximum_per_minute():
    assert target_invocations_per_instance(5.0) == 150
    with pytest.raises(CostModelError):
        target_invocations_per_instance(0)


def test_stage_month_adds_the_components_and_per_million_divides():
    usage = ImageUsage(standard_transitions=7, s3_puts=2, s3_gets=1, log_bytes=GB / 1_000_000)
    month = stage_month(
        usage, Endpoint(), Fixed(kms_keys=1, metrics=10, alarms=20), 1_000_000, 2.5, 0.2, 3000
    )
    assert month["workflow"] == pytest.approx(175.0)
    assert month["s3"] == pytest.approx(2 * 5.0 + 0.4)
    assert month["logs"] == pytest.approx(0.53)
    assert month["kms"] == 1.0 and month["cloudwatch"] == pytest.approx(3.0 + 2.0)
    assert month["budgets"] == pytest.approx(0.02 * 730 / 24)  # beyond the account's free two
    assert month["total"] == pytest.approx(sum(v for k, v in month.items() if k != "total"))
    assert per_million(month, 2_000_000)["workflow"] == pytest.approx(87.5)
    with pytest.raises(CostModelError):
        per_million(month, 0)


def test_usage_figures_must_be_finite_and_not_negative():
    with pytest.raises(CostModelError, match="s3_puts"):
        ImageUsage(s3_puts=-1)
    with pytest.raises(CostModelError):
        ImageUsage(log_bytes=math.inf)
    with pytest.raises(CostModelError):
        Endpoint(min_capacity=3, max_capacity=2)


def test_outcome_mix_sums_to_one():
    weights = outcome_weights(Assumptions(review_share=0.4, rejected_share=0.1, invalid_share=0.05))
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["Rejected"] == pytest.approx(0.4 * 0.95 * 0.1)


def test_the_default_review_share_is_the_measured_coverage_plus_the_audit():
    # README "Quality": coverage 0.825; filter_inferences audits 2 % of the confident images.
    assert Assumptions().review_share == pytest.approx(0.175 + 0.02 * 0.825)


def test_the_workflow_goal_is_crossed_where_the_review_transitions_reach_it():
    """Only reviews pay per transition: 2 Standard transitions each (AskReviewer, ApplyAnswer)
    at $25 per million transitions, on top of one Express request per image."""
    express = {"express_executions": 1, "express_invocations": Counter(classify_image=1)}
    paths = [
        PathCount("Routed", **express),
        PathCount("RoutedByReviewer", standard_transitions=2, **express),
        PathCount("Rejected", standard_transitions=2, **express),
        PathCount("InvalidImage", **express),
    ]
    none = workflow_per_million(paths, Assumptions(review_share=0.0))
    every = workflow_per_million(paths, Assumptions(review_share=1.0))
    assert every - none == pytest.approx(0.99 * 2 * 25.0)  # 1 % of the images are invalid
    crossing = review_share_at_goal(paths, Assumptions())
    at_crossing = workflow_per_million(paths, Assumptions(review_share=crossing))
    assert at_crossing == pytest.approx(WORKFLOW_GOAL_PER_MILLION)
    assert workflow_per_million(paths, Assumptions()) < WORKFLOW_GOAL_PER_MILLION


def test_literal_assignments_flatten_blocks_and_skip_expressions():
    values = literal_assignments(
        'module "system" {\n  n = 12\n  x = var.y\n  endpoint = {\n    t = "ml.c6i.large"\n'
        "    on = true\n  }\n  after = 1.5 # why\n}\n"
    )
    assert values == {
        "module.n": 12.0,
        "module.endpoint.t": "ml.c6i.large",
        "module.endpoint.on": True,
        "module.after": 1.5,
    }


def test_the_stage_roots_configure_traffic_and_sizing():
    dev, prod = read_stage("dev"), read_stage("prod")
    assert dev.images_per_month > 0 and prod.images_per_month > dev.images_per_month
    assert (
        dev.endpoint.min_capacity >= 1 and prod.endpoint.max_capacity >= prod.endpoint.min_capacity
    )
    defaults = endpoint_defaults(
        'variable "endpoint" {\n  type = object({\n    a = optional(number, 200)\n  })\n}\n'
    )
    assert defaults == {"a": 200.0}
