"""The release step as a new user runs the README's promotion against the emulator: the model's
drift baseline built from the staged images, published at a key of its own in the stage's
bucket, and recorded beside the model for Terraform; the drift job accepts it for that model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pytest

from monitoring.baseline import load_baseline
from monitoring.evaluate import ModelMismatch, check_model, window_threshold
from tests.training.archives import archive_bytes, decision, real_archive, stage_root
from training import promote
from training.release import ReleaseError, baseline_key, stage_pin

pytestmark = pytest.mark.integration

BUCKET = "vehicle-classifier-dev-data-1a2b"
JOB = "vc-script-2026-12-06"
MODEL = f"s3://{BUCKET}/models/script/{JOB}/output/model.tar.gz"
IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"


@pytest.fixture
def stage(aws, monkeypatch, tmp_path: Path) -> Path:
    """The stage's data bucket in the emulator and a stage root like the repo's."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(promote, "STAGES_DIR", tmp_path / "stages")
    return stage_root(tmp_path / "stages")


def _promote(staged_dir: Path, *extra: str) -> int:
    # The README's first promotion command, plus --images (the staged data the model was
    # trained on, as `training.data stage` wrote it).
    return promote.main(["--stage", "dev", "--model-data", MODEL, "--region", "eu-west-1",
                         "--image-uri", IMAGE, "--images", str(staged_dir), *extra])  # fmt: skip


def _tfvars(stage: Path) -> dict:
    return json.loads((stage / promote.TFVARS_NAME).read_text())


def test_the_readme_promotion_publishes_the_models_baseline(
    stage: Path, tmp_path: Path, staged_dir: Path, trained_archive: Path
) -> None:
    model = real_archive(trained_archive, decision(0.8125), tmp_path / "model.tar.gz")
    s3 = boto3.client("s3")
    s3.upload_file(str(model), BUCKET, MODEL.split("/", 3)[3])
    assert _promote(staged_dir) == 0

    written = _tfvars(stage)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    key = f"baselines/{JOB}/threshold-0.8125/baseline.json"
    assert written["baseline_s3_uri"] == f"s3://{BUCKET}/{key}"
    assert (written["model_sha256"], written["baseline_threshold"]) == (digest, 0.8125)
    baseline = load_baseline(written["baseline_s3_uri"])
    assert baseline.model_sha256 == digest and baseline.threshold == 0.8125
    assert baseline.model is not None and baseline.model["version"] == JOB
    # Statistics from the training split, predictions on the validation split.
    train = len(list((staged_dir / "train").glob("*/*.png")))
    validation = len(list((staged_dir / "validation").glob("*/*.png")))
    assert (baseline.source["image_count"], baseline.source["prediction_count"]) == (
        train,
        validation,
    )
    assert sum(baseline.categorical["below_threshold"].values()) == validation
    # What Terraform hands the drift job is accepted by it: same model, same threshold.
    check_model(baseline, written["model_sha256"])
    assert window_threshold(baseline, written["decision_threshold"]) == 0.8125

    # The same release again (a re-run workflow): the published object is kept, not rewritten.
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert _promote(staged_dir) == 0
    assert _tfvars(stage) == written
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == etag


def test_a_pin_gets_its_own_baseline_beside_the_old_one(
    stage: Path, tmp_path: Path, staged_dir: Path, trained_archive: Path
) -> None:
    model = real_archive(trained_archive, decision(0.8125), tmp_path / "model.tar.gz")
    assert _promote(staged_dir, "--archive", str(model)) == 0
    before = _tfvars(stage)["baseline_s3_uri"]

    stage_root(stage.parent, pin="0.97")  # the stage pins its own threshold
    assert _promote(staged_dir, "--archive", str(model)) == 0
    after = _tfvars(stage)
    assert after["decision_threshold"] == 0.8125  # the model's, as before
    assert after["baseline_threshold"] == 0.97  # the stage's effective one
    assert after["baseline_s3_uri"].endswith(f"/{JOB}/threshold-0.97/baseline.json")
    assert load_baseline(after["baseline_s3_uri"]).threshold == 0.97
    assert load_baseline(before).threshold == 0.8125  # still there for the deployed stage


def test_another_model_under_a_used_version_is_refused(
    stage: Path, tmp_path: Path, staged_dir: Path, trained_archive: Path, capsys
) -> None:
    first = real_archive(trained_archive, decision(0.8125), tmp_path / "first.tar.gz")
    assert _promote(staged_dir, "--archive", str(first)) == 0
    written = _tfvars(stage)

    # Different bytes (another certified flag), same version label and threshold.
    other = real_archive(trained_archive, decision(0.8125, method="other"), tmp_path / "o.tar.gz")
    assert _promote(staged_dir, "--archive", str(other)) == 2
    assert "is never overwritten: give this model another --version" in capsys.readouterr().err
    assert _tfvars(stage) == written  # the stage's record is untouched
    published = load_baseline(written["baseline_s3_uri"])
    assert published.model_sha256 == written["model_sha256"]
    with pytest.raises(ModelMismatch):  # the drift job would refuse the mix-up
        check_model(published, hashlib.sha256(other.read_bytes()).hexdigest())

    assert _promote(staged_dir, "--archive", str(other), "--version", "other-run") == 0
    assert _tfvars(stage)["baseline_s3_uri"].endswith("/other-run/threshold-0.8125/baseline.json")


def test_release_inputs_are_checked_before_anything_is_published(
    stage: Path, tmp_path: Path, staged_dir: Path, capsys
) -> None:
    local = tmp_path / "model.tar.gz"
    local.write_bytes(archive_bytes(None))  # a tar.gz, but no model the predictor can load
    broken = ["--archive", str(local), "--decision-threshold", "0.9"]
    assert _promote(staged_dir, *broken) == 2  # pytorch: the predictor cannot load it
    assert "drift baseline:" in capsys.readouterr().err
    assert _promote(tmp_path / "no-such-folder", *broken) == 2
    assert "image folder not found" in capsys.readouterr().err
    assert _promote(staged_dir, *broken, "--baseline-bucket", "Not_A_Bucket") == 2
    assert "is not a bucket name" in capsys.readouterr().err
    assert not (stage / promote.TFVARS_NAME).exists()
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="baselines/")
    assert listed["KeyCount"] == 0


def test_the_stage_pin_is_read_from_the_stage_roots_one_line(tmp_path: Path) -> None:
    assert stage_pin(stage_root(tmp_path)) is None
    assert stage_pin(stage_root(tmp_path, pin="0.97")) == 0.97
    for bad in ("1.5", "var.x"):
        with pytest.raises(ReleaseError, match="decision_threshold_override"):
            stage_pin(stage_root(tmp_path, pin=bad))
    (tmp_path / "dev" / "main.tf").write_text("# no pin line\n")
    with pytest.raises(ReleaseError, match="exactly once"):
        stage_pin(tmp_path / "dev")
    repo_stages = Path(promote.__file__).resolve().parents[1] / "terraform" / "stages"
    for name in ("dev", "prod", "local"):
        assert stage_pin(repo_stages / name) is None, name  # the repo's roots parse


def test_keys_are_per_model_and_threshold() -> None:
    assert baseline_key("job-1", 0.93) == "baselines/job-1/threshold-0.93/baseline.json"
    assert baseline_key("job-1", 0.93) != baseline_key("job-2", 0.93)
    assert baseline_key("job-1", 0.93) != baseline_key("job-1", 0.9300001)
