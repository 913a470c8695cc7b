"""The whole path's cost per stage: per month at its configured traffic and per million images.

    .venv/bin/python -m benchmarks.bench_costs [--images-per-second-per-instance 5] ...

(`benchmarks.bench_serving` prints the same after its timings, with its measured figures.)

1. Runs one image per outcome through the real workflow in the emulator and counts state
   transitions, Express executions, Lambda invocations, label records and log bytes
   (`benchmarks.workflow_usage`).
2. Mixes the outcomes (share sent to review, rejected, invalid uploads: options), adds the
   assumed Lambda durations (serialize_image: the gate's CPU time on a 12 MP phone JPEG
   measured here, scaled to a 1024 MB Lambda's CPU share) and sizes.
3. Prices each stage as its Terraform root configures it (`benchmarks.stage_settings`) with the
   list prices of `benchmarks.cost_model`, and prints the autoscaling target the measured
   throughput per instance implies.
"""

from __future__ import annotations

import argparse
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from PIL import Image

from benchmarks.cost_model import (
    HOURS_PER_MONTH,
    PRICES,
    PRICES_TAKEN,
    REGION,
    Fixed,
    ImageUsage,
    LambdaCall,
    endpoint_month,
    instance_vcpus,
    per_million,
    stage_month,
    target_invocations_per_instance,
    workflow_per_image,
    xray_traces_per_image,
)
from benchmarks.stage_settings import REPO_ROOT, StageSizing, literal_assignments, read_stage
from benchmarks.workflow_usage import PathCount, measure_paths
from contract import DEFAULT_LIMITS
from contract.cli import CliParser
from devkit.photos import phone_jpeg
from lambdas.filter_inferences.core import DEFAULT_AUDIT_SAMPLE_RATE
from lambdas.shared.images import prepare_upload

SYSTEM_MAIN = REPO_ROOT / "terraform" / "modules" / "system" / "main.tf"
DEFAULT_LAMBDA_MEMORY_MB = 256  # the system module's lookup(local.function_memory, k, 256)
# Lambda gets one vCPU at 1769 MB and a share in proportion below it.
FULL_VCPU_MB = 1769
# Billed milliseconds assumed per function besides serialize_image (measured per run): classify
# waits for the endpoint (its latency is added), filter only computes, record_label writes one
# small object.
ASSUMED_MS = {"classify_image": 30.0, "filter_inferences": 5.0, "record_label": 40.0}
S3_READ_MS = 60.0  # serialize_image reading a 3 MB upload from S3 in the same region
LABEL_RECORD_BYTES = 600
CUSTOM_METRICS = 20  # EMF outcome and error counts plus the drift job's metrics, per stage
ALARMS = 26  # tests/terraform/test_stage_plans.py counts them per stage
SERVERLESS_MEMORY_MB = (2048, 3072)
STAGES = ("dev", "prod")  # local runs in the emulator and bills nothing
# The default model's coverage, the share of images routed without a person: README "Quality",
# the 5 fresh folds of seed 1007 pooled (1000 held-out images), each fold at its own threshold
# (the lower of the two measured figures; 0.854 on the 25 screening folds). 0.744 was the
# ensemble with ResNets, 0.585 the uncalibrated 0.93 rule before issue 16.
MEASURED_COVERAGE = 0.825
# Images a person reviews: those below the threshold, plus the audit sample of the confident ones
# (filter_inferences' default AUDIT_SAMPLE_RATE): 0.175 + 0.02 x 0.825 = 0.1915.
DEFAULT_REVIEW_SHARE = (1 - MEASURED_COVERAGE) + DEFAULT_AUDIT_SAMPLE_RATE * MEASURED_COVERAGE
# Issue 18's goal: the workflow at a tenth of its cost per million images before the Express
# path (all Standard, 43 % reviewed: $216.57, this benchmark's figure then).
WORKFLOW_BEFORE_PER_MILLION = 216.57
WORKFLOW_GOAL_PER_MILLION = WORKFLOW_BEFORE_PER_MILLION / 10


@dataclass(frozen=True)
class Assumptions:
    review_share: float = DEFAULT_REVIEW_SHARE
    rejected_share: float = 0.02  # of the reviewed ones
    invalid_share: float = 0.01
    upload_bytes: float = 3_000_000  # a 12 MP phone JPEG
    prepared_bytes: float = 3_000  # the 32x32 PNG sent to the endpoint
    # bench_serving on the default model, idle 2-core VM: 26-28 requests/s per machine (2
    # workers x 1 thread, or 1 x 2), p50 34-77 ms (README "Costs and cost controls").
    images_per_second_per_vcpu: float = 13.0
    endpoint_ms: float = 80.0
    serialize_ms: float = 80.0
    architecture: str = "x86_64"


def outcome_weights(a: Assumptions) -> dict[str, float]:
    reviewed = a.review_share * (1 - a.invalid_share)
    return {
        "Routed": 1 - a.invalid_share - reviewed,
        "RoutedByReviewer": reviewed * (1 - a.rejected_share),
        "Rejected": reviewed * a.rejected_share,
        "InvalidImage": a.invalid_share,
    }


def function_memory() -> dict[str, int]:
    values = literal_assignments(SYSTEM_MAIN.read_text())
    prefix = "locals.function_memory."
    return {k.removeprefix(prefix): int(v) for k, v in values.items() if k.startswith(prefix)}


def image_usage(paths: list[PathCount], a: Assumptions, images_per_second: float) -> ImageUsage:
    """The mixed per-image usage of the measured paths."""
    weights = outcome_weights(a)
    memory = function_memory()
    duration = {**ASSUMED_MS, "serialize_image": a.serialize_ms}
    duration["classify_image"] += a.endpoint_ms
    totals = dict.fromkeys(
        ("standard", "express", "express_ms", "requests", "gb_s", "puts", "logs"), 0.0
    )
    for path in paths:
        weight = weights[path.outcome]
        for name, count in path.lambda_invocations.items():
            call = LambdaCall(memory.get(name, DEFAULT_LAMBDA_MEMORY_MB), duration[name])
            totals["requests"] += weight * count
            totals["gb_s"] += weight * count * call.gb_seconds
        # An Express execution lasts about as long as the tasks it waits for.
        express_ms = sum(duration[n] * c for n, c in path.express_invocations.items())
        totals["standard"] += weight * path.standard_transitions
        totals["express"] += weight * path.express_executions
        totals["express_ms"] += weight * express_ms
        totals["puts"] += weight * path.label_records
        totals["logs"] += weight * (path.execution_log_bytes + path.function_log_bytes)
    return ImageUsage(
        standard_transitions=totals["standard"],
        express_executions=totals["express"],
        express_duration_ms=totals["express_ms"] / max(totals["express"], 1e-9),
        lambda_requests=totals["requests"],
        lambda_gb_seconds=totals["gb_s"],
        s3_puts=1 + totals["puts"],  # the upload, then the label records
        s3_gets=1,  # serialize_image reads the upload once
        stored_bytes=a.upload_bytes
        + totals["puts"] * LABEL_RECORD_BYTES
        + a.prepared_bytes * 4 / 3,
        log_bytes=totals["logs"],
        xray_traces=xray_traces_per_image(images_per_second),
    )


def serialize_ms_here() -> float:
    """The gate's CPU time on a 12 MP phone JPEG, scaled to a 1024 MB Lambda's CPU share."""
    data = phone_jpeg(12, seed=12)
    best = min(_cpu_ms(lambda: prepare_upload(data, DEFAULT_LIMITS)) for _ in range(3))
    return best * FULL_VCPU_MB / 1024 + S3_READ_MS


def _cpu_ms(step: Callable[[], object]) -> float:
    start = time.process_time()
    step()
    return (time.process_time() - start) * 1000


def print_paths(paths: list[PathCount]) -> None:
    print("Per image, counted on real executions in the emulator:")
    print(
        f"  {'outcome':<17} {'Std transitions':>15} {'Express runs':>12} {'Lambda calls':>12} "
        f"{'label recs':>10} {'exec log B':>10} {'fn log B':>9}"
    )
    for p in paths:
        print(
            f"  {p.outcome:<17} {p.standard_transitions:>15} {p.express_executions:>12} "
            f"{sum(p.lambda_invocations.values()):>12} {p.label_records:>10} "
            f"{p.execution_log_bytes:>10,} {p.function_log_bytes:>9,}"
        )


def print_stage(stage: str, paths: list[PathCount], a: Assumptions) -> None:
    sizing = read_stage(stage)
    images = sizing.images_per_month
    rate = images / (HOURS_PER_MONTH * 3600)
    usage = image_usage(paths, a, rate)
    endpoint = sizing.endpoint
    month = stage_month(
        usage,
        endpoint,
        Fixed(metrics=CUSTOM_METRICS, alarms=ALARMS),
        images,
        a.images_per_second_per_vcpu,
        a.endpoint_ms / 1000,
        a.prepared_bytes,
        a.architecture,
    )
    million = per_million(month, images) if images else {}
    kind = (
        f"serverless {endpoint.serverless_memory_mb} MB"
        if endpoint.serverless
        else f"{endpoint.min_capacity}-{endpoint.max_capacity} x {endpoint.instance_type}"
        f", off hours {endpoint.off_hours_per_month:.0f} h/month"
    )
    vcpus = 0 if endpoint.serverless else instance_vcpus(endpoint.instance_type)
    target = target_invocations_per_instance(a.images_per_second_per_vcpu * max(vcpus, 1))
    print(
        f"\nstage {stage}: {images:,.0f} images/month ({rate:.3f}/s), endpoint {kind}; "
        f"autoscaling target from the throughput: {target} invocations/instance/minute "
        f"(configured {sizing.target_invocations_per_instance:.0f})"
    )
    print(f"  {'component':<11} {'USD/month':>11} {'USD/million images':>19}")
    for name, cost in month.items():
        per = f"{million[name]:>19,.2f}" if million else f"{'-':>19}"
        print(f"  {name:<11} {cost:>11,.2f} {per}")
    print_endpoint_choices(sizing, a)


def print_endpoint_choices(sizing: StageSizing, a: Assumptions) -> None:
    """The endpoint line of the stage for each priced instance type (same min/max and off
    hours) and serverless, at the stage's traffic and the measured throughput."""
    images, current = sizing.images_per_month, sizing.endpoint
    choices = {
        kind: replace(current, instance_type=kind, serverless=False)
        for kind in PRICES.instance_hour
    }
    for memory_mb in SERVERLESS_MEMORY_MB:
        choices[f"serverless {memory_mb} MB"] = replace(
            current, serverless=True, serverless_memory_mb=memory_mb
        )
    cells = []
    for name, endpoint in choices.items():
        cost = endpoint_month(
            endpoint, images, a.images_per_second_per_vcpu, a.endpoint_ms / 1000, a.prepared_bytes
        )
        cells.append(f"{name} {cost:,.2f}")
    print("  endpoint alternatives, USD/month: " + "; ".join(cells))


def report(a: Assumptions, stages: tuple[str, ...] = STAGES) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    paths = measure_paths(
        {outcome: _png(i) for i, outcome in enumerate(("Routed", "RoutedByReviewer", "Rejected"))}
    )
    print(f"\nCosts: {REGION} list prices of {PRICES_TAKEN}; assumptions: {a}")
    print_paths(paths)
    print_workflow_goal(paths, a)
    for stage in stages:
        print_stage(stage, paths, a)


def workflow_per_million(paths: list[PathCount], a: Assumptions) -> float:
    """The workflow line (Step Functions), USD per million images; independent of traffic."""
    return workflow_per_image(image_usage(paths, a, images_per_second=1.0)) * 1_000_000


def review_share_at_goal(paths: list[PathCount], a: Assumptions) -> float:
    """The review share at which the workflow costs issue 18's goal (linear in the share)."""
    none, every = (workflow_per_million(paths, replace(a, review_share=r)) for r in (0.0, 1.0))
    return (WORKFLOW_GOAL_PER_MILLION - none) / (every - none)


def print_workflow_goal(paths: list[PathCount], a: Assumptions) -> None:
    """The workflow against issue 18's goal, and the review share at which it crosses it (the
    workflow's cost is linear in the share: only reviews pay per transition)."""
    at = workflow_per_million(paths, a)
    none, every = (workflow_per_million(paths, replace(a, review_share=r)) for r in (0.0, 1.0))
    crossing = review_share_at_goal(paths, a)
    verdict = "within" if at <= WORKFLOW_GOAL_PER_MILLION else "above"
    print(
        f"\nWorkflow: ${at:.2f} per million images at review share {a.review_share:.3f}, "
        f"{verdict} issue 18's goal of ${WORKFLOW_GOAL_PER_MILLION:.2f} (a tenth of "
        f"${WORKFLOW_BEFORE_PER_MILLION:.2f}); ${none:.2f} with no review, ${every:.2f} with "
        f"every image reviewed; the goal is crossed at a review share of {crossing:.3f}"
    )


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (seed * 40, 90, 200 - seed * 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Assumptions()
    parser.add_argument(
        "--images-per-second-per-vcpu",
        type=float,
        default=defaults.images_per_second_per_vcpu,
        help="throughput of the served model per vCPU (bench_serving: per instance / 2 here)",
    )
    parser.add_argument("--endpoint-ms", type=float, default=defaults.endpoint_ms)
    parser.add_argument("--review-share", type=float, default=defaults.review_share)
    parser.add_argument("--upload-bytes", type=float, default=defaults.upload_bytes)
    parser.add_argument("--architecture", choices=sorted(PRICES.lambda_gb_second), default="x86_64")


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    report(
        Assumptions(
            review_share=args.review_share,
            upload_bytes=args.upload_bytes,
            images_per_second_per_vcpu=args.images_per_second_per_vcpu,
            endpoint_ms=args.endpoint_ms,
            serialize_ms=serialize_ms_here(),
            architecture=args.architecture,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
