"""Typed errors of the inference workflow.

Step Functions matches a Lambda failure by its `errorType`, which the Lambda runtime sets to the
exception's class name: these class names ARE the error names the state machines retry and catch
(see stepfunctions/README.md). Rename one only together with the ASL.
"""

from __future__ import annotations


class WorkflowError(Exception):
    """Base of every error a handler raises on purpose."""

    retryable = False


class InvalidEvent(WorkflowError):
    """The event is malformed (missing fields, wrong types, bad values)."""


class ThresholdBelowDeployed(InvalidEvent):
    """A per-execution threshold override below the deployed one: an execution may only raise
    the stage's threshold, never route on less confidence than the model earned."""


class InvalidLabelRecord(InvalidEvent):
    """A label record read back from labels/ that breaks its schema (`LabelRecord`); no Lambda
    raises it, the readers of the records do."""


class InvalidImage(WorkflowError):
    """The object is not an image the endpoint accepts (format, size, dimensions, corrupt)."""


class ImageNotFound(WorkflowError):
    """The bucket or object does not exist, or this function may not read it."""


class StorageUnavailable(WorkflowError):
    """S3 throttled or failed transiently; retried by the state machine."""

    retryable = True


class EndpointThrottled(WorkflowError):
    """The endpoint throttled the request (or is not ready yet); retried with backoff."""

    retryable = True


class EndpointUnavailable(WorkflowError):
    """The endpoint answered 5xx or could not be reached; retried with backoff."""

    retryable = True


class EndpointRejected(WorkflowError):
    """The endpoint refused the request as invalid (unknown endpoint, bad request): a config bug."""


class ModelError(WorkflowError):
    """The model container failed on this input, or answered something that is no prediction."""


class ConfigurationError(WorkflowError):
    """The function's environment is missing or invalid settings."""


RETRYABLE_ERRORS = tuple(
    cls.__name__ for cls in (StorageUnavailable, EndpointThrottled, EndpointUnavailable)
)
