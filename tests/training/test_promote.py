"""Promotion: the stage's tfvars file, validated inputs, image URIs resolved offline, and the
model's threshold read from the archive's decision.json (local or streamed from S3)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from monitoring.baseline import load_baseline
from tests.training.archives import archive_bytes, decision, real_archive, stage_root
from training import promote
from training.decision_file import DecisionFileError, read_decision
from training.promote import PromotionError, build_promotion, write_promotion
from training.release import ReleasedBaseline

MODEL = "s3://vc-artifacts/models/script/vc-script-2026/output/model.tar.gz"


@pytest.fixture
def stages(tmp_path: Path) -> Path:
    for stage in ("dev", "prod"):
        (tmp_path / stage).mkdir()
    return tmp_path


@pytest.fixture
def released(aws, monkeypatch, tmp_path: Path) -> Path:
    """The emulator with the stage's bucket, and a stage root promote writes into."""
    boto3.client("s3").create_bucket(Bucket="vc-artifacts")
    stage_root(tmp_path / "stages")
    monkeypatch.setattr(promote, "STAGES_DIR", tmp_path / "stages")
    return tmp_path / "stages"


def test_script_model_gets_the_pytorch_inference_image(stages: Path) -> None:
    promotion = build_promotion(
        "dev", model_data_url=MODEL, framework="pytorch", image_uri=None, region="eu-west-1",
        version=None, archive_threshold=0.8125, stages_dir=stages,
    )  # fmt: skip
    path = write_promotion(promotion, stages)
    assert path == stages / "dev" / "model.auto.tfvars.json"
    written = json.loads(path.read_text())
    assert set(written) == {
        "model_data_url", "model_image_uri", "model_framework", "model_version",
        "decision_threshold",
    }  # fmt: skip
    assert written["decision_threshold"] == 0.8125
    assert written["model_data_url"] == MODEL
    assert written["model_image_uri"].startswith("763104351884.dkr.ecr.eu-west-1.amazonaws.com/")
    assert "pytorch-inference:" in written["model_image_uri"]
    assert "-cpu-" in written["model_image_uri"]
    assert written["model_version"] == "vc-script-2026"  # the training job's name
    assert written["model_framework"] == "pytorch"
    assert [p.name for p in (stages / "dev").iterdir()] == ["model.auto.tfvars.json"]


def test_builtin_model_gets_the_algorithm_image(stages: Path) -> None:
    promotion = build_promotion(
        "prod", model_data_url="s3://b-1/x/model.tar.gz", framework="builtin", image_uri=None,
        region="us-west-2", version="v7", decision_threshold=0.9, stages_dir=stages,
    )  # fmt: skip
    assert promotion.model_image_uri.endswith(
        ".dkr.ecr.us-west-2.amazonaws.com/image-classification:1"
    )
    assert promotion.model_version == "v7"


def test_version_defaults_to_a_hash_when_no_job_name() -> None:
    assert promote.default_version("s3://b-1/x/model.tar.gz").startswith("sha256-")


IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stage": "staging"}, "stage"),
        ({"stage": "../dev"}, "stage"),
        ({"model_data_url": "https://b/model.tar.gz"}, "model data"),
        ({"model_data_url": "s3://vc-artifacts/model.zip"}, "model data"),
        ({"framework": "tensorflow"}, "framework"),
        ({"image_uri": "docker.io/library/python:3"}, "image URI"),
        ({"image_uri": IMAGE.replace(":2.6-cpu-py312", "")}, "image URI"),  # no tag
        ({"image_uri": IMAGE, "region": "us-east-1"}, "image URI is in eu-west-1"),
        ({"image_uri": None, "region": None}, "--region"),
        ({"region": "moon-1"}, "region"),
        ({"version": "has spaces"}, "version"),
        ({"archive_threshold": None}, "has no decision.json: give --decision-threshold"),
        ({"decision_threshold": 0.95}, "ambiguous threshold"),
        ({"archive_threshold": None, "decision_threshold": 1.0}, "strictly between 0 and 1"),
        ({"archive_threshold": None, "decision_threshold": 0.0}, "strictly between 0 and 1"),
        ({"archive_threshold": None, "decision_threshold": float("nan")}, "between 0 and 1"),
    ],
)
def test_bad_inputs_are_refused_and_nothing_is_written(stages, overrides, message) -> None:
    values = {
        "stage": "dev", "model_data_url": MODEL, "framework": "pytorch", "image_uri": IMAGE,
        "region": "eu-west-1", "version": None, "archive_threshold": 0.9, **overrides,
    }  # fmt: skip
    stage = values.pop("stage")
    with pytest.raises(PromotionError, match=message):
        build_promotion(stage, stages_dir=stages, **values)
    assert not list(stages.rglob("*.json"))


def test_the_same_threshold_given_twice_is_not_ambiguous(stages: Path) -> None:
    promotion = build_promotion(
        "dev", model_data_url=MODEL, framework="pytorch", image_uri=IMAGE, region=None,
        version=None, archive_threshold=0.9, decision_threshold=0.9, stages_dir=stages,
    )  # fmt: skip
    assert promotion.decision_threshold == 0.9


@pytest.mark.integration
def test_cli_writes_the_archives_threshold_and_its_baseline_into_the_stage(
    released: Path, tmp_path: Path, capsys, staged_dir: Path, trained_archive: Path
) -> None:
    local = real_archive(trained_archive, decision(0.8125), tmp_path / "model.tar.gz")
    code = promote.main(["--stage", "dev", "--model-data", MODEL, "--image-uri", IMAGE,
                         "--region", "eu-west-1", "--archive", str(local),
                         "--images", str(staged_dir)])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model_image_uri"] == IMAGE
    written = json.loads((released / "dev" / "model.auto.tfvars.json").read_text())
    assert (written["model_data_url"], written["decision_threshold"]) == (MODEL, 0.8125)
    assert written["model_sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert written["baseline_threshold"] == 0.8125
    assert written["baseline_s3_uri"] == (
        "s3://vc-artifacts/baselines/vc-script-2026/threshold-0.8125/baseline.json"
    )
    assert printed["baseline_s3_uri"] == written["baseline_s3_uri"]
    assert promote.main(["--stage", "nope", "--model-data", MODEL, "--image-uri", IMAGE]) == 2


def _cli(tmp_path: Path, *extra: str) -> int:
    stage_root(tmp_path)
    base = ["--stage", "dev", "--model-data", MODEL, "--image-uri", IMAGE, "--region", "eu-west-1"]
    return promote.main([*base, *extra])


@pytest.mark.parametrize(
    ("archive", "extra", "message"),
    [
        (archive_bytes(None), [], "has no decision.json: give --decision-threshold"),
        (archive_bytes(decision(0.8)), ["--decision-threshold", "0.7"], "ambiguous threshold"),
        (archive_bytes(decision(1.5)), [], "strictly between 0 and 1"),
        (archive_bytes(decision("0.9")), [], "must be a number"),
        (archive_bytes(decision(0.9, format=2)), [], "format 2 is not supported"),
        (archive_bytes(b"{not json"), [], "not JSON"),
        (b"not a tar archive", [], "not a readable .tar.gz archive"),
        (archive_bytes(None), ["--decision-threshold", "1"], "strictly between 0 and 1"),
    ],
)
def test_cli_refuses_a_missing_ambiguous_or_bad_threshold(
    monkeypatch, tmp_path: Path, capsys, archive: bytes, extra: list[str], message: str
) -> None:
    local = tmp_path / "model.tar.gz"
    local.write_bytes(archive)
    monkeypatch.setattr(promote, "STAGES_DIR", tmp_path)
    assert _cli(tmp_path, "--archive", str(local), *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "dev" / "model.auto.tfvars.json").exists()


@pytest.mark.integration
def test_cli_takes_the_flag_where_the_archive_has_none(
    released: Path, tmp_path: Path, staged_dir: Path, trained_archive: Path
) -> None:
    local = real_archive(trained_archive, None, tmp_path / "model.tar.gz")
    images = ["--images", str(staged_dir)]
    assert _cli(released, "--archive", str(local), "--decision-threshold", "0.85", *images) == 0
    written = json.loads((released / "dev" / "model.auto.tfvars.json").read_text())
    assert written["decision_threshold"] == written["baseline_threshold"] == 0.85


@pytest.mark.integration
def test_builtin_models_need_the_flag_and_get_an_image_only_baseline(
    released: Path, capsys, staged_dir: Path
) -> None:
    """The built-in algorithm's archive carries no decision.json and cannot run here: its
    baseline has the image features only, and its digest comes from the S3 object."""
    assert _cli(released, "--framework", "builtin") == 2
    assert "give --decision-threshold" in capsys.readouterr().err
    flags = ["--framework", "builtin", "--decision-threshold", "0.9", "--images", str(staged_dir)]
    assert _cli(released, *flags) == 2  # the artifact is not in the bucket
    assert f"cannot read {MODEL}" in capsys.readouterr().err
    assert not (released / "dev" / "model.auto.tfvars.json").exists()

    body = archive_bytes(None, weights=b"mxnet params")
    boto3.client("s3").put_object(Bucket="vc-artifacts", Key=MODEL.split("/", 3)[3], Body=body)
    assert _cli(released, *flags) == 0
    written = json.loads((released / "dev" / "model.auto.tfvars.json").read_text())
    assert written["model_sha256"] == hashlib.sha256(body).hexdigest()
    baseline = load_baseline(written["baseline_s3_uri"])
    assert not baseline.has_predictions and baseline.threshold == 0.9
    assert baseline.model_sha256 == written["model_sha256"]


@pytest.mark.integration
def test_uncertified_threshold_is_promoted_with_a_warning(
    released: Path, tmp_path: Path, capsys, staged_dir: Path, trained_archive: Path
) -> None:
    local = real_archive(trained_archive, decision(0.97, certified=False), tmp_path / "m.tar.gz")
    assert _cli(released, "--archive", str(local), "--images", str(staged_dir)) == 0
    assert "not certified" in capsys.readouterr().err


def test_a_promotion_without_images_is_refused_and_nothing_is_written(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    local = tmp_path / "model.tar.gz"
    local.write_bytes(archive_bytes(decision(0.8125)))
    monkeypatch.setattr(promote, "STAGES_DIR", tmp_path)
    assert _cli(tmp_path, "--archive", str(local)) == 2
    assert "give --images DIR" in capsys.readouterr().err
    assert not (tmp_path / "dev" / "model.auto.tfvars.json").exists()


def test_the_repo_stages_accept_the_written_keys() -> None:
    """Each stage root declares the variables promotion writes (Terraform reads them)."""
    stages_dir = Path(promote.__file__).resolve().parents[1] / "terraform" / "stages"
    for stage in ("dev", "prod", "local"):
        variables = (stages_dir / stage / "variables.tf").read_text()
        released = ReleasedBaseline("s3://b/baselines/v/baseline.json", "0" * 64, 0.9)
        for key in promote.Promotion("dev", MODEL, IMAGE, "pytorch", "v", 0.9, released).tfvars():
            assert f'variable "{key}"' in variables, (stage, key)


@pytest.mark.integration
def test_check_exists_against_the_emulator(aws) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="vc-artifacts")
    with pytest.raises(PromotionError, match="cannot read"):
        promote.check_artifact_exists(MODEL)
    s3.put_object(Bucket="vc-artifacts", Key=MODEL.split("/", 3)[3], Body=b"x")
    promote.check_artifact_exists(MODEL)


class CountingBody:
    """The emulator's real response body, counting the bytes the reader took from it."""

    def __init__(self, body: Any) -> None:
        self.body, self.read_bytes = body, 0

    def read(self, size: int = -1) -> bytes:
        data = self.body.read(size)
        self.read_bytes += len(data)
        return bytes(data)

    def close(self) -> None:
        self.body.close()


@pytest.mark.integration
def test_decision_is_streamed_from_s3_without_the_weights(aws) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="vc-artifacts")
    weights = os.urandom(8_000_000)  # incompressible: the whole archive is ~8 MB
    key = MODEL.split("/", 3)[3]
    s3.put_object(Bucket="vc-artifacts", Key=key, Body=archive_bytes(decision(0.75), weights))
    bodies: list[CountingBody] = []

    class Client:  # the real emulator client; only the body is wrapped to count what is read
        def get_object(self, **kwargs: Any) -> dict[str, Any]:
            response = s3.get_object(**kwargs)
            bodies.append(CountingBody(response["Body"]))
            return {**response, "Body": bodies[-1]}

    found = read_decision(MODEL, s3_client=Client())
    assert found is not None and found.decision_threshold == 0.75
    assert bodies[0].read_bytes < 1_000_000, "only the archive's head is read"

    with pytest.raises(DecisionFileError, match="cannot read"):
        read_decision("s3://vc-artifacts/models/missing/model.tar.gz", s3_client=s3)
    with pytest.raises(DecisionFileError, match="needs an S3 client"):
        read_decision(MODEL)


@pytest.mark.integration
def test_the_cli_streams_the_threshold_and_digests_the_served_object(
    released: Path, tmp_path: Path, staged_dir: Path, trained_archive: Path
) -> None:
    """Without --archive: decision.json streamed from --model-data, the archive downloaded for
    the baseline's predictions and digest (the bytes the endpoint will serve)."""
    served = real_archive(trained_archive, decision(0.75), tmp_path / "served.tar.gz")
    s3 = boto3.client("s3")
    s3.upload_file(str(served), "vc-artifacts", MODEL.split("/", 3)[3])
    assert _cli(released, "--images", str(staged_dir)) == 0
    written = json.loads((released / "dev" / "model.auto.tfvars.json").read_text())
    assert written["decision_threshold"] == 0.75
    assert written["model_sha256"] == hashlib.sha256(served.read_bytes()).hexdigest()
