"""The same job under Model Monitor's bring-your-own-container contract (flag off by default)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image, ImageFilter

from monitoring import cli, metrics
from monitoring.baseline import save_baseline
from tests.monitoring import synthetic


def blur(array, rng):
    return np.asarray(Image.fromarray(array).filter(ImageFilter.GaussianBlur(1.2)))


@pytest.fixture
def byoc_env(tmp_path: Path, baseline, stage_env) -> dict[str, str]:
    """What Model Monitor mounts and sets, plus the stage settings Terraform adds."""
    source = tmp_path / "input" / "endpoint" / "ep" / "AllTraffic" / "2026" / "01" / "01" / "10"
    source.mkdir(parents=True)
    (source / "x.jsonl").write_text("\n".join(synthetic.window_lines(100, seed=70, transform=blur)))
    save_baseline(baseline, tmp_path / "baseline.json")
    mounted = {
        "MONITORING_BYOC": "true",
        "dataset_source": str(tmp_path / "input" / "endpoint"),
        "output_path": str(tmp_path / "result"),
        "baseline_statistics": str(tmp_path / "baseline.json"),
        "start_time": "2026-01-01T10:00:00Z",
        "end_time": "2026-01-01T11:00:00Z",
        "publish_cloudwatch_metrics": "Disabled",
        "sagemaker_endpoint_name": "ep",
    }
    return stage_env("ep", "Test/ModelMonitor", mounted)


def test_byoc_contract_writes_constraint_violations(tmp_path: Path, byoc_env, capsys):
    assert cli.main([]) == 0
    violations = json.loads((tmp_path / "result" / "constraint_violations.json").read_text())
    names = {v["feature_name"] for v in violations["violations"]}
    assert "sharpness" in names
    assert all(
        v["constraint_check_type"] == "baseline_drift_check" for v in violations["violations"]
    )
    assert json.loads((tmp_path / "result" / "report.json").read_text())["records"] == 100
    assert json.loads(capsys.readouterr().out)["status"] == "drift"


def test_job_command_without_settings_is_one_clear_error(monkeypatch, capsys):
    for name in ("MONITORING_BYOC", "CAPTURE_S3_URI"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: environment variable CAPTURE_S3_URI") and err.count("\n") == 1


def test_byoc_judges_at_the_stage_threshold(byoc_env, monkeypatch, capsys):
    # The baseline counted below_threshold at 0.9; a stage routing at 0.8 must not be judged
    # against it (the Lambda refuses the same way).
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.8")
    assert cli.main([]) == 2
    assert "threshold" in capsys.readouterr().err


@pytest.mark.integration
def test_byoc_puts_the_stage_metrics_the_alarms_watch(aws, byoc_env, monkeypatch, capsys):
    monkeypatch.setenv("publish_cloudwatch_metrics", "Enabled")
    assert cli.main([]) == 0
    listed = boto3.client("cloudwatch").list_metrics(Namespace="Test/ModelMonitor")["Metrics"]
    drift = [m for m in listed if m["MetricName"] == metrics.DRIFT_SCORE]
    assert drift and {d["Name"]: d["Value"] for d in drift[0]["Dimensions"]} == {
        "EndpointName": "ep",
        "VariantName": "AllTraffic",
        "Stage": "test",
    }


@pytest.mark.integration
@pytest.mark.parametrize("byoc", ["true", "false"])
def test_a_failed_container_run_publishes_job_failed(aws, byoc_env, monkeypatch, byoc, capsys):
    monkeypatch.setenv("MONITORING_BYOC", byoc)
    monkeypatch.setenv("publish_cloudwatch_metrics", "Enabled")
    monkeypatch.setenv("baseline_statistics", "/nonexistent/baseline.json")
    for name, value in {
        "CAPTURE_S3_URI": "s3://absent-bucket/datacapture",
        "BASELINE_S3_URI": "s3://absent-bucket/baselines/baseline.json",
        "REPORT_S3_URI": "s3://absent-bucket/drift",
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["--start", "2026-01-01T10:00:00Z", "--end", "2026-01-01T11:00:00Z"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    listed = boto3.client("cloudwatch").list_metrics(Namespace="Test/ModelMonitor")["Metrics"]
    assert [m["MetricName"] for m in listed] == [metrics.JOB_FAILED]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--baseline", "b.json", "--output", "out"], "--baseline, --output need --captures"),
        (["--captures", "caps", "--output", "out"], "--captures needs --baseline"),
        (["--captures", "caps", "--baseline", "b.json"], "--captures needs --output"),
        (["--start", "2026-01-01T10:00:00Z"], "both --start and --end, or neither"),
    ],
)
def test_one_command_line_refuses_mixed_modes(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err
