"""Read a stage's sizing from its Terraform root, so the cost figures follow the deployed values.

Only literal assignments are read (`key = 12`, `key = "text"`, `key = true`), flattened by the
object they sit in (`endpoint.instance_type`); unset endpoint fields take the system module's
`optional(..., default)`. Anything else (expressions, variables) is left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cost_model import CostModelError, Endpoint, off_hours_per_month

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = REPO_ROOT / "terraform" / "stages"
SYSTEM_VARIABLES = REPO_ROOT / "terraform" / "modules" / "system" / "variables.tf"

_ASSIGNMENT = re.compile(r'^\s*(\w+)\s*=\s*("[^"]*"|-?[0-9.]+|true|false)\s*(#.*)?$')
_OPENING = re.compile(r'^\s*(\w+)(?:\s+"[^"]*")*\s*=?\s*\{\s*$')
_OPTIONAL = re.compile(r'^\s*(\w+)\s*=\s*optional\(\w+,\s*("[^"]*"|-?[0-9.]+|true|false)\)')


def _literal(text: str) -> str | float | bool:
    if text.startswith('"'):
        return text[1:-1]
    if text in {"true", "false"}:
        return text == "true"
    return float(text)


def literal_assignments(hcl: str) -> dict[str, str | float | bool]:
    """`{"a.b": value}` for every literal `b = value` inside a block or object `a`."""
    values: dict[str, str | float | bool] = {}
    path: list[str] = []
    for line in hcl.splitlines():
        if opened := _OPENING.match(line):
            path.append(opened.group(1))
        elif line.strip().startswith("}"):
            path = path[:-1]
        elif assigned := _ASSIGNMENT.match(line):
            values[".".join([*path, assigned.group(1)])] = _literal(assigned.group(2))
    return values


def endpoint_defaults(variables_tf: str) -> dict[str, str | float | bool]:
    """The `optional(type, default)` fields of the system module's `endpoint` variable."""
    block = variables_tf.split('variable "endpoint"', 1)[1].split("\nvariable ", 1)[0]
    return {m.group(1): _literal(m.group(2)) for m in map(_OPTIONAL.match, block.splitlines()) if m}


@dataclass(frozen=True)
class StageSizing:
    stage: str
    images_per_month: float
    endpoint: Endpoint
    target_invocations_per_instance: float


def read_stage(
    stage: str, stages: Path = STAGES, variables: Path = SYSTEM_VARIABLES
) -> StageSizing:
    values = literal_assignments((stages / stage / "main.tf").read_text())
    values = {k.removeprefix("module.").removeprefix("locals."): v for k, v in values.items()}
    if "expected_images_per_month" not in values:
        raise CostModelError(f"stage {stage} sets no literal expected_images_per_month")
    endpoint = {**endpoint_defaults(variables.read_text())}
    endpoint.update({k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("endpoint.")})
    off_hours = 0.0
    if "endpoint.off_hours.scale_down_cron" in values:
        off_hours = off_hours_per_month(
            str(values["endpoint.off_hours.scale_down_cron"]),
            str(values["endpoint.off_hours.scale_up_cron"]),
        )
    return StageSizing(
        stage=stage,
        images_per_month=float(values["expected_images_per_month"]),
        endpoint=Endpoint(
            instance_type=str(endpoint["instance_type"]),
            min_capacity=int(endpoint["min_capacity"]),
            max_capacity=int(endpoint["max_capacity"]),
            serverless=bool(endpoint["serverless"]),
            serverless_memory_mb=int(endpoint.get("serverless_memory_mb", 2048)),
            off_hours_per_month=off_hours,
        ),
        target_invocations_per_instance=float(endpoint["target_invocations_per_instance"]),
    )
