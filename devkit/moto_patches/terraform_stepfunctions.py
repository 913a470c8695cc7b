"""Gap: moto implements neither ValidateStateMachineDefinition nor ListStateMachineVersions.

The AWS provider (5.x) validates every definition before CreateStateMachine/UpdateStateMachine
and lists versions when it reads a state machine, so without these two calls `terraform apply`
of any `aws_sfn_state_machine` fails with a 500. The validation answers like AWS does for the
JSON syntax (the ASL itself is linted by asl-validator in the checks and run by moto's
interpreter in tests); the version list holds the versions moto knows of (none unless published).
"""

from __future__ import annotations

import json
from typing import Any

from devkit.moto_patches import missing_actions

MARKER = "_vehicle_classifier_terraform_patch"
ACTIONS = ("validate_state_machine_definition", "list_state_machine_versions")


def upstream_gaps() -> list[str]:
    """The actions moto itself still lacks (empty once upstream implements them)."""
    from moto.stepfunctions.responses import StepFunctionResponse

    return missing_actions(StepFunctionResponse, ACTIONS, MARKER)


def apply() -> None:
    """Add the missing actions (idempotent; each one only while moto lacks it)."""
    from moto.stepfunctions.responses import StepFunctionResponse

    for action in upstream_gaps():
        if not hasattr(StepFunctionResponse, action):
            implementation = globals()[f"_{action}"]
            setattr(implementation, MARKER, True)
            setattr(StepFunctionResponse, action, implementation)


def _validate_state_machine_definition(self: Any) -> Any:
    from moto.core.responses import ActionResult

    definition = self._get_param("definition") or ""
    try:
        document = json.loads(definition)
    except ValueError as error:
        diagnostics = [
            {"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": str(error)}
        ]
    else:
        diagnostics = []
        if not isinstance(document, dict) or "StartAt" not in document or "States" not in document:
            diagnostics.append(
                {
                    "severity": "ERROR",
                    "code": "SCHEMA_VALIDATION_FAILED",
                    "message": "a state machine needs StartAt and States",
                }
            )
    return ActionResult(
        {"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics, "truncated": False}
    )


def _list_state_machine_versions(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = self._get_param("stateMachineArn")
    backend = self.stepfunction_backend
    machine = backend.describe_state_machine(arn)  # raises StateMachineDoesNotExist like AWS
    versions = getattr(machine, "versions", {}) or {}
    listed = [
        {
            "stateMachineVersionArn": version.arn,
            "creationDate": getattr(version, "creation_date", None),
        }
        for version in versions.values()
    ]
    return ActionResult({"stateMachineVersions": listed})
