"""The README's main job (`python -m devkit.demo`), offline on the emulator, as a user runs it.

The reduced run is the whole system end to end: Terraform applies the local stage, data is
staged into its bucket, a small model is trained, promoted and deployed by a second apply, the
real state machine classifies staged images through the emulated endpoint serving that model,
captured traffic feeds the drift job, and injected drift crosses the drift alarm's threshold;
then the stack is destroyed. `--data-only` runs only the data steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from devkit import demo

pytestmark = pytest.mark.integration


def offline_demo(tmp_path: Path, *options: str) -> tuple[int, Path]:
    """Run the demo offline and quietly under `tmp_path`; (exit code, its --out folder)."""
    out = tmp_path / "run"
    arguments = ["--offline", "--quiet", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    return demo.main([*arguments, *options]), out


def test_data_steps_stage_synthetic_data_to_an_encrypted_bucket(aws, tmp_path, capsys):
    code, out = offline_demo(tmp_path, "--data-only", "--synthetic-per-class", "20")
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


def test_data_steps_with_a_bad_source_fail_cleanly(aws, tmp_path, capsys):
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


# Terraform applies twice and destroys once: minutes, not the suite's default 300 s limit.
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_reduced_local_run(aws, tmp_path, capsys):
    code, out = offline_demo(
        tmp_path,
        "--synthetic-per-class",
        "60",
        "--epochs",
        "6",
        "--workflow-images",
        "2",
        "--drift-records",
        "80",
        "--drift-scenario",
        "darken",
    )
    printed = capsys.readouterr().out
    assert code == 0, printed[-3000:]
    summary = json.loads((out / "summary.json").read_text())

    # The workflow: 2 images per class + a strict-threshold repeat + a non-image + a missing key.
    outcomes = summary["workflow"]["outcomes"]
    assert outcomes.get("InvalidImage") == 2
    # Reviews are answered by the demo with the true class: routed by the reviewer, never rejected.
    reviewed = outcomes.get("RoutedByReviewer", 0)
    assert outcomes.get("Routed", 0) + reviewed == 5
    assert reviewed >= 1  # the 0.9999 threshold always goes to review
    assert summary["workflow"]["reviews_answered"] == reviewed
    # Every final decision left one label record.
    assert summary["workflow"]["label_records"] == 5
    assert summary["workflow"]["label_records_by_decision"]["reviewed"] == reviewed
    quality = summary["workflow"]["quality"]
    assert quality["images"] == 4 and 0 <= quality["coverage"] <= 1
    assert 0 < quality["threshold"] < 1
    # The live-quality report over the same records (and its plot beside the summary).
    live = summary["workflow"]["live_quality"]
    assert live["decisions"] == 5 and live["routed_automatically"] == outcomes.get("Routed", 0)
    assert live["low_confidence"]["reviewed"] + live["audit"]["reviewed"] == reviewed
    assert (out / "quality" / "quality.png").read_bytes()[:4] == b"\x89PNG"

    # One threshold: the one the model earned (its decision.json) is what the stage routes with
    # and what the drift job judges at.
    promotion = summary["promotion"]
    assert 0 < promotion["decision_threshold"] < 1
    assert promotion["effective_decision_threshold"] == promotion["decision_threshold"]
    # The release step published the model's baseline and Terraform gave it to the drift job.
    assert promotion["baseline_s3_uri"].startswith("s3://vehicle-classifier-local-data-")
    assert "/baselines/local-" in promotion["baseline_s3_uri"]
    assert promotion["baseline_threshold"] == promotion["decision_threshold"]
    assert promotion["drift_job_environment"] == {
        "BASELINE_S3_URI": promotion["baseline_s3_uri"],
        "MODEL_SHA256": promotion["model_sha256"],
    }

    # Monitoring: the injected drift is detected and scores above the clean window.
    drift = summary["drift"]
    assert drift["darken"]["drift_detected"] is True
    assert drift["darken"]["drift_score"] > drift["clean"]["drift_score"]
    clean_report = json.loads((out / "monitoring" / "clean" / "report.json").read_text())
    assert clean_report["records"] == 80 and clean_report["invalid_records"] == 0
    assert clean_report["threshold"] == promotion["decision_threshold"]
    assert "vehicle-classifier-local-drift" in printed and "-> ALARM" in printed

    # Pictures a person looks at.
    for picture in (
        out / "model" / "training_curves.png",
        out / "model" / "confusion_matrix.png",
        out / "monitoring" / "darken" / "report.html",
    ):
        assert picture.is_file() and picture.stat().st_size > 1000

    # Torn down: no endpoint, no state machine left in the emulator.
    assert boto3.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert boto3.client("stepfunctions").list_state_machines()["stateMachines"] == []
