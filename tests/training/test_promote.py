"""Promotion: the stage's tfvars file, validated inputs, image URIs resolved offline."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from training import promote
from training.promote import PromotionError, build_promotion, write_promotion

MODEL = "s3://vc-artifacts/models/script/vc-script-2026/output/model.tar.gz"


@pytest.fixture
def stages(tmp_path: Path) -> Path:
    for stage in ("dev", "prod"):
        (tmp_path / stage).mkdir()
    return tmp_path


def test_script_model_gets_the_pytorch_inference_image(stages: Path) -> None:
    promotion = build_promotion(
        "dev", model_data_url=MODEL, framework="pytorch", image_uri=None, region="eu-west-1",
        version=None, stages_dir=stages,
    )  # fmt: skip
    path = write_promotion(promotion, stages)
    assert path == stages / "dev" / "model.auto.tfvars.json"
    written = json.loads(path.read_text())
    assert set(written) == {"model_data_url", "model_image_uri", "model_framework", "model_version"}
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
        region="us-west-2", version="v7", stages_dir=stages,
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
    ],
)
def test_bad_inputs_are_refused_and_nothing_is_written(stages, overrides, message) -> None:
    values = {
        "stage": "dev", "model_data_url": MODEL, "framework": "pytorch", "image_uri": IMAGE,
        "region": "eu-west-1", "version": None, **overrides,
    }  # fmt: skip
    stage = values.pop("stage")
    with pytest.raises(PromotionError, match=message):
        build_promotion(stage, stages_dir=stages, **values)
    assert not list(stages.rglob("*.json"))


def test_cli_writes_into_the_repo_stage(monkeypatch, tmp_path: Path, capsys) -> None:
    (tmp_path / "dev").mkdir()
    monkeypatch.setattr(promote, "STAGES_DIR", tmp_path)
    code = promote.main(["--stage", "dev", "--model-data", MODEL, "--image-uri", IMAGE,
                         "--region", "eu-west-1"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["model_image_uri"] == IMAGE
    assert json.loads((tmp_path / "dev" / "model.auto.tfvars.json").read_text())["model_data_url"]
    assert promote.main(["--stage", "nope", "--model-data", MODEL, "--image-uri", IMAGE]) == 2


def test_the_repo_stages_accept_the_written_keys() -> None:
    """Each stage root declares the variables promotion writes (Terraform reads them)."""
    stages_dir = Path(promote.__file__).resolve().parents[1] / "terraform" / "stages"
    for stage in ("dev", "prod", "local"):
        variables = (stages_dir / stage / "variables.tf").read_text()
        for key in ("model_data_url", "model_image_uri", "model_framework", "model_version"):
            assert f'variable "{key}"' in variables, (stage, key)


@pytest.mark.integration
def test_check_exists_against_the_emulator(aws) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="vc-artifacts")
    with pytest.raises(PromotionError, match="cannot read"):
        promote.check_artifact_exists(MODEL)
    s3.put_object(Bucket="vc-artifacts", Key=MODEL.split("/", 3)[3], Body=b"x")
    promote.check_artifact_exists(MODEL)
