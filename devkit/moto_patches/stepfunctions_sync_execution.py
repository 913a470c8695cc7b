"""Gap: moto 5.2.5 has no `StartSyncExecution` (NotImplementedError, HTTP 500).

The synchronous Express call starts an execution and answers once it has ended, with its status,
output (or error and cause), like DescribeExecution folded into the start. The patch does exactly
that on the emulator's own execution: start it as StartExecution does (a name is made up when the
caller gives none), wait until it leaves RUNNING (at most Express' five minutes) and answer
StartSyncExecution's shape. As on AWS, only an EXPRESS state machine accepts the call.

botocore sends StartSyncExecution to the `sync-` host prefix (`sync-states.<region>...`); against
the emulator's address a client needs `Config(inject_host_prefix=False)`
(`devkit.stepfunctions_local.sync_client`).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

EXPRESS_LIMIT_S = 300.0
MARKER = "_emulates_start_sync_execution"


def _response_class() -> Any:
    from moto.stepfunctions.responses import StepFunctionResponse

    return StepFunctionResponse


def moto_lacks_start_sync_execution() -> bool:
    """True while moto itself has no StartSyncExecution (ours, once applied, does not count)."""
    method = getattr(_response_class(), "start_sync_execution", None)
    return method is None or getattr(method, MARKER, False)


def _answer(execution: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "executionArn": execution.execution_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "startDate": execution.start_date,
        "stopDate": execution.stop_date,
        "status": str(getattr(execution.status, "value", execution.status)),
        "input": execution.execution_input,
    }
    output = execution.output
    if output is not None:
        answer["output"] = output if isinstance(output, str) else json.dumps(output)
    for field in ("error", "cause"):
        if getattr(execution, field, None) is not None:
            answer[field] = getattr(execution, field)
    return answer


def start_sync_execution(self: Any) -> Any:
    from moto.core.exceptions import AWSError
    from moto.core.responses import ActionResult

    arn = self._get_param("stateMachineArn")
    backend = self.stepfunction_backend
    if backend.describe_state_machine(arn).type != "EXPRESS":
        raise AWSError(
            f"This operation is not supported by this type of state machine: {arn}",
            "StateMachineTypeNotSupported",
        )
    name = self._get_param("name") or str(uuid.uuid4())
    execution = backend.start_execution(arn, name, self._get_param("input", if_none="{}"))
    deadline = time.monotonic() + EXPRESS_LIMIT_S
    while str(getattr(execution.status, "value", execution.status)) == "RUNNING":
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return ActionResult(_answer(execution))


setattr(start_sync_execution, MARKER, True)


def apply() -> None:
    if moto_lacks_start_sync_execution():
        _response_class().start_sync_execution = start_sync_execution
