"""The same job under Model Monitor's bring-your-own-container contract (flag off by default)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from monitoring import job
from monitoring.baseline import save_baseline
from tests.monitoring import synthetic


def blur(array, rng):
    return np.asarray(Image.fromarray(array).filter(ImageFilter.GaussianBlur(1.2)))


def test_byoc_contract_writes_constraint_violations(tmp_path: Path, baseline, monkeypatch, capsys):
    source = tmp_path / "input" / "endpoint" / "ep" / "AllTraffic" / "2026" / "01" / "01" / "10"
    source.mkdir(parents=True)
    (source / "x.jsonl").write_text("\n".join(synthetic.window_lines(100, seed=70, transform=blur)))
    save_baseline(baseline, tmp_path / "baseline.json")
    env = {
        "MONITORING_BYOC": "true",
        "dataset_source": str(tmp_path / "input" / "endpoint"),
        "output_path": str(tmp_path / "result"),
        "baseline_statistics": str(tmp_path / "baseline.json"),
        "start_time": "2026-01-01T10:00:00Z",
        "end_time": "2026-01-01T11:00:00Z",
        "publish_cloudwatch_metrics": "Disabled",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert job.main([]) == 0
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
    assert job.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: environment variable CAPTURE_S3_URI") and err.count("\n") == 1
