"""Apply, plan and destroy the `local` Terraform stage against a running emulator.

The stage is the real system (terraform/stages/local -> modules/system) with the AWS provider
pointed at the moto server; state and Terraform's working data live in a work directory outside
the tree, and the Lambda packages are built into it first.

    python -m devkit.local_stage cycle --endpoint http://127.0.0.1:5000 # apply, verify, destroy
    python -m devkit.local_stage apply --endpoint ... --work-dir .local/stage

From Python (the local main job, tests):

    stage = LocalStage(emulator.endpoint_url, work_dir)
    outputs = stage.apply()          # builds packages, init, apply; returns the outputs
    stage.verify()                   # the endpoint serves the promoted model, the workflow answers
    assert not stage.plan_has_changes()
    stage.destroy()
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from contract.cli import CliParser
from devkit import terraform
from devkit.emulator import aws_env
from devkit.verify_rollout import (
    Deployed,
    Promoted,
    RolloutError,
    Verified,
    boto3_clients,
    verify,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGE_DIR = REPO_ROOT / "terraform" / "stages" / "local"
# Used when the stage has no model.auto.tfvars.json from `python -m training.promote --stage local`:
# a placeholder model (no archive behind it) for the first apply, before any model is trained.
# Its threshold is a stand-in too; a promotion replaces it with the one the model earned.
DEFAULT_MODEL = {
    "model_data_url": "s3://vehicle-classifier-local-artifacts/models/local/model.tar.gz",
    "model_image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/vehicle-classifier:local",
    "decision_threshold": "0.9",
    # No model released yet: a placeholder baseline the drift job would refuse (no such object).
    "model_sha256": "0" * 64,
    "baseline_s3_uri": "s3://vehicle-classifier-local-artifacts/baselines/none/baseline.json",
    "baseline_threshold": "0.9",
}


class LocalStageError(RuntimeError):
    """Building the packages or a Terraform command of the local stage failed."""


def build_packages(out: Path) -> Path:
    """Build every Lambda zip (the workflow's and the drift job's, `lambdas.build`) into
    `out/lambda`; returns the manifest the stage reads them from."""
    lambda_dir = out / "lambda"
    _run_python(["-m", "lambdas.build", "--out", str(lambda_dir)])
    return lambda_dir / "manifest.json"


def _run_python(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LocalStageError(f"python {' '.join(args)} failed: {result.stderr[-2000:]}")


@dataclass
class LocalStage:
    """The local stage bound to one emulator endpoint and one work directory."""

    endpoint_url: str
    work_dir: Path
    variables: dict[str, str] = field(default_factory=dict)
    parallelism: int = 20
    timings: dict[str, float] = field(default_factory=dict)
    _manifest: Path | None = None
    _initialised: bool = False

    def env(self) -> dict[str, str]:
        return {
            **aws_env(self.endpoint_url),
            "TF_DATA_DIR": str(self.work_dir / "terraform-data"),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }

    def _var_args(self) -> list[str]:
        values = {
            "emulator_endpoint": self.endpoint_url,
            "lambda_manifest_path": str(self.packages()),
        }
        if not (STAGE_DIR / "model.auto.tfvars.json").exists():
            values.update(DEFAULT_MODEL)
        values.update(self.variables)
        return [f"-var={key}={value}" for key, value in values.items()]

    def promoted_model(self) -> dict[str, str]:
        """The model values the stage is applied with: the promotion's tfvars, else the
        placeholder, overridden by `variables`."""
        tfvars = STAGE_DIR / "model.auto.tfvars.json"
        values = dict(json.loads(tfvars.read_text())) if tfvars.exists() else dict(DEFAULT_MODEL)
        values.update({k: v for k, v in self.variables.items() if k.startswith("model_")})
        return values

    def verify(self, *, smoke: bool = True, timeout_s: float = 120.0) -> Verified:
        """After apply: the endpoint serves the promoted model and the workflow answers
        (devkit.verify_rollout, as the deploy job runs it); RolloutError says why not."""
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
            region_name=self.env()["AWS_REGION"],
        )
        clients = boto3_clients(session, endpoint_url=self.endpoint_url)
        return verify(
            clients,
            Promoted.from_tfvars(self.promoted_model()),
            Deployed.from_outputs(self.outputs()),
            timeout_s=timeout_s,
            poll_s=1.0,
            smoke=smoke,
        )

    def packages(self) -> Path:
        """The manifest of the Lambda packages, built on first use."""
        if self._manifest is None:
            self._manifest = build_packages(self.work_dir / "build")
        return self._manifest

    def _terraform(self, step: str, *args: str, ok: tuple[int, ...] = (0,)) -> int:
        started = time.monotonic()
        result = terraform.run(
            [f"-chdir={STAGE_DIR}", *args, "-no-color"],
            env=self.env(),
            check=False,
            capture=True,
        )
        runs = sum(1 for name in self.timings if name.split("#")[0] == step)
        label = f"{step}#{runs + 1}" if runs else step  # apply, apply#2, ...
        self.timings[label] = round(time.monotonic() - started, 1)
        (self.work_dir / f"{step}.log").write_text(result.stdout + result.stderr)
        if result.returncode not in ok:
            raise LocalStageError(
                f"terraform {step} of the local stage failed ({result.returncode}); "
                f"log: {self.work_dir / f'{step}.log'}\n{result.stderr[-3000:]}"
            )
        return result.returncode

    def init(self) -> None:
        if self._initialised:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        state = self.work_dir / "terraform.tfstate"
        self._terraform("init", "init", "-input=false", f"-backend-config=path={state}")
        self._initialised = True

    def apply(self) -> dict[str, object]:
        """Create or update the stack; return the root outputs (plain values)."""
        self.init()
        self._terraform(
            "apply",
            "apply",
            "-auto-approve",
            "-input=false",
            f"-parallelism={self.parallelism}",
            *self._var_args(),
        )
        return self.outputs()

    def plan_has_changes(self) -> bool:
        """Plan again; False when the emulator's state matches the configuration exactly."""
        self.init()
        code = self._terraform(
            "plan",
            "plan",
            "-detailed-exitcode",
            "-input=false",
            f"-parallelism={self.parallelism}",
            *self._var_args(),
            ok=(0, 2),
        )
        return code == 2

    def destroy(self) -> None:
        self.init()
        self._terraform(
            "destroy",
            "destroy",
            "-auto-approve",
            "-input=false",
            f"-parallelism={self.parallelism}",
            *self._var_args(),
        )

    def outputs(self) -> dict[str, object]:
        result = terraform.run(
            [f"-chdir={STAGE_DIR}", "output", "-json"], env=self.env(), check=True, capture=True
        )
        return {key: value["value"] for key, value in json.loads(result.stdout).items()}

    def state_resources(self) -> list[str]:
        result = terraform.run(
            [f"-chdir={STAGE_DIR}", "state", "list"], env=self.env(), check=False, capture=True
        )
        return [line for line in result.stdout.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Apply/plan/destroy the local Terraform stage.")
    parser.add_argument("action", choices=["apply", "plan", "destroy", "cycle"])
    parser.add_argument(
        "--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:5000"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=REPO_ROOT / ".local" / "stage",
        help="state, Terraform data and packages (default .local/stage, git-ignored)",
    )
    parser.add_argument("--var", action="append", default=[], help="extra KEY=VALUE variables")
    parser.add_argument(
        "--no-smoke",
        action="store_true",
        help="after apply, verify the endpoint only (no request through the workflow)",
    )
    args = parser.parse_args(argv)
    variables = dict(item.split("=", 1) for item in args.var)
    stage = LocalStage(args.endpoint, args.work_dir.resolve(), variables)
    rollout_failed = False
    try:
        if args.action in {"apply", "cycle"}:
            print(json.dumps(stage.apply(), indent=2))
            # The placeholder model has no artifact to serve: only the endpoint is checked.
            smoke = not args.no_smoke and stage.promoted_model() != DEFAULT_MODEL
            try:
                print(stage.verify(smoke=smoke).summary())
            except RolloutError as error:
                print(f"rollout failed: {' '.join(str(error).split())}", file=sys.stderr)
                rollout_failed = True
                if args.action == "apply":
                    return 2
        if args.action in {"plan", "cycle"}:
            changes = stage.plan_has_changes()
            print("plan: changes pending" if changes else "plan: no changes")
            if changes and args.action == "cycle":
                return 2
        if args.action in {"destroy", "cycle"}:
            stage.destroy()
    except (LocalStageError, terraform.TerraformError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("timings (s): " + ", ".join(f"{k} {v}" for k, v in stage.timings.items()))
    return 2 if rollout_failed else 0


if __name__ == "__main__":
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    sys.exit(main())
