"""Lambda entry point of the hourly drift job (handler: monitoring.handler.handler).

The same shape as the workflow's handlers: settings read and validated once per container
through `lambdas.shared.config`, clients from `lambdas.shared.aws`, Powertools logs and metrics
(`lambdas.shared.observability`), the event parsed before any work, and the work itself
`monitoring.job.run_job`. The EventBridge Scheduler input may carry
`{"scheduled_time": "<aws.scheduler.scheduled-time>"}` (retries then check the same hour) or
`{"start": ISO, "end": ISO}` to re-run a window.
A crash publishes `JobFailed` = 1 before re-raising, so the job-failure alarm fires even when
the Lambda `Errors` metric is not watched (and, as in every handler, counts the error's class
as an embedded metric of the function).
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.aws import client
from lambdas.shared.events import require_event
from lambdas.shared.observability import instrumented, logger_for, metrics_for
from monitoring import capture, publish
from monitoring.job import JobSettings, run_job, window_for

logger = logger_for("drift_job")
metrics = metrics_for("drift_job")
# The job lists and reads a whole hour of captures: more patience with S3 than one request.
_ATTEMPTS = 5
_LOGGED = ("status", "records", "drift_score")


@functools.cache
def settings() -> JobSettings:
    return JobSettings.from_env(os.environ)


def parse_event(event: Any, window_hours: int, now: datetime) -> capture.Window:
    """The window to check: an empty invocation (no input) is the previous full hour(s)."""
    return window_for(require_event({} if event is None else event), window_hours, now)


@instrumented(logger, metrics)
def handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    window = parse_event(event, config.window_hours, _now())
    logger.info("drift window", extra={"start": str(window.start), "end": str(window.end)})
    cloudwatch = client("cloudwatch", max_attempts=_ATTEMPTS)
    try:
        outcome = run_job(config, window, client("s3", max_attempts=_ATTEMPTS), cloudwatch)
    except Exception as error:
        logger.exception("drift job failed")
        metrics.add_metric(name=type(error).__name__, unit=MetricUnit.Count, value=1)
        try:
            publish.publish_job_failed(
                config.dimensions, namespace=config.namespace, client=cloudwatch
            )
        except Exception:  # the original error matters more than the metric
            logger.exception("could not publish JobFailed")
        raise
    logger.info("drift job done", extra={k: outcome[k] for k in _LOGGED})
    return outcome


def _now() -> datetime:
    return datetime.now(UTC)
