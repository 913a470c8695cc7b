"""Lambda entry point of the hourly drift job (handler: monitoring.handler.lambda_handler).

Thin on purpose: settings are read and validated once per container, the S3 and CloudWatch
clients are created once, and the work is `monitoring.job.run_job`. The EventBridge Scheduler
input may carry `{"scheduled_time": "<aws.scheduler.scheduled-time>"}` (retries then check the
same hour) or `{"start": ISO, "end": ISO}` to re-run a window.
A crash publishes `JobFailed` = 1 before re-raising, so the job-failure alarm fires even when
the Lambda `Errors` metric is not watched.
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from monitoring import publish
from monitoring.job import JobSettings, run_job, window_for

logger = logging.getLogger("monitoring")
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


@functools.cache
def settings() -> JobSettings:
    return JobSettings.from_env(os.environ)


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(
        service, config=Config(retries={"mode": "standard", "total_max_attempts": 5})
    )


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    window = window_for(event if isinstance(event, dict) else {}, config.window_hours, _now())
    logger.info("drift window %s .. %s", window.start, window.end)
    try:
        outcome = run_job(config, window, client("s3"), client("cloudwatch"))
    except Exception:
        logger.exception("drift job failed")
        try:
            publish.publish_job_failed(
                config.dimensions, namespace=config.namespace, client=client("cloudwatch")
            )
        except Exception:  # the original error matters more than the metric
            logger.exception("could not publish JobFailed")
        raise
    logger.info("drift job done: %s", {k: outcome[k] for k in ("status", "records", "drift_score")})
    return outcome


def _now() -> datetime:
    return datetime.now(UTC)
