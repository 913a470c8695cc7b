"""Promote a trained model to a stage (the release step): record it where the stage's Terraform
reads it, with the drift baseline built from it.

    python -m training.promote --stage dev --model-data s3://bucket/.../model.tar.gz \
        --images data/staged [--framework pytorch|builtin] [--image-uri URI | --region REGION] \
        [--version LABEL] [--archive local/model.tar.gz] [--decision-threshold X] \
        [--baseline-bucket BUCKET]

builds the model's drift baseline from the staged images at the stage's effective threshold and
publishes it to the stage's data bucket (training/release.py), then writes
`terraform/stages/<stage>/model.auto.tfvars.json` with `model_data_url`, `model_image_uri`,
`model_framework`, `model_version`, `decision_threshold`, `model_sha256`, `baseline_s3_uri` and
`baseline_threshold`; the next `terraform apply` of that stage deploys the model (a new
SageMaker model + endpoint configuration, then an endpoint update) and gives its threshold to
the filter Lambda and the drift job, and the baseline and digest to the drift job. Without
`--image-uri` the serving image is resolved offline by the SageMaker SDK for the region: the
PyTorch inference container for our script-mode model, the image-classification image for the
built-in algorithm's model. The baseline's predictions need torch (our script-mode model only).

The threshold is the one the model earned in training: the archive's `decision.json`, read from
`--archive` (a local copy) or else streamed from `--model-data`. `--decision-threshold` is for
archives without one (the built-in algorithm's); given beside an archive value that differs, it
is refused as ambiguous (a stage pins its own value in Terraform, visibly, instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from contract.cli import CliParser
from training.decision_file import DecisionFileError, check_threshold, read_decision
from training.launch import REGION, script_image_uri
from training.release import ReleasedBaseline, ReleaseError, release_baseline

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES_DIR = REPO_ROOT / "terraform" / "stages"
TFVARS_NAME = "model.auto.tfvars.json"
FRAMEWORKS = ("pytorch", "builtin")

# The same patterns as the stage variables' validation blocks, so a promotion that passes here
# passes `terraform plan`.
MODEL_DATA_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\.tar\.gz$")
IMAGE_URI = re.compile(
    r"^[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9._/-]*"
    r"(:[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$"
)
STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
VERSION = re.compile(r"^[A-Za-z0-9._:/+-]{1,128}$")


class PromotionError(ValueError):
    """An input the promotion refuses; nothing was written."""


@dataclass(frozen=True)
class Promotion:
    stage: str
    model_data_url: str
    model_image_uri: str
    model_framework: str
    model_version: str
    decision_threshold: float
    baseline: ReleasedBaseline | None = None  # the release step's; written with the model

    def tfvars(self) -> dict[str, str | float]:
        return {
            "model_data_url": self.model_data_url,
            "model_image_uri": self.model_image_uri,
            "model_framework": self.model_framework,
            "model_version": self.model_version,
            "decision_threshold": self.decision_threshold,
            **(self.baseline.tfvars() if self.baseline else {}),
        }


def resolve_threshold(from_archive: float | None, given: float | None) -> float:
    """The archive's threshold, or the one given where the archive has none; never both."""
    try:
        if given is not None:
            given = check_threshold(given, "--decision-threshold")
        if from_archive is not None:
            from_archive = check_threshold(from_archive, "the archive's decision_threshold")
    except DecisionFileError as error:
        raise PromotionError(str(error)) from None
    if from_archive is None and given is None:
        raise PromotionError(
            "the archive has no decision.json: give --decision-threshold (in (0, 1))"
        )
    if from_archive is not None and given is not None and given != from_archive:
        raise PromotionError(
            f"ambiguous threshold: the archive's decision.json says {from_archive}, "
            f"--decision-threshold says {given}; drop the flag, or pin the stage's value with "
            "decision_threshold_override in its Terraform"
        )
    threshold = from_archive if from_archive is not None else given
    assert threshold is not None
    return threshold


def resolve_image_uri(framework: str, region: str) -> str:
    """The serving image for `framework` in `region`, from the SDK's offline tables."""
    if framework == "pytorch":
        # Any CPU instance type selects the CPU image; the endpoint's type is Terraform's.
        return script_image_uri(region, "ml.m5.large", "inference")
    from sagemaker.core import image_uris

    return str(image_uris.retrieve("image-classification", region=region))


def default_version(model_data_url: str) -> str:
    """The training job name in SageMaker's `<prefix>/<job>/output/model.tar.gz`, else a hash."""
    parts = model_data_url.removeprefix("s3://").split("/")
    if len(parts) >= 3 and parts[-2] == "output" and parts[-1] == "model.tar.gz":
        candidate = parts[-3]
        if VERSION.match(candidate):
            return candidate
    return "sha256-" + hashlib.sha256(model_data_url.encode()).hexdigest()[:12]


def check_stage_and_model(stage: str, model_data_url: str, stages_dir: Path | None = None) -> None:
    stages_dir = stages_dir or STAGES_DIR
    if not STAGE_NAME.match(stage) or not (stages_dir / stage).is_dir():
        known = (
            sorted(p.name for p in stages_dir.iterdir() if p.is_dir())
            if stages_dir.is_dir()
            else []
        )
        raise PromotionError(f"stage {stage!r} is not one of {known}")
    if not MODEL_DATA_URL.match(model_data_url):
        raise PromotionError(f"model data {model_data_url!r} is not an s3://bucket/key.tar.gz URL")


def build_promotion(
    stage: str,
    *,
    model_data_url: str,
    framework: str,
    image_uri: str | None,
    region: str | None,
    version: str | None,
    decision_threshold: float | None = None,
    archive_threshold: float | None = None,
    stages_dir: Path | None = None,
) -> Promotion:
    """Validate every input; resolve the image, the version label and the threshold."""
    check_stage_and_model(stage, model_data_url, stages_dir)
    if framework not in FRAMEWORKS:
        raise PromotionError(f"framework {framework!r} is not one of {FRAMEWORKS}")
    if region is not None and not REGION.match(region):
        raise PromotionError(f"region {region!r} is not valid")
    if image_uri is None:
        if region is None:
            raise PromotionError("give --image-uri, or --region to resolve the serving image")
        image_uri = resolve_image_uri(framework, region)
    match = IMAGE_URI.match(image_uri)
    if not match:
        raise PromotionError(f"image URI {image_uri!r} is not an ECR image URI with a tag")
    if region is not None and match.group(1) != region:
        raise PromotionError(f"image URI is in {match.group(1)}, the stage in {region}")
    version = version or default_version(model_data_url)
    if not VERSION.match(version):
        raise PromotionError(f"version label {version!r} is not valid")
    threshold = resolve_threshold(archive_threshold, decision_threshold)
    return Promotion(stage, model_data_url, image_uri, framework, version, threshold)


def archive_threshold(framework: str, model_data_url: str, archive: str | None) -> float | None:
    """decision.json's threshold (local `archive` first, else the S3 object); None for built-in
    algorithm models, whose archives are not ours and carry none."""
    if framework == "builtin" and archive is None:
        return None
    source = archive or model_data_url
    try:
        decision = read_decision(
            source, s3_client=boto3.client("s3") if source.startswith("s3://") else None
        )
    except DecisionFileError as error:
        raise PromotionError(str(error)) from None
    if decision is None:
        return None
    if decision.certified is False:
        print(
            f"warning: the model's threshold {decision.decision_threshold} is not certified for "
            f"its misroute target (decision.json: {dict(decision.fields)})",
            file=sys.stderr,
        )
    return decision.decision_threshold


def write_promotion(promotion: Promotion, stages_dir: Path | None = None) -> Path:
    """Write the tfvars file atomically (temp file in the same directory, then rename)."""
    target = (stages_dir or STAGES_DIR) / promotion.stage / TFVARS_NAME
    handle, temp_name = tempfile.mkstemp(prefix=".model-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(promotion.tfvars(), stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def check_artifact_exists(model_data_url: str) -> None:
    """HEAD the artifact, so a typo is caught before Terraform creates a broken model."""
    bucket, _, key = model_data_url.removeprefix("s3://").partition("/")
    try:
        boto3.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        raise PromotionError(f"cannot read {model_data_url}: {error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(description="Record a model for a stage's Terraform.")
    parser.add_argument("--stage", required=True, help="a directory of terraform/stages/")
    parser.add_argument("--model-data", required=True, help="s3://.../model.tar.gz")
    parser.add_argument("--framework", choices=FRAMEWORKS, default="pytorch")
    parser.add_argument("--image-uri", help="serving image (default: resolved for --region)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    parser.add_argument("--version", help="label (default: training job name or hash)")
    parser.add_argument("--check-exists", action="store_true", help="HEAD the artifact in S3")
    parser.add_argument(
        "--archive", help="local copy of the archive to read decision.json from (default: S3)"
    )
    parser.add_argument(
        "--decision-threshold",
        type=float,
        help="routing threshold in (0, 1), only for archives without decision.json (builtin)",
    )
    parser.add_argument(
        "--images",
        type=Path,
        help="staged images (train/, validation/ of <label>/*.png) the drift baseline is built "
        "from (required)",
    )
    parser.add_argument(
        "--baseline-bucket",
        help="the stage's data bucket for the baseline (default: the bucket of --model-data)",
    )
    args = parser.parse_args(argv)
    try:
        check_stage_and_model(args.stage, args.model_data)
        promotion = build_promotion(
            args.stage,
            model_data_url=args.model_data,
            framework=args.framework,
            image_uri=args.image_uri,
            region=args.region,
            version=args.version,
            decision_threshold=args.decision_threshold,
            archive_threshold=archive_threshold(args.framework, args.model_data, args.archive),
        )
        if args.check_exists:
            check_artifact_exists(promotion.model_data_url)
        if args.images is None:
            raise PromotionError(
                "give --images DIR: the staged images the stage's drift baseline is built from "
                "(a model without its baseline leaves the drift job failing)"
            )
        released = release_baseline(
            STAGES_DIR / promotion.stage,
            model_data_url=promotion.model_data_url,
            model_version=promotion.model_version,
            framework=promotion.model_framework,
            model_threshold=promotion.decision_threshold,
            images=args.images,
            archive=Path(args.archive) if args.archive else None,
            bucket=args.baseline_bucket,
        )
        path = write_promotion(replace(promotion, baseline=released))
    except (PromotionError, ReleaseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"written": str(path), **json.loads(path.read_text())}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
