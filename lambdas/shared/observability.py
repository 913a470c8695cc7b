"""Structured JSON logs and CloudWatch embedded metrics (Powertools) around every handler.

`instrumented` keeps the handlers thin: it tags every log line with the Step Functions execution
id from the event (and the Lambda request id), counts outcomes as EMF metrics named after the
error class (or `Succeeded`), flushes the metrics even when the handler raises, and re-raises the
typed error unchanged so its class name reaches Step Functions as the `errorType`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.errors import WorkflowError
from lambdas.shared.events import execution_id

METRICS_NAMESPACE = "VehicleClassifier"

Handler = Callable[[Any, Any], dict[str, Any]]


def logger_for(service: str) -> Logger:
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or service)


def metrics_for(service: str) -> Metrics:
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or METRICS_NAMESPACE
    return Metrics(namespace=namespace, service=service)


def instrumented(logger: Logger, metrics: Metrics) -> Callable[[Handler], Handler]:
    def decorate(function: Handler) -> Handler:
        @functools.wraps(function)
        def wrapper(event: Any, context: Any) -> dict[str, Any]:
            logger.append_keys(
                execution_id=execution_id(event),
                request_id=getattr(context, "aws_request_id", None),
            )
            try:
                result = function(event, context)
            except WorkflowError as error:
                metrics.add_metric(name=type(error).__name__, unit=MetricUnit.Count, value=1)
                logger.warning(
                    "rejected",
                    extra={"error_type": type(error).__name__, "error": str(error)[:2000]},
                )
                raise
            else:
                metrics.add_metric(name="Succeeded", unit=MetricUnit.Count, value=1)
                return result
            finally:
                _flush(metrics, logger)

        return wrapper

    return decorate


def _flush(metrics: Metrics, logger: Logger) -> None:
    """Write the pending EMF blob to stdout; metrics must never fail the invocation."""
    try:
        metrics.flush_metrics(raise_on_empty_metrics=False)
    except Exception:  # pragma: no cover - Powertools schema errors are a bug, not a crash
        logger.exception("could not flush metrics")
