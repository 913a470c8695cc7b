"""Lambda entry point of filter_inferences (handler: lambdas.filter_inferences.handler.handler).

It only decides; the state machine sends review items to the SQS review queue itself (an SQS
SendMessage task), so this function needs no permissions at all and the send is retried and
recorded in the execution history.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lambdas.filter_inferences.core import FilterSettings, decide, parse_event
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
    result = decide(found, threshold, config.routes)
    action = result["decision"]["action"]
    outcome = "Routed" if action == "route" else "NeedsReview"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info("decided", extra=result["decision"])
    return result
