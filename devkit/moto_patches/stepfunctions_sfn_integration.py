"""Gap: moto's `states:startExecution` task integration sends the ASL's field names to boto.

A Task on `arn:aws:states:::states:startExecution[.sync[:2]]` takes the API's fields the way
Step Functions documents them (`StateMachineArn`, `Input`, `Name`) and answers in the same case
(`ExecutionArn`, `StartDate`; with `.sync:2`, `Output`, `Status`, ...). moto 5.2.5's interpreter
(a port of LocalStack's) left out the step that maps them onto the SDK's shapes
(`stateMachineArn`, `executionArn`), so botocore refuses the request (KeyError, which the
interpreter reports as `States.Runtime`) and the `.sync` resolvers look for `ExecutionArn` in
vain. The patch restores that step for the Step Functions integration only, from botocore's own
service model, which is what LocalStack does for every integration.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore import xform_name

MARKER = "_normalises_sfn_fields"


def _target() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn,
    )

    return state_task_service_sfn.StateTaskServiceSfn


@functools.cache
def _operation(action: str) -> Any:
    """botocore's operation model of a Step Functions API, by its snake_case method name."""
    model = botocore.session.get_session().get_service_model("stepfunctions")
    names = {xform_name(name): name for name in model.operation_names}
    return model.operation_model(names[action])


def moto_still_skips_normalisation() -> bool:
    """True while the interpreter's base class passes ASL-cased fields through unchanged."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )

    parameters = {"StateMachineArn": "arn"}
    StateTaskService._normalise_parameters(
        _target().__new__(_target()),
        parameters,
        boto_service_name="stepfunctions",
        service_action_name="start_execution",
    )
    return "StateMachineArn" in parameters


def apply() -> None:
    target = _target()
    if getattr(target._normalise_response, MARKER, False) or not moto_still_skips_normalisation():
        return
    original_parameters = target._normalise_parameters

    def _normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_parameters(self, parameters, boto_service_name, service_action_name)
        action = self._get_boto_service_action(service_action_name)
        self._to_boto_request(parameters, _operation(action).input_shape)

    def _normalise_response(
        self: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        action = self._get_boto_service_action(service_action_name)
        self._from_boto_response(response, _operation(action).output_shape)

    setattr(_normalise_response, MARKER, True)
    target._normalise_parameters = _normalise_parameters
    target._normalise_response = _normalise_response
