"""promote -> model.auto.tfvars.json -> the Lambdas' environment, through a stage root.

A copy of the tree gets a real release (`python -m training.promote` reading decision.json from
an archive, publishing the drift baseline to the emulator), then `terraform test` (mock
provider) runs on the copied dev root with that file as its only source of the threshold, the
baseline and the model digest: the filter Lambda and the drift job must carry them. A stage pin
in the root's main.tf without a new release is refused at plan; released again, the pin wins
and shows in the outputs.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import boto3
import pytest

from devkit import terraform
from devkit.local_stage import REPO_ROOT
from tests.monitoring import synthetic
from training import promote

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

MODEL = "s3://vehicle-classifier-dev-data/models/run-7/output/model.tar.gz"
IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"
PIN_LINE = "decision_threshold_override = null"

TEST_FILE = """
mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  lambda_manifest_path = "../../../tests/terraform/fixtures/lambda/manifest.json"
  # A real stage names its release role (dev warns without one: a failed check block).
  release_role_arns = ["arn:aws:iam::111122223333:role/release"]
}

run "promoted_threshold" {
  command = apply

  assert {
    condition = (
      module.system.function_environments.filter_inferences.CONFIDENCE_THRESHOLD == "EXPECTED"
    )
    error_message = "the filter Lambda's CONFIDENCE_THRESHOLD is not EXPECTED"
  }

  assert {
    condition     = module.system.function_environments.drift_job.CONFIDENCE_THRESHOLD == "EXPECTED"
    error_message = "the drift job's CONFIDENCE_THRESHOLD is not EXPECTED"
  }

  assert {
    condition = (
      module.system.function_environments.drift_job.BASELINE_S3_URI == "@BASELINE@" &&
      module.system.function_environments.drift_job.MODEL_SHA256 == "@DIGEST@"
    )
    error_message = "the drift job does not get the released baseline and the model's digest"
  }

  assert {
    condition = (
      output.effective_decision_threshold == EXPECTED && output.decision_threshold_pinned == PINNED
    )
    error_message = "outputs: effective ${output.effective_decision_threshold}"
  }
}
"""


def _archive(path: Path, threshold: float) -> None:
    fields = {"format": 1, "decision_threshold": threshold, "certified": True}
    body = json.dumps(fields).encode()
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (("decision.json", body), ("model.pt", b"weights")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _stage_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "terraform", tree / "terraform", ignore=shutil.ignore_patterns(".terraform")
    )
    shutil.copytree(REPO_ROOT / "stepfunctions", tree / "stepfunctions")
    shutil.copytree(REPO_ROOT / "tests" / "terraform", tree / "tests" / "terraform")
    return tree / "terraform" / "stages"


def _terraform_test(root: Path, expected: str, pinned: bool, tmp_path: Path) -> tuple[int, str]:
    written = json.loads((root / promote.TFVARS_NAME).read_text())
    text = TEST_FILE.replace("EXPECTED", expected).replace("PINNED", str(pinned).lower())
    text = text.replace("@BASELINE@", written["baseline_s3_uri"])
    (root / "threshold.tftest.hcl").write_text(text.replace("@DIGEST@", written["model_sha256"]))
    env = {"TF_DATA_DIR": str(tmp_path / "tf-data"), "CHECKPOINT_DISABLE": "1"}
    terraform.run(
        [f"-chdir={root}", "init", "-backend=false", "-input=false", "-no-color"],
        env=env,
        capture=True,
    )
    result = terraform.run(
        [f"-chdir={root}", "test", "-no-color"], env=env, check=False, capture=True
    )
    return result.returncode, result.stdout[-3000:] + result.stderr[-3000:]


def test_promoted_threshold_reaches_the_lambdas_and_a_pin_needs_a_release(
    aws, monkeypatch, tmp_path
) -> None:
    stages = _stage_copy(tmp_path)
    archive = tmp_path / "model.tar.gz"
    _archive(archive, 0.8125)
    images = synthetic.write_image_folder(tmp_path / "images", 20, seed=3)
    boto3.client("s3").create_bucket(Bucket=MODEL.split("/")[2])
    monkeypatch.setattr(promote, "STAGES_DIR", stages)
    # The built-in framework: its archive is not run here, so the baseline has image features
    # only; the threshold still comes from the archive's decision.json (--archive).
    argv = ["--stage", "dev", "--model-data", MODEL, "--image-uri", IMAGE, "--region",
            "eu-west-1", "--framework", "builtin", "--archive", str(archive),
            "--images", str(images)]  # fmt: skip
    assert promote.main(argv) == 0
    root = stages / "dev"
    written = json.loads((root / promote.TFVARS_NAME).read_text())
    assert written["decision_threshold"] == written["baseline_threshold"] == 0.8125
    code, output = _terraform_test(root, "0.8125", False, tmp_path)
    assert code == 0 and "1 passed" in output, output

    main_tf = root / "main.tf"
    assert main_tf.read_text().count(PIN_LINE) == 1
    main_tf.write_text(main_tf.read_text().replace(PIN_LINE, "decision_threshold_override = 0.97"))
    code, output = _terraform_test(root, "0.97", True, tmp_path)
    assert code != 0 and "baseline was built at another threshold" in output, output

    assert promote.main(argv) == 0  # the release step rebuilds the baseline at the pin
    assert json.loads((root / promote.TFVARS_NAME).read_text())["baseline_threshold"] == 0.97
    code, output = _terraform_test(root, "0.97", True, tmp_path)
    assert code == 0 and "1 passed" in output, output
