"""AWS clients, created once per container on first use and then reused by every invocation.

boto3 is imported lazily: it is the bulk of a cold start, and a handler that fails validation
before touching AWS never pays for it. Clients follow AWS_ENDPOINT_URL like any SDK client, which
is how the local emulator is reached.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(
    service: str, max_attempts: int = 3, read_timeout: float = 60.0, connect_timeout: float = 5.0
) -> Any:
    """The one client for `service` in this container (botocore clients are thread-safe)."""
    # Lazy on purpose: boto3 (~0.2 s) is the bulk of a cold start (module docstring).
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return boto3.session.Session().client(service, config=config)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError, or the exception class name."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(error).__name__
    return type(error).__name__


def http_status(error: Exception) -> int:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status) if isinstance(status, int) else 0
    return 0
