"""Lambda entry point of serialize_image (handler: lambdas.serialize_image.handler.handler)."""

from __future__ import annotations

import functools
import os
from typing import Any

from lambdas.serialize_image.core import SerializeSettings, hand_off, parse_event, validate
from lambdas.shared.aws import client
from lambdas.shared.observability import instrumented, logger_for, metrics_for
from lambdas.shared.storage import read_object

logger = logger_for("serialize_image")
metrics = metrics_for("serialize_image")


@functools.cache
def settings() -> SerializeSettings:
    return SerializeSettings.from_env(os.environ)


@instrumented(logger, metrics)
def handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    request = parse_event(event)
    stored = read_object(client("s3"), request.s3_bucket, request.s3_key, config.limits.max_bytes)
    prepared = validate(stored, config)
    info = prepared.info
    logger.info(
        "image accepted",
        extra={
            "s3_key": request.s3_key,
            "format": info.format,
            "size_bytes": info.size_bytes,
            "width": info.width,
            "height": info.height,
        },
    )
    return hand_off(request, stored, prepared)
