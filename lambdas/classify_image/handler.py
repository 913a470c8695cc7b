"""Lambda entry point of classify_image (handler: lambdas.classify_image.handler.handler)."""

from __future__ import annotations

import functools
import os
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.classify_image.core import (
    ClassifySettings,
    check_referenced_bytes,
    classification,
    endpoint_error,
    inference_id_for,
    parse_event,
    parse_prediction,
)
from lambdas.shared.aws import client
from lambdas.shared.documents import ExecutionOptions, ImageDocument
from lambdas.shared.observability import instrumented, logger_for, metrics_for
from lambdas.shared.storage import read_object

logger = logger_for("classify_image")
metrics = metrics_for("classify_image")


@functools.cache
def settings() -> ClassifySettings:
    return ClassifySettings.from_env(os.environ)


def image_bytes(document: ImageDocument, config: ClassifySettings) -> tuple[bytes, str]:
    """What to send to the endpoint, and its content type."""
    if document.prepared is not None:
        return document.prepared, "image/png"
    if document.inline is not None:
        return document.inline, document.content_type
    stored = read_object(
        client("s3"),
        document.s3_bucket,
        document.s3_key,
        config.max_image_bytes,
        version_id=document.version_id,
        etag=document.etag,
    )
    return check_referenced_bytes(document, stored.data), document.content_type


def invoke_endpoint(
    body: bytes, content_type: str, config: ClassifySettings, inference_id: str
) -> dict[str, Any]:
    # One attempt per invocation: the state machine owns retries (backoff, jitter, history).
    runtime = client("sagemaker-runtime", max_attempts=1)
    try:
        response: dict[str, Any] = runtime.invoke_endpoint(
            EndpointName=config.endpoint_name,
            ContentType=content_type,
            Accept="application/json",
            Body=body,
            InferenceId=inference_id,
        )
        response["Body"] = response["Body"].read()
    except (ClientError, BotoCoreError) as error:
        raise endpoint_error(error, config.endpoint_name) from None
    return response


@instrumented(logger, metrics)
def handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    document = parse_event(event)
    # The override is part of what is asked (another threshold, another decision and id); a
    # malformed one fails here, before the endpoint is paid for.
    threshold = ExecutionOptions.from_dict(event).threshold
    inference_id = inference_id_for(document, config.endpoint_name, config.model_version, threshold)
    response = invoke_endpoint(*image_bytes(document, config), config, inference_id)
    probabilities = parse_prediction(response["Body"], config.probability_tolerance)
    result = classification(
        probabilities,
        config.endpoint_name,
        response.get("InvokedProductionVariant"),
        inference_id=inference_id,
        model_version=config.model_version,
    )
    logger.info("classified", extra=result["classification"])
    return result
