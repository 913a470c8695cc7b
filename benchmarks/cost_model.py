"""What one stage costs per month and per million images: AWS list prices and pure arithmetic.

Prices are on-demand list prices for us-east-1 (USD), without free tiers, savings plans or
taxes; each group says where it comes from and when it was taken. The usage per image (state
transitions, Lambda invocations, log bytes, label records) is measured by running the real
workflow in the emulator (`benchmarks.workflow_usage`); this module only multiplies.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

REGION = "us-east-1"
PRICES_TAKEN = "2026-12-06"
HOURS_PER_MONTH = 730  # AWS pricing pages' month
GB = 1024**3


class CostModelError(ValueError):
    """A usage figure or stage setting the model cannot price (negative, unknown type, ...)."""


@dataclass(frozen=True)
class Prices:
    """On-demand list prices, us-east-1, USD, as of PRICES_TAKEN, from the AWS pricing pages
    named per group (aws.amazon.com/<service>/pricing); check them before relying on a figure."""

    # SageMaker AI real-time inference per instance-hour (sagemaker/pricing, Real-Time Inference).
    instance_hour: dict[str, float] = field(
        default_factory=lambda: {
            "ml.m5.large": 0.115,
            "ml.m5.xlarge": 0.230,
            "ml.c5.large": 0.102,
            "ml.c5.xlarge": 0.204,
            "ml.c6i.large": 0.102,
            "ml.c6i.xlarge": 0.204,
            "ml.c7i.large": 0.1071,
            "ml.c7i.xlarge": 0.2142,
        }
    )
    # SageMaker Serverless Inference: compute per GB-second of configured memory, and data
    # processed in + out per GB (sagemaker/pricing, "Serverless Inference").
    serverless_gb_second: float = 0.00002
    serverless_data_gb: float = 0.016
    # Step Functions (step-functions/pricing): Standard per state transition; Express per request
    # and per GB-second (first 1,000 GB-hours tier), billed in 64 MB and 100 ms increments.
    standard_transition: float = 0.000025
    express_request: float = 0.000001
    express_gb_second: float = 0.00001667
    # Lambda (lambda/pricing): per request and per GB-second, x86_64 and arm64 (first tier).
    lambda_request: float = 0.0000002
    lambda_gb_second: dict[str, float] = field(
        default_factory=lambda: {"x86_64": 0.0000166667, "arm64": 0.0000133334}
    )
    # S3 Standard (s3/pricing): PUT/COPY/POST/LIST and GET per request, storage per GB-month.
    s3_put: float = 0.000005
    s3_get: float = 0.0000004
    s3_gb_month: float = 0.023
    # KMS (kms/pricing): per customer-managed key-month and per request.
    kms_key_month: float = 1.0
    kms_request: float = 0.000003
    # CloudWatch (cloudwatch/pricing): log ingestion per GB (standard and vended logs, first
    # tier), storage per GB-month, custom metric per month, standard-resolution alarm per month.
    logs_ingest_gb: float = 0.50
    logs_gb_month: float = 0.03
    metric_month: float = 0.30
    alarm_month: float = 0.10
    # X-Ray (xray/pricing): per trace recorded.
    xray_trace: float = 0.000005
    # AWS Budgets (Billing user guide, "Managing your costs with budgets"): the payer account's
    # first two budgets are free, each further one 0.02 a day; priced as a further one.
    budget_month: float = 0.02 * HOURS_PER_MONTH / 24


PRICES = Prices()


@dataclass(frozen=True)
class LambdaCall:
    """One function invocation: its configured memory and billed duration (1 ms granularity)."""

    memory_mb: int
    duration_ms: float

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10240 or not self.duration_ms >= 0:
            raise CostModelError(f"not a Lambda invocation: {self!r}")

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / 1024 * math.ceil(self.duration_ms) / 1000


@dataclass(frozen=True)
class ImageUsage:
    """What one image costs in request-priced services, measured or assumed per path."""

    standard_transitions: float = 0.0
    express_executions: float = 0.0
    express_duration_ms: float = 0.0  # per Express execution
    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    s3_puts: float = 0.0
    s3_gets: float = 0.0
    stored_bytes: float = 0.0  # kept a month at least (uploads, label records, captures)
    log_bytes: float = 0.0
    kms_requests: float = 0.0
    xray_traces: float = 0.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not math.isfinite(value) or value < 0:
                raise CostModelError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Endpoint:
    """The endpoint of a stage: instances (min..max, autoscaled) or serverless."""

    instance_type: str = "ml.m5.large"
    min_capacity: int = 1
    max_capacity: int = 2
    serverless: bool = False
    serverless_memory_mb: int = 2048
    # Hours a month the fleet is held at min_capacity by an off-hours schedule (0: none).
    off_hours_per_month: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_capacity <= self.max_capacity:
            raise CostModelError(
                f"need 1 <= min_capacity <= max_capacity: {self.min_capacity}..{self.max_capacity}"
            )
        if not 0 <= self.off_hours_per_month <= HOURS_PER_MONTH:
            raise CostModelError(f"off_hours_per_month must lie in [0, {HOURS_PER_MONTH}]")


WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_CRON = re.compile(r"^cron\(([0-9]{1,2}) ([0-9]{1,2}) \? \* ([A-Z,-]+|\*) \*\)$")


def _cron_times(expression: str) -> list[int]:
    """Hours of the week (Monday 00:00 = 0) at which `cron(M H ? * DAYS *)` fires."""
    matched = _CRON.match(expression)
    if not matched:
        raise CostModelError(f"not a cron(M H ? * DAYS *) expression: {expression!r}")
    minute, hour, days = int(matched.group(1)), int(matched.group(2)), matched.group(3)
    if minute > 59 or hour > 23:
        raise CostModelError(f"minute or hour out of range in {expression!r}")
    chosen: set[int] = set()
    for part in WEEKDAYS if days == "*" else days.split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise CostModelError(f"unknown day {part!r} in {expression!r}")
        start, stop = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        chosen.update(range(start, stop + 1))
    return sorted(day * 24 * 60 + hour * 60 + minute for day in chosen)


def off_hours_per_month(scale_down: str, scale_up: str) -> float:
    """Hours a month between each scale-down and the next scale-up (one week, repeated)."""
    week = 7 * 24 * 60
    events = sorted(
        [(t, "down") for t in _cron_times(scale_down)] + [(t, "up") for t in _cron_times(scale_up)]
    )
    # The state at the start of the week is the one the week's last event left.
    down = events[-1][1] == "down"
    off_minutes, previous = 0, 0
    for time, kind in events:
        if down:
            off_minutes += time - previous
        down, previous = kind == "down", time
    if down:
        off_minutes += week - previous
    return off_minutes / 60 * HOURS_PER_MONTH / (7 * 24)


# vCPUs per instance type: the measured throughput per vCPU scales to each type.
INSTANCE_VCPUS = {"large": 2, "xlarge": 4, "2xlarge": 8}


def instance_vcpus(instance_type: str) -> int:
    size = instance_type.rsplit(".", 1)[-1]
    if size not in INSTANCE_VCPUS:
        raise CostModelError(f"unknown instance size in {instance_type!r}")
    return INSTANCE_VCPUS[size]


def instance_hour_price(instance_type: str, prices: Prices = PRICES) -> float:
    try:
        return prices.instance_hour[instance_type]
    except KeyError:
        known = ", ".join(sorted(prices.instance_hour))
        raise CostModelError(f"no price for {instance_type!r} (priced: {known})") from None


def instances_needed(images_per_month: float, images_per_second_per_instance: float) -> int:
    """Instances that carry the month's average rate at the measured throughput (>= 1)."""
    if images_per_second_per_instance <= 0:
        raise CostModelError("throughput per instance must be > 0")
    rate = images_per_month / (HOURS_PER_MONTH * 3600)
    return max(1, math.ceil(rate / images_per_second_per_instance))


def endpoint_month(
    endpoint: Endpoint,
    images_per_month: float,
    images_per_second_per_vcpu: float,
    seconds_per_image: float,
    bytes_per_image: float,
    prices: Prices = PRICES,
) -> float:
    """Endpoint cost of a month: instance-hours at the average rate (min..max), or serverless
    compute for each image's inference time plus its data in and out."""
    if endpoint.serverless:
        gb = endpoint.serverless_memory_mb / 1024
        compute = images_per_month * seconds_per_image * gb * prices.serverless_gb_second
        return compute + images_per_month * bytes_per_image / GB * prices.serverless_data_gb
    per_instance = images_per_second_per_vcpu * instance_vcpus(endpoint.instance_type)
    busy = instances_needed(images_per_month, per_instance)
    count = min(max(busy, endpoint.min_capacity), endpoint.max_capacity)
    # Off hours hold the fleet at its floor; the rest of the month runs `count`.
    on_hours = HOURS_PER_MONTH - endpoint.off_hours_per_month
    hours = count * on_hours + endpoint.min_capacity * endpoint.off_hours_per_month
    return hours * instance_hour_price(endpoint.instance_type, prices)


def xray_traces_per_image(
    images_per_second: float, reservoir: float = 1.0, rate: float = 0.05
) -> float:
    """X-Ray default sampling: the first `reservoir` requests a second, then `rate` of the rest."""
    if images_per_second <= 0:
        return 1.0
    sampled = min(images_per_second, reservoir) + rate * max(0.0, images_per_second - reservoir)
    return sampled / images_per_second


def target_invocations_per_instance(
    images_per_second_per_instance: float, safety: float = 0.5
) -> int:
    """The autoscaling target SageMaker's load-testing guide derives from a measured maximum:
    max requests/s x safety factor x 60 (per instance per minute)."""
    if images_per_second_per_instance <= 0 or not 0 < safety <= 1:
        raise CostModelError("need a throughput > 0 and a safety factor in (0, 1]")
    return max(1, math.floor(images_per_second_per_instance * safety * 60))


def workflow_per_image(usage: ImageUsage, prices: Prices = PRICES) -> float:
    """Standard transitions plus Express requests and duration (64 MB, 100 ms increments)."""
    billed_s = math.ceil(usage.express_duration_ms / 100) / 10
    express = usage.express_executions * (
        prices.express_request + billed_s * (64 / 1024) * prices.express_gb_second
    )
    return usage.standard_transitions * prices.standard_transition + express


def lambda_per_image(
    usage: ImageUsage, architecture: str = "x86_64", prices: Prices = PRICES
) -> float:
    try:
        gb_second = prices.lambda_gb_second[architecture]
    except KeyError:
        raise CostModelError(f"unknown Lambda architecture {architecture!r}") from None
    return usage.lambda_requests * prices.lambda_request + usage.lambda_gb_seconds * gb_second


def s3_per_image(usage: ImageUsage, prices: Prices = PRICES) -> float:
    """Requests plus one month of storage for what the image leaves behind."""
    requests = usage.s3_puts * prices.s3_put + usage.s3_gets * prices.s3_get
    return requests + usage.stored_bytes / GB * prices.s3_gb_month


def logs_per_image(usage: ImageUsage, prices: Prices = PRICES) -> float:
    """Ingestion plus one month of storage of the image's log bytes."""
    return usage.log_bytes / GB * (prices.logs_ingest_gb + prices.logs_gb_month)


@dataclass(frozen=True)
class Fixed:
    """What a stage pays a month whatever its traffic (besides the endpoint's floor)."""

    kms_keys: int = 1
    metrics: int = 0
    alarms: int = 0
    budgets: int = 1


def stage_month(
    usage: ImageUsage,
    endpoint: Endpoint,
    fixed: Fixed,
    images_per_month: float,
    images_per_second_per_vcpu: float,
    seconds_per_image: float,
    bytes_to_endpoint: float,
    architecture: str = "x86_64",
    prices: Prices = PRICES,
) -> dict[str, float]:
    """Cost of a month per component, USD; `per_million` divides by the month's images."""
    if images_per_month < 0:
        raise CostModelError("images_per_month must be >= 0")
    per_image = {
        "workflow": workflow_per_image(usage, prices),
        "lambda": lambda_per_image(usage, architecture, prices),
        "s3": s3_per_image(usage, prices),
        "kms": usage.kms_requests * prices.kms_request,
        "logs": logs_per_image(usage, prices),
        "x-ray": usage.xray_traces * prices.xray_trace,
    }
    month = {name: cost * images_per_month for name, cost in per_image.items()}
    month["endpoint"] = endpoint_month(
        endpoint,
        images_per_month,
        images_per_second_per_vcpu,
        seconds_per_image,
        bytes_to_endpoint,
        prices,
    )
    month["kms"] += fixed.kms_keys * prices.kms_key_month
    month["cloudwatch"] = fixed.metrics * prices.metric_month + fixed.alarms * prices.alarm_month
    month["budgets"] = fixed.budgets * prices.budget_month
    month["total"] = sum(month.values())
    return month


def per_million(month: dict[str, float], images_per_month: float) -> dict[str, float]:
    if images_per_month <= 0:
        raise CostModelError("per million images needs images_per_month > 0")
    return {name: cost / images_per_month * 1_000_000 for name, cost in month.items()}
