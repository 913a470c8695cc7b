"""Against the emulator: S3 window listing, CloudWatch metrics, the Lambda handler end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest
from PIL import Image, ImageFilter

from lambdas.shared.errors import ConfigurationError, InvalidEvent
from monitoring import capture, cli, handler, metrics, publish
from monitoring.accumulate import WindowSummary
from monitoring.baseline import BaselineError, save_baseline
from monitoring.evaluate import DriftSettings, ModelMismatch, evaluate
from monitoring.job import JobSettings, analyse, run_job, window_for
from tests.monitoring import synthetic

pytestmark = pytest.mark.integration

BUCKET = "captures"
ROOT = "datacapture/vehicle-ep/AllTraffic"
HOUR = datetime(2026, 1, 1, 10, tzinfo=UTC)


def put_lines(s3, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def blur(array, rng):
    return np.asarray(Image.fromarray(array).filter(ImageFilter.GaussianBlur(1.2)))


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_s3_window_reads_only_its_hour_partitions(s3, baseline):
    in_window = synthetic.window_lines(60, seed=40, start=HOUR)
    put_lines(s3, f"{ROOT}/2026/01/01/10/a.jsonl", in_window[:40])
    # records of 10:xx flushed into the next hour's partition are still found
    put_lines(s3, f"{ROOT}/2026/01/01/11/b.jsonl", in_window[40:])
    # records of the hour before, and a partition far away that must never be listed or read
    put_lines(
        s3,
        f"{ROOT}/2026/01/01/09/c.jsonl",
        synthetic.window_lines(5, seed=41, start=HOUR - timedelta(hours=1)),
    )
    s3.put_object(Bucket=BUCKET, Key=f"{ROOT}/2026/01/02/10/far.jsonl", Body=b"{broken")
    s3.put_object(Bucket=BUCKET, Key=f"{ROOT}/2026/01/01/10/notes.txt", Body=b"not capture")
    window = capture.Window(HOUR, HOUR + timedelta(hours=1))

    keys = [f.name for f in capture.iter_s3_files(s3, f"s3://{BUCKET}/datacapture", window)]
    assert keys == [
        f"s3://{BUCKET}/{ROOT}/2026/01/01/10/a.jsonl",
        f"s3://{BUCKET}/{ROOT}/2026/01/01/11/b.jsonl",
    ]

    report, _ = analyse(
        f"s3://{BUCKET}/datacapture", baseline, DriftSettings(), window, s3_client=s3
    )
    assert report["records"] == 60 and report["invalid_records"] == 0
    assert report["files_read"] == 2 and report["status"] == "ok"

    # no window: everything under the prefix, the broken far file counted as invalid
    everything, _ = analyse(f"s3://{BUCKET}/{ROOT}", baseline, DriftSettings(), s3_client=s3)
    assert everything["records"] == 66 and everything["skipped"] == {"not_json": 1}


def test_flat_export_on_s3_is_filtered_by_time(s3, baseline):
    lines = synthetic.window_lines(30, seed=45, start=HOUR)
    lines += synthetic.window_lines(10, seed=46, start=HOUR + timedelta(hours=3))
    put_lines(s3, "exports/flat.jsonl", lines)
    window = capture.Window(HOUR, HOUR + timedelta(hours=1))
    report, _ = analyse("s3://captures/exports", baseline, DriftSettings(), window, s3_client=s3)
    assert report["records"] == 30 and report["records_outside_window"] == 10


def test_missing_bucket_is_one_clear_error(aws, baseline):
    with pytest.raises(capture.CaptureSourceError, match="no-such-bucket"):
        analyse("s3://no-such-bucket/x", baseline, DriftSettings(), s3_client=boto3.client("s3"))


def test_published_metrics_reach_cloudwatch(aws, baseline):
    lines = synthetic.window_lines(120, seed=42, transform=blur, start=HOUR)
    report, _ = analyse_lines(baseline, lines)
    dims = publish.Dimensions("vehicle-ep", "AllTraffic", "test")
    cloudwatch = boto3.client("cloudwatch")
    sent = publish.publish_report(report, dims, namespace="Test/Monitoring", client=cloudwatch)
    assert sent == len(publish.metric_data(report, dims))

    listed = cloudwatch.list_metrics(Namespace="Test/Monitoring")["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {
        metrics.RECORDS_SEEN,
        metrics.DRIFT_SCORE,
        metrics.DRIFT_DETECTED,
        metrics.LOW_CONFIDENCE_RATE,
        metrics.FEATURE_DRIFT_SCORE,
        metrics.INVALID_RECORDS,
    } <= names
    sharpness = [m for m in listed if {"Name": "Feature", "Value": "sharpness"} in m["Dimensions"]]
    assert sharpness and all(
        {"Name": "Stage", "Value": "test"} in m["Dimensions"] for m in sharpness
    )

    stats = cloudwatch.get_metric_statistics(
        Namespace="Test/Monitoring",
        MetricName=metrics.DRIFT_DETECTED,
        Dimensions=dims.as_list(),
        StartTime=HOUR,
        EndTime=HOUR + timedelta(hours=2),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in stats] == [1.0]


def analyse_lines(baseline, lines):
    window = capture.Window(HOUR, HOUR + timedelta(hours=1))
    summary = WindowSummary(baseline=baseline, threshold=synthetic.THRESHOLD, window=window)
    for line in lines:
        summary.add_line(line.encode())
    summary.finish()
    return evaluate(summary, DriftSettings()), summary


@pytest.fixture
def lambda_env(s3, baseline, stage_env, tmp_path):
    s3.create_bucket(Bucket="artifacts")
    save_baseline(baseline, "s3://artifacts/model/baseline.json", s3_client=s3)
    locations = {
        "CAPTURE_S3_URI": f"s3://{BUCKET}/datacapture",
        "BASELINE_S3_URI": "s3://artifacts/model/baseline.json",
        "REPORT_S3_URI": "s3://artifacts/drift-reports",
    }
    env = stage_env("vehicle-ep", "Test/Lambda", locations)
    handler.settings.cache_clear()
    handler.client.cache_clear()
    yield env
    handler.settings.cache_clear()
    handler.client.cache_clear()


def test_handler_checks_the_previous_hour_and_reports(s3, lambda_env):
    put_lines(
        s3,
        f"{ROOT}/2026/01/01/10/a.jsonl",
        synthetic.window_lines(120, seed=43, transform=blur, start=HOUR),
    )
    event = {"scheduled_time": "2026-01-01T11:05:00Z"}  # EventBridge Scheduler input
    outcome = handler.handler(event, None)
    assert outcome["status"] == "drift" and outcome["records"] == 120
    assert "sharpness" in outcome["drifted_features"]
    report_key = "drift-reports/vehicle-ep/AllTraffic/2026/01/01/10/report.json"
    stored = json.loads(s3.get_object(Bucket="artifacts", Key=report_key)["Body"].read())
    assert stored["drift_detected"] is True and stored["window"]["start"] == HOUR.isoformat()
    html = s3.get_object(Bucket="artifacts", Key=report_key.replace(".json", ".html"))
    assert html["ContentType"] == "text/html"
    names = {
        m["MetricName"]
        for m in boto3.client("cloudwatch").list_metrics(Namespace="Test/Lambda")["Metrics"]
    }
    assert metrics.DRIFT_DETECTED in names


def test_handler_on_an_empty_hour_says_insufficient_data(s3, lambda_env):
    outcome = handler.handler(
        {"start": "2026-01-01T03:00:00Z", "end": "2026-01-01T04:00:00Z"}, None
    )
    assert outcome["status"] == "insufficient_data" and outcome["records"] == 0
    cloudwatch = boto3.client("cloudwatch")
    seen = cloudwatch.get_metric_statistics(
        Namespace="Test/Lambda",
        MetricName=metrics.RECORDS_SEEN,
        Dimensions=publish.Dimensions("vehicle-ep", "AllTraffic", "test").as_list(),
        StartTime=HOUR - timedelta(hours=8),
        EndTime=HOUR,
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in seen] == [0.0]  # a zero is published, so "capture stopped" alarms


def test_handler_missing_baseline_fails_and_publishes_job_failed(s3, lambda_env, monkeypatch):
    monkeypatch.setenv("BASELINE_S3_URI", "s3://artifacts/model/missing.json")
    handler.settings.cache_clear()
    with pytest.raises(BaselineError, match=r"missing\.json"):
        handler.handler({}, None)
    names = {
        m["MetricName"]
        for m in boto3.client("cloudwatch").list_metrics(Namespace="Test/Lambda")["Metrics"]
    }
    assert metrics.JOB_FAILED in names


def _job_failed_published() -> bool:
    listed = boto3.client("cloudwatch").list_metrics(Namespace="Test/Lambda")["Metrics"]
    return metrics.JOB_FAILED in {m["MetricName"] for m in listed}


@pytest.mark.parametrize("event", [[1], "2026", {"start": "2026-01-01T10:00:00Z"}])
def test_handler_refuses_a_malformed_event_before_any_work(s3, lambda_env, event):
    with pytest.raises(InvalidEvent):
        handler.handler(event, None)
    assert not _job_failed_published()  # the job never ran: the caller's input is wrong
    assert s3.list_objects_v2(Bucket="artifacts", Prefix="drift-reports/").get("KeyCount") == 0


def test_handler_refuses_another_models_baseline_and_publishes_job_failed(
    s3, lambda_env, monkeypatch
):
    """MODEL_SHA256 (Terraform: the released model's digest) differs from the baseline's."""
    put_lines(s3, f"{ROOT}/2026/01/01/10/a.jsonl", synthetic.window_lines(80, seed=44, start=HOUR))
    monkeypatch.setenv("MODEL_SHA256", "b" * 64)
    handler.settings.cache_clear()
    with pytest.raises(ModelMismatch, match="serves model bbbbbbbbbbbb"):
        handler.handler({"start": HOUR.isoformat(), "end": "2026-01-01T11:00:00Z"}, None)
    assert _job_failed_published()
    listed = s3.list_objects_v2(Bucket="artifacts", Prefix="drift-reports/").get("KeyCount")
    assert listed == 0  # refused before any report was written


def test_processing_job_command_refuses_another_models_baseline(
    s3, lambda_env, monkeypatch, capsys
):
    """`python -m monitoring.job` (the Processing job) refuses the same way, exit 2 + JobFailed;
    the served model's own digest runs."""
    put_lines(s3, f"{ROOT}/2026/01/01/10/a.jsonl", synthetic.window_lines(80, seed=44, start=HOUR))
    window = ["--start", HOUR.isoformat(), "--end", "2026-01-01T11:00:00Z"]
    monkeypatch.setenv("MODEL_SHA256", "b" * 64)
    assert cli.main(window) == 2
    assert "baseline was built with aaaaaaaaaaaa" in capsys.readouterr().err
    assert _job_failed_published()
    monkeypatch.setenv("MODEL_SHA256", "a" * 64)
    monkeypatch.setenv("REPORT_HTML", "false")
    assert cli.main(window) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 80


@pytest.mark.parametrize("digest", ["A" * 64, "a" * 63, "sha256:" + "a" * 64, "g" * 64])
def test_a_malformed_model_digest_is_a_configuration_error(lambda_env, digest):
    with pytest.raises(ConfigurationError, match="MODEL_SHA256"):
        JobSettings.from_env(lambda_env | {"MODEL_SHA256": digest})


def test_settings_and_window_validation():
    with pytest.raises(ConfigurationError, match="CAPTURE_S3_URI"):
        JobSettings.from_env({})
    env = {
        "CAPTURE_S3_URI": "s3://a/b",
        "BASELINE_S3_URI": "s3://a/b.json",
        "REPORT_S3_URI": "s3://a/r",
        "ENDPOINT_NAME": "ep",
        "MIN_RECORDS": "-3",
        "CONFIDENCE_THRESHOLD": "0.9",
    }
    with pytest.raises(ConfigurationError, match="MIN_RECORDS"):
        JobSettings.from_env(env)
    env["MIN_RECORDS"] = "80"
    settings = JobSettings.from_env(env)
    assert settings.min_records == 80 and settings.endpoint_capture_uri == "s3://a/b/ep/AllTraffic"
    now = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert window_for({}, 1, now) == capture.Window(HOUR - timedelta(hours=1), HOUR)
    with pytest.raises(InvalidEvent):
        window_for({"start": "2026-01-01T10:00:00Z"}, 1, now)
    with pytest.raises(InvalidEvent):
        window_for({"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T09:00:00Z"}, 1, now)


def test_run_job_directly(s3, lambda_env):
    put_lines(s3, f"{ROOT}/2026/01/01/10/a.jsonl", synthetic.window_lines(80, seed=44, start=HOUR))
    settings = JobSettings.from_env(lambda_env | {"REPORT_HTML": "false"})
    outcome = run_job(
        settings, capture.Window(HOUR, HOUR + timedelta(hours=1)), s3, boto3.client("cloudwatch")
    )
    assert outcome["status"] == "ok" and outcome["records"] == 80
    assert outcome["reports"] == [
        "s3://artifacts/drift-reports/vehicle-ep/AllTraffic/2026/01/01/10/report.json"
    ]
