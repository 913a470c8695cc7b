"""Pure logic of classify_image: settings, the image document, the endpoint's answer, errors."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract import CLASS_NAMES
from lambdas.shared import bounded_json
from lambdas.shared.aws import error_code, http_status
from lambdas.shared.config import env_float, env_int, env_str
from lambdas.shared.documents import ClassificationDocument, ImageDocument
from lambdas.shared.errors import (
    EndpointRejected,
    EndpointThrottled,
    EndpointUnavailable,
    InvalidImage,
    ModelError,
    WorkflowError,
)
from lambdas.shared.formats import DEFAULT_MAX_IMAGE_BYTES

LABELS = CLASS_NAMES
MAX_ANSWER_BYTES = 64 * 1024  # two probabilities are ~50 bytes
_THROTTLED = {"ThrottlingException", "ModelNotReadyException", "TooManyRequestsException"}
_UNAVAILABLE = {
    "ServiceUnavailable",
    "InternalFailure",
    "InternalDependencyException",
    "InternalServerError",
}


@dataclass(frozen=True)
class ClassifySettings:
    endpoint_name: str
    max_image_bytes: int
    probability_tolerance: float
    model_version: str = "unknown"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClassifySettings:
        return cls(
            endpoint_name=env_str(env, "ENDPOINT_NAME"),
            model_version=env_str(env, "MODEL_VERSION", "unknown"),
            max_image_bytes=env_int(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES, minimum=1),
            probability_tolerance=env_float(env, "PROBABILITY_TOLERANCE", 0.01, 0.0, 0.5),
        )


def parse_event(event: object) -> ImageDocument:
    """The `image` document serialize_image handed over."""
    return ImageDocument.from_dict(event)


def check_referenced_bytes(document: ImageDocument, data: bytes) -> bytes:
    """Bytes read by reference must be the ones serialize_image validated."""
    if document.sha256 is not None and hashlib.sha256(data).hexdigest() != document.sha256:
        raise InvalidImage(f"s3://{document.s3_bucket}/{document.s3_key} changed since validation")
    return data


def parse_prediction(body: bytes, tolerance: float) -> tuple[float, float]:
    """`[p_bicycle, p_motorcycle]` (or a one-row batch of it) as two checked probabilities."""
    try:  # bounded: a 5,000-digit integer or 10,000 nested lists is a ModelError too
        answer = bounded_json.loads(body, max_bytes=MAX_ANSWER_BYTES, what="endpoint answer")
    except ValueError as error:
        raise ModelError(f"the endpoint answered no usable JSON: {error}") from None
    if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
        answer = answer[0]
    if not isinstance(answer, list) or len(answer) != len(LABELS):
        raise ModelError(f"expected [p_bicycle, p_motorcycle], got {str(answer)[:200]}")
    probabilities = []
    for value in answer:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ModelError(f"probability {value!r} is not a number")
        number = float(value)
        if not (math.isfinite(number) and 0.0 <= number <= 1.0):
            raise ModelError(f"probability {value!r} is outside [0, 1]")
        probabilities.append(number)
    if abs(sum(probabilities) - 1.0) > tolerance:
        raise ModelError(f"probabilities {probabilities} do not sum to 1")
    return probabilities[0], probabilities[1]


# Fixed namespace of the derived inference ids (uuid5): changing it changes every id.
INFERENCE_ID_NAMESPACE = uuid.UUID("6f1d3c2e-5a4b-4e8f-9c7d-2b1a0e9f8d7c")


def inference_id_for(
    document: ImageDocument, endpoint_name: str, model_version: str, threshold: float | None = None
) -> str:
    """The id passed as InferenceId on InvokeEndpoint: SageMaker writes it into the data
    capture record (eventMetadata.inferenceId), so a label record joins to its capture.

    Derived from what is asked (the object pinned by version id, ETag and SHA-256, the endpoint
    and model, the request's threshold override), so a repeated run of the same request (the
    Express workflow runs at least once; an upload event can arrive twice) gets the same id,
    hence the same review execution name and label record key; a request with another threshold
    is another decision with its own id. A document that pins nothing gets a random id."""
    pins = (document.version_id, document.etag, document.sha256)
    if not any(pins):
        return str(uuid.uuid4())
    parts = (document.s3_bucket, document.s3_key, *(pin or "" for pin in pins))
    asked = (endpoint_name, model_version, json.dumps(threshold, sort_keys=True))
    return str(uuid.uuid5(INFERENCE_ID_NAMESPACE, "\n".join((*parts, *asked))))


def classification(
    probabilities: tuple[float, float],
    endpoint_name: str,
    variant: str | None,
    *,
    inference_id: str | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    """The `classification` document filter_inferences reads (ClassificationDocument)."""
    document = ClassificationDocument.of(
        probabilities,
        endpoint_name,
        variant,
        inference_id=inference_id,
        model_version=model_version,
    )
    return document.to_dict()


def endpoint_error(error: Exception, endpoint_name: str) -> WorkflowError:
    """Map an InvokeEndpoint failure to the error name the state machine retries or catches."""
    code = error_code(error)
    status = http_status(error)
    message = f"endpoint {endpoint_name}: {code} (HTTP {status}): {str(error)[:500]}"
    if code == "ModelError":
        return ModelError(message)
    if code == "ParamValidationError":  # our request is malformed: retrying cannot help
        return EndpointRejected(message)
    if code in _THROTTLED or status == 429:
        return EndpointThrottled(message)
    if code in _UNAVAILABLE or status >= 500 or status == 0:
        return EndpointUnavailable(message)
    return EndpointRejected(message)
