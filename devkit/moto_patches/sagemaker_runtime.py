"""Gap: moto's SageMaker runtime rejects binary request bodies; plus test glue for endpoint faults.

1. Gap. moto decodes every request body as UTF-8 before dispatch, so InvokeEndpoint with real
   image bytes (`image/png`, `image/jpeg`) fails with a 500 inside the emulator, and it puts the
   body into a JSON string to memoise canned answers. The patch makes the runtime keep the raw
   body and memoise by its base64, so canned answers work for binary images as for text.
2. Test glue (not a moto gap: moto has no way to make an endpoint fail). `inject_fault()` makes
   the next N InvokeEndpoint calls for one endpoint name fail with a given HTTP status and error
   code (throttling, 5xx, ModelError), the way SageMaker answers them. Faults live in this
   process (the emulator runs in the test process); `clear_faults()` drops them.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from typing import Any

MARKER = "_keeps_binary_bodies"
INFERENCE_ID_HEADER = "x-amzn-sagemaker-inference-id"  # InvokeEndpoint's InferenceId
_lock = threading.Lock()
_faults: dict[str, list[Fault]] = {}


@dataclass
class Fault:
    status: int
    code: str
    message: str
    remaining: int


def inject_fault(
    endpoint_name: str, status: int, code: str, times: int = 1, message: str = "injected fault"
) -> None:
    """Make the next `times` calls to `endpoint_name` fail with `status` / `code`."""
    with _lock:
        _faults.setdefault(endpoint_name, []).append(Fault(status, code, message, times))


def clear_faults() -> None:
    with _lock:
        _faults.clear()


def reset_endpoints(region: str, account_id: str = "123456789012") -> None:
    """Drop injected faults and any canned answers still queued, without a full reset."""
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    clear_faults()
    backend = sagemakerruntime_backends[account_id][region]
    backend.results_queue.clear()
    backend.results.clear()


def _take_fault(endpoint_name: str) -> Fault | None:
    with _lock:
        for fault in _faults.get(endpoint_name, []):
            if fault.remaining > 0:
                fault.remaining -= 1
                return fault
    return None


def moto_still_decodes_bodies() -> bool:
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    if getattr(SageMakerRuntimeResponse.invoke_endpoint, MARKER, False):
        return True  # we patched it because it did
    return not SageMakerRuntimeResponse.use_raw_body


def apply() -> None:
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    if getattr(SageMakerRuntimeResponse.invoke_endpoint, MARKER, False):
        return
    if moto_still_decodes_bodies():
        SageMakerRuntimeResponse.use_raw_body = True
        setattr(_invoke_endpoint, MARKER, True)
        SageMakerRuntimeResponse.invoke_endpoint = _invoke_endpoint  # type: ignore[method-assign]


def _invoke_endpoint(self: Any) -> tuple[int, dict[str, str], str | bytes]:
    """moto's InvokeEndpoint with a raw body, memoised by its base64, and injected faults."""
    endpoint_name = self.path.split("/")[2]
    fault = _take_fault(endpoint_name)
    if fault is not None:
        error: dict[str, Any] = {"__type": fault.code, "message": fault.message}
        if fault.code == "ModelError":
            error.update(OriginalStatusCode=500, OriginalMessage=fault.message)
        headers = {
            "x-amzn-ErrorType": fault.code,
            "Content-Type": "application/json",
            "status": str(fault.status),  # moto takes the status from here
        }
        return fault.status, headers, json.dumps(error)
    raw = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode()
    # The InferenceId differs on every call; canned answers stay memoised per image.
    unique_repr = {
        key: value
        for key, value in self.headers.items()
        if key.lower().startswith("x-amzn-sagemaker") and key.lower() != INFERENCE_ID_HEADER
    }
    unique_repr["Accept"] = self.headers.get("Accept")
    unique_repr["Body"] = base64.b64encode(raw).decode("ascii")
    body, content_type, variant, custom_attributes = self.sagemakerruntime_backend.invoke_endpoint(
        endpoint_name=endpoint_name,
        unique_repr=base64.b64encode(json.dumps(unique_repr).encode("utf-8")),
    )
    headers = {"Content-Type": content_type}
    if variant:
        headers["x-Amzn-Invoked-Production-Variant"] = variant
    if custom_attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    return 200, headers, body
