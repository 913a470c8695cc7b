"""Lambda entry point of filter_inferences (handler: lambdas.filter_inferences.handler.handler).

The classify machines ask for a decision on a classification: route, or review with reason
`low_confidence` / `audit`. (A reviewer's answer is routed by record_label, the review machine's
one Lambda step, by the same rules: `lambdas.shared.routing`.)

It only decides; the state machine sends review items to the SQS review queue itself (an SQS
SendMessage task), so this function needs no permissions at all and the send is retried and
recorded in the execution history.
"""

from __future__ import annotations

import functools
import os
import random
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lambdas.filter_inferences.core import (
    FilterSettings,
    audit_draw,
    decide,
    parse_event,
)
from lambdas.shared.observability import instrumented, logger_for, metrics_for

logger = logger_for("filter_inferences")
metrics = metrics_for("filter_inferences")


@functools.cache
def settings() -> FilterSettings:
    return FilterSettings.from_env(os.environ)


@instrumented(logger, metrics)
def handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    found, threshold = parse_event(event, config.threshold)
    # Drawn from the inference id where there is one, so a repeated run decides the same way.
    inference_id = found.inference_id
    draw = random.random if inference_id is None else (lambda: audit_draw(inference_id))
    decision = decide(found, threshold, config.routes, config.audit_sample_rate, draw)
    outcome = "Routed" if decision.action == "route" else "NeedsReview"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    if decision.reason == "audit":
        metrics.add_metric(name="AuditSampled", unit=MetricUnit.Count, value=1)
    result = decision.to_dict()
    logger.info("decided", extra=result["decision"])
    return result
