"""The release step: the promoted model's drift baseline, built and published with its promotion.

`python -m training.promote ... --images DIR` runs it (see promote.py): the staged training
images (statistics) and validation images (the model's predictions, made from each image's bytes
as the endpoint prepares a request) become the drift baseline, counted at the stage's EFFECTIVE
threshold (its pin, `decision_threshold_override` in the stage's main.tf, else the model's
decision.json), with the model archive's sha256 in it. It goes to the stage's data bucket at a
key of its own, `baselines/<model_version>/threshold-<X>/baseline.json`, written only if absent
(S3 conditional write), so a release never replaces the baseline a deployed stage still reads.
The stage's tfvars then carry `baseline_s3_uri`, `model_sha256` and `baseline_threshold` beside
the model: Terraform gives the first two to the drift job (which refuses a baseline of another
model) and refuses a plan whose pin differs from the third.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from monitoring.baseline import Baseline, BaselineError, load_baseline
from training.baseline import folder_baseline, model_predict
from training.decision_file import DecisionFileError, check_threshold

BASELINE_PREFIX = "baselines"
# The stage root's one pin line: `decision_threshold_override = null` or a number.
PIN_LINE = re.compile(r"^\s*decision_threshold_override\s*=\s*([^\s#]+)\s*(?:#.*)?$", re.M)
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class ReleaseError(ValueError):
    """The baseline cannot be built or published; the stage's tfvars were not written."""


@dataclass(frozen=True)
class ReleasedBaseline:
    """What the stage's Terraform needs of the published baseline."""

    baseline_s3_uri: str
    model_sha256: str
    baseline_threshold: float

    def tfvars(self) -> dict[str, str | float]:
        return {
            "baseline_s3_uri": self.baseline_s3_uri,
            "model_sha256": self.model_sha256,
            "baseline_threshold": self.baseline_threshold,
        }


def stage_pin(stage_dir: Path) -> float | None:
    """The stage's `decision_threshold_override` from its main.tf: None for `null`."""
    main_tf = stage_dir / "main.tf"
    try:
        found = PIN_LINE.findall(main_tf.read_text())
    except OSError as error:
        raise ReleaseError(f"cannot read the stage's threshold pin: {error}") from None
    if len(found) != 1:
        raise ReleaseError(
            f"{main_tf} must set decision_threshold_override exactly once (null or a number)"
        )
    if found[0] == "null":
        return None
    what = f"{main_tf}: decision_threshold_override"
    try:
        return check_threshold(float(found[0]), what)
    except DecisionFileError as error:
        raise ReleaseError(str(error)) from None
    except ValueError:
        raise ReleaseError(f"{what} = {found[0]} is not null or a number") from None


def baseline_key(model_version: str, threshold: float) -> str:
    """One key per (model, threshold): a pin change publishes beside, never over, the old one."""
    return f"{BASELINE_PREFIX}/{model_version}/threshold-{threshold!r}/baseline.json"


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def build_release_baseline(
    images: Path,
    archive: Path,
    *,
    framework: str,
    threshold: float,
    model: dict[str, Any],
) -> Baseline:
    """Image statistics of the training split and, for our script-mode model, its predictions
    on the validation split at `threshold`. The built-in algorithm's archive cannot run here, so
    its baseline has image features only (the drift job then tests those)."""
    predict = model_predict(archive) if framework == "pytorch" else None
    return folder_baseline(images, predict, threshold=threshold, model=model)


def publish_baseline(baseline: Baseline, bucket: str, key: str, s3_client: Any) -> str:
    """Write the baseline at `key` only if absent. An existing one for the same model and
    threshold is kept (a re-run of the same release); any other is refused."""
    uri = f"s3://{bucket}/{key}"
    try:
        s3_client.put_object(
            Bucket=bucket,
            Key=key,
            Body=baseline.to_json().encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
        return uri
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code not in {"PreconditionFailed", "ConditionalRequestConflict"}:
            raise ReleaseError(f"cannot publish the baseline to {uri}: {error}") from error
    try:
        existing = load_baseline(uri, s3_client=s3_client)
    except BaselineError as error:
        raise ReleaseError(f"{uri} exists and is not a readable baseline: {error}") from error
    if (existing.model_sha256, existing.threshold) != (baseline.model_sha256, baseline.threshold):
        raise ReleaseError(
            f"{uri} already holds the baseline of model {(existing.model_sha256 or '?')[:12]} "
            f"at threshold {existing.threshold}; it is never overwritten: give this model "
            "another --version"
        )
    return uri


def release_baseline(
    stage_dir: Path,
    *,
    model_data_url: str,
    model_version: str,
    framework: str,
    model_threshold: float,
    images: Path,
    archive: Path | None,
    bucket: str | None = None,
    s3_client: Any = None,
) -> ReleasedBaseline:
    """Build the model's baseline at the stage's effective threshold and publish it to `bucket`
    (default: the model's own bucket, the stage's data bucket its training job wrote to)."""
    bucket = bucket or model_data_url.removeprefix("s3://").split("/", 1)[0]
    if not BUCKET.match(bucket):
        raise ReleaseError(f"baseline bucket {bucket!r} is not a bucket name")
    if not images.is_dir():
        raise ReleaseError(f"image folder not found: {images}")
    pin = stage_pin(stage_dir)
    threshold = model_threshold if pin is None else pin
    if s3_client is None:
        s3_client = boto3.client("s3")
    with tempfile.TemporaryDirectory(prefix="release-") as scratch:
        if archive is None:  # the bytes the endpoint will serve: their digest is the model's
            archive = Path(scratch) / "model.tar.gz"
            source_bucket, _, source_key = model_data_url.removeprefix("s3://").partition("/")
            try:
                s3_client.download_file(source_bucket, source_key, str(archive))
            except Exception as error:  # NoSuchKey / AccessDenied: one clear error
                raise ReleaseError(f"cannot read {model_data_url}: {error}") from error
        elif not archive.is_file():
            raise ReleaseError(f"model archive not found: {archive}")
        digest = sha256_of(archive)
        model = {
            "sha256": digest,
            "path": model_data_url,
            "version": model_version,
            "decision_threshold": model_threshold,
        }
        try:
            baseline = build_release_baseline(
                images, archive, framework=framework, threshold=threshold, model=model
            )
        except BaselineError as error:
            raise ReleaseError(f"drift baseline: {error}") from error
        except Exception as error:  # an archive the predictor cannot load (torch, tar errors)
            raise ReleaseError(f"drift baseline: {type(error).__name__}: {error}") from error
    uri = publish_baseline(baseline, bucket, baseline_key(model_version, threshold), s3_client)
    return ReleasedBaseline(uri, digest, threshold)
