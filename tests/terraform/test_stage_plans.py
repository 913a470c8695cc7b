"""dev and prod plan for real (AWS provider, the emulator as endpoint) from a copy of the tree.

`terraform validate` never evaluates file reads, the build manifest or stage values; a plan does.
The copy gets Terraform override files (local backend, provider pointed at the emulator), so the
stage roots themselves stay exactly as deployed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from devkit import terraform
from devkit.local_stage import DEFAULT_MODEL, REPO_ROOT
from lambdas import build

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

OVERRIDES = """
terraform {
  backend "local" {}
}

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  max_retries                 = 2

  endpoints {
    sts = "ENDPOINT"
    iam = "ENDPOINT"
  }
}
"""


def _zip(path: Path, name: str) -> dict[str, str]:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, b"# test package\n")
    digest = base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
    return {"path": str(path), "sha256": digest}


def _packages(out: Path) -> dict[str, str]:
    """Stand-in zips with the manifest shape of `lambdas.build --with-pillow --with-drift-deps`
    (a plan never uploads them; their hashes only have to match)."""
    out.mkdir()
    layers = {
        name: _zip(out / f"{name}.zip", "python/x.py")
        for name in (build.SHARED_LAYER, build.PILLOW_LAYER, build.DRIFT_DEPS_LAYER)
    }
    functions = {
        name: {
            **_zip(out / f"{name}.zip", "handler.py"),
            "handler": build.handler_of(name),
            "layers": list(build.FUNCTION_LAYERS.get(name, (build.SHARED_LAYER,))),
        }
        for name in (*build.FUNCTIONS, build.DRIFT_JOB)
    }
    manifest = out / "manifest.json"
    manifest.write_text(
        json.dumps({"runtime": "python3.13", "functions": functions, "layers": layers})
    )
    return {"lambda_manifest_path": str(manifest)}


RELEASE_ROLE = "arn:aws:iam::123456789012:role/deploy"


def _plan_result(stage: str, emulator, tmp_path: Path, release_roles: list[str]):
    tree = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "terraform", tree / "terraform", ignore=shutil.ignore_patterns(".terraform")
    )
    shutil.copytree(REPO_ROOT / "stepfunctions", tree / "stepfunctions")
    root = tree / "terraform" / "stages" / stage
    (root / "emulator_override.tf").write_text(OVERRIDES.replace("ENDPOINT", emulator.endpoint_url))
    variables = {**DEFAULT_MODEL, **_packages(tmp_path / "build")}
    variables["model_image_uri"] = variables["model_image_uri"].replace("us-east-1", "eu-west-1")
    variables["release_role_arns"] = json.dumps(release_roles)
    env = {**emulator.env(), "TF_DATA_DIR": str(tmp_path / "tf-data"), "AWS_REGION": "eu-west-1"}
    terraform.run([f"-chdir={root}", "init", "-input=false", "-no-color"], env=env, capture=True)
    args = [f"-var={k}={v}" for k, v in variables.items()]
    result = terraform.run(
        [
            f"-chdir={root}",
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-out=tfplan",
            *args,
        ],
        env=env,
        check=False,
        capture=True,
    )
    return result, root, env


def _plan(stage: str, emulator, tmp_path: Path) -> dict:
    result, root, env = _plan_result(stage, emulator, tmp_path, [RELEASE_ROLE])
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    shown = terraform.run([f"-chdir={root}", "show", "-json", "tfplan"], env=env, capture=True)
    return json.loads(shown.stdout)


def test_prod_refuses_to_plan_without_release_roles(emulator, tmp_path):
    """Without release roles any role that may put objects could replace the model or the
    baseline; prod does not plan at all, naming the variable."""
    result, _, _ = _plan_result("prod", emulator, tmp_path, [])
    assert result.returncode == 1
    assert "prod needs release_role_arns" in " ".join(result.stderr.split())


def test_dev_refuses_a_release_role_that_is_not_a_role_arn(emulator, tmp_path):
    """deploy.yml builds the list from repository variables; an empty or mistyped one must stop
    the plan, not become an invalid principal in the bucket policy at apply."""
    result, _, _ = _plan_result("dev", emulator, tmp_path, [RELEASE_ROLE, ""])
    assert result.returncode == 1
    assert "release_role_arns must be IAM role ARNs" in " ".join(result.stderr.split())


RUNBOOK = REPO_ROOT / "monitoring" / "RUNBOOK.md"


def _runbook_alarms() -> set[str]:
    """Alarm names (`<name>-...`) that a RUNBOOK heading gives an entry to."""
    headings = [line for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")]
    return {
        token
        for heading in headings
        for token in heading.split("`")[1::2]  # the text between backticks
        if token.startswith("<name>-")
    }


def _assert_every_alarm_has_a_runbook_entry(resources: dict[str, dict], stage: str) -> None:
    alarms = {
        values["alarm_name"]: values["alarm_description"]
        for address, values in resources.items()
        if ".aws_cloudwatch_metric_alarm." in address
    }
    # 19 + the review machine's failures, throttled and ReviewTimedOut + record_label's throttles
    # + the upload path's backlog and its starter's throttles + the audits' LiveMisrouteRate
    assert len(alarms) == 27, sorted(alarms)
    prefix = f"vehicle-classifier-{stage}-"
    assert all(name.startswith(prefix) for name in alarms)
    # AWS Budgets pages the same topic: its budget needs an entry too.
    budgets = [v["name"] for a, v in resources.items() if ".aws_budgets_budget." in a]
    assert budgets == [f"{prefix}monthly-cost"], budgets
    missing = {name.replace(prefix, "<name>-", 1) for name in [*alarms, *budgets]}
    missing -= _runbook_alarms()
    assert not missing, f"alarms without a monitoring/RUNBOOK.md entry: {sorted(missing)}"
    assert all("Runbook: monitoring/RUNBOOK.md" in d for d in alarms.values())


def _resources(plan: dict) -> dict[str, dict]:
    return {
        change["address"]: change["change"]["after"]
        for change in plan["resource_changes"]
        if change["change"]["actions"] == ["create"]
    }


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_stage_plans_with_its_values(stage, emulator, tmp_path):
    resources = _resources(_plan(stage, emulator, tmp_path))
    prefix = "module.system.module."
    config = resources[f"{prefix}model_endpoint.aws_sagemaker_endpoint_configuration.this"]
    variant = config["production_variants"][0]
    target = resources[f"{prefix}model_endpoint.aws_appautoscaling_target.this[0]"]
    endpoint = resources[f"{prefix}model_endpoint.aws_sagemaker_endpoint.this"]
    routing = endpoint["deployment_config"][0]["blue_green_update_policy"][0][
        "traffic_routing_configuration"
    ][0]
    serialize = resources[f'{prefix}inference_workflow.aws_lambda_function.this["serialize_image"]']
    drift = resources[f"{prefix}monitoring.aws_lambda_function.drift_job"]

    assert endpoint["name"] == f"vehicle-classifier-{stage}"
    assert config["name_prefix"] == f"vehicle-classifier-{stage}-"
    if stage == "prod":
        assert variant["instance_type"] == "ml.c6i.large"
        assert (target["min_capacity"], target["max_capacity"]) == (2, 6)
        assert routing["type"] == "CANARY"
    else:
        assert variant["instance_type"] == "ml.c6i.large"
        assert (target["min_capacity"], target["max_capacity"]) == (1, 2)
        assert routing["type"] == "ALL_AT_ONCE"
    # Layer ARNs are known only after apply; the layers themselves are planned.
    assert f'{prefix}inference_workflow.aws_lambda_layer_version.this["pillow_layer"]' in resources
    assert f"{prefix}monitoring.aws_lambda_layer_version.deps[0]" in resources
    assert serialize["runtime"] == drift["runtime"] == "python3.13"
    # the gate decodes photos up to 48 MP (contract.limits); the other functions keep the default
    assert serialize["memory_size"] == 1024
    # prod caps each upload-path function (cost an uploader can cause); dev keeps the shared pool
    for function in ("serialize_image", "classify_image", "filter_inferences"):
        planned = resources[f'{prefix}inference_workflow.aws_lambda_function.this["{function}"]']
        assert planned["reserved_concurrent_executions"] == (20 if stage == "prod" else -1)
    classify = resources[f'{prefix}inference_workflow.aws_lambda_function.this["classify_image"]']
    assert classify["memory_size"] == 256
    schedule = resources[f"{prefix}monitoring.aws_scheduler_schedule.drift_job[0]"]
    assert schedule["schedule_expression"] == "cron(5 * * * ? *)"
    _assert_every_alarm_has_a_runbook_entry(resources, stage)
    # The stages leave review.live_misroute_alarm unset: the module's defaults apply.
    live = resources[
        f"{prefix}inference_workflow.aws_cloudwatch_metric_alarm.live_misroute_rate[0]"
    ]
    assert live["threshold"] == pytest.approx(3.72**2)
    expression = next(q["expression"] for q in live["metric_query"] if q["id"] == "z2")
    assert expression.startswith("IF(audited >= 200, IF((misrouted - 0.01 * audited) > 0, ")
    budget = resources[f"{prefix}monitoring.aws_budgets_budget.monthly[0]"]
    assert budget["limit_amount"] == ("800.00" if stage == "prod" else "150.00")
    assert budget["cost_filter"] == [{"name": "TagKeyValue", "values": [f"user:Stage${stage}"]}]
    # dev holds one instance at night and at weekends; prod serves around the clock
    scale_down = f"{prefix}model_endpoint.aws_appautoscaling_scheduled_action.scale_down[0]"
    if stage == "dev":
        assert resources[scale_down]["schedule"] == "cron(0 20 ? * MON-FRI *)"
        assert resources[scale_down]["scalable_target_action"] == [
            {"min_capacity": "1", "max_capacity": "1"}
        ]
    else:
        assert scale_down not in resources
    machines = {
        address: values
        for address, values in resources.items()
        if ".aws_sfn_state_machine." in address
    }
    assert len(machines) >= 2
    for values in machines.values():
        (encryption,) = values["encryption_configuration"]
        assert encryption["type"] == "CUSTOMER_MANAGED_KMS_KEY"
        assert encryption["kms_data_key_reuse_period_seconds"] == 300
    logs = resources[f"{prefix}model_endpoint.aws_cloudwatch_log_group.this"]
    assert logs["retention_in_days"] == (400 if stage == "prod" else 30)
