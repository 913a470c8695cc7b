"""Drift injection end to end: files the job reads and flags."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from devkit import inject
from monitoring import cli
from monitoring.baseline import Baseline, save_baseline
from monitoring.capture import Window, parse_line
from tests.monitoring import synthetic


@pytest.fixture(scope="module")
def pool(image_folder: Path):
    return inject.labelled_images(image_folder)


@pytest.mark.parametrize("scenario", sorted(inject.SCENARIOS))
def test_every_scenario_yields_valid_capture_records(pool, scenario):
    lines = list(inject.capture_lines(pool, scenario, 4, synthetic.T0, seed=1))
    assert len(lines) == 4
    for moment, line in lines:
        record = parse_line(line)
        assert record.problems == [] and record.image_bytes
        assert record.inference_time == moment
        assert sum(record.probabilities) == pytest.approx(1.0)


def test_injected_files_fire_and_clean_files_do_not(tmp_path: Path, pool, baseline: Baseline):
    save_baseline(baseline, tmp_path / "baseline.json")
    window = ["--start", "2026-01-01T10:00:00Z", "--end", "2026-01-01T11:00:00Z"]
    outcomes = {}
    for scenario in ("clean", "noise", "class_mix"):
        out = tmp_path / scenario
        code = inject.main(
            [
                "--images",
                str(pool[0][0].parent.parent),
                "--scenario",
                scenario,
                "--count",
                "250",
                "--out",
                str(out),
                "--start",
                "2026-01-01T10:00:00Z",
                "--seed",
                "3",
            ]
        )
        assert code == 0
        files = list(out.rglob("*.jsonl"))
        # SageMaker's layout: <endpoint>/<variant>/yyyy/mm/dd/hh/
        assert files and files[0].relative_to(out).parts[:6] == (
            "vehicle-classifier",
            "AllTraffic",
            "2026",
            "01",
            "01",
            "10",
        )
        assert (
            cli.main(
                [
                    "--captures",
                    str(out),
                    "--baseline",
                    str(tmp_path / "baseline.json"),
                    "--output",
                    str(tmp_path / f"report-{scenario}"),
                    "--no-html",
                    *window,
                ]
            )
            == 0
        )
        outcomes[scenario] = json.loads(
            (tmp_path / f"report-{scenario}" / "report.json").read_text()
        )
    assert outcomes["clean"]["drift_detected"] is False
    assert outcomes["noise"]["drift_detected"] is True
    assert "sharpness" in outcomes["noise"]["drifted_features"]
    assert "predicted_class" in outcomes["class_mix"]["drifted_features"]
    assert all(o["records"] == 250 for o in outcomes.values())


def test_injection_spreads_records_over_the_hour(pool):
    moments = [m for m, _ in inject.capture_lines(pool, "clean", 10, synthetic.T0)]
    assert moments[0] == synthetic.T0 and moments[-1] < synthetic.T0 + timedelta(hours=1)
    assert Window(synthetic.T0, synthetic.T0 + timedelta(hours=1)).contains(moments[-1])


def test_injection_cli_rejects_an_empty_folder(tmp_path: Path, capsys):
    assert (
        inject.main(["--images", str(tmp_path), "--scenario", "blur", "--out", str(tmp_path)]) == 2
    )
    assert capsys.readouterr().err.startswith("error:")
