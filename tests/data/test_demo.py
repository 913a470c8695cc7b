"""The main job's data steps (`python -m devkit.demo --data-only`), offline, on the emulator."""

from __future__ import annotations

import json

import boto3
import pytest

from devkit import demo

pytestmark = pytest.mark.integration


def test_demo_stages_synthetic_data_to_an_encrypted_bucket(aws, tmp_path, capsys):
    out = tmp_path / "demo"
    code = demo.main(
        [
            "--data-only",
            "--offline",
            "--out",
            str(out),
            "--quiet",
            "--synthetic-per-class",
            "20",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "[1/5] start the AWS emulator" in printed and "offline: a generated" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["train"] == {"bicycle": 16, "motorcycle": 16}
    assert summary["counts"]["test"] == {"bicycle": 4, "motorcycle": 4}
    assert summary["channels"]["train_lst"] == (
        "s3://vehicle-classifier-local-data/datasets/cifar100-bikes/train_lst/"
    )
    s3 = boto3.client("s3")
    head = s3.head_object(Bucket=demo.DATA_BUCKET, Key=f"{demo.DATASET_PREFIX}/dataset_card.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == summary["kms_key_arn"]
    assert (out / "data" / "train.lst").is_file()


def test_demo_with_a_bad_source_fails_cleanly(aws, tmp_path, capsys):
    code = demo.main(
        [
            "--data-only",
            "--source",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "d"),
            "--quiet",
        ]
    )
    assert code == 2
    assert "error: SourceError:" in capsys.readouterr().err
