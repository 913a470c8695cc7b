"""Hostile and careless inputs to the drift job: each one counted or refused with a typed
error, and the hour's report still comes out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from devkit import inject
from lambdas.shared.errors import InvalidEvent
from monitoring import capture, job
from monitoring.baseline import Baseline, BaselineError, content_hash, load_baseline, save_baseline
from monitoring.evaluate import DriftSettings
from tests import images
from tests.monitoring import synthetic
from tests.monitoring.drift_cli import run_drift_cli

DEEP = "[" * 100_000 + "]" * 100_000
PNG = images.encode(synthetic.scene(np.random.default_rng(0)))
HOSTILE_LINES = {  # line -> the one problem it must be counted under
    DEEP: capture.NOT_JSON,
    '{"captureData": ' + DEEP + "}": capture.NOT_JSON,
    synthetic.capture_line(PNG, "[1" + "0" * 5000 + "]"): capture.BAD_OUTPUT,
    synthetic.capture_line(PNG, "[" * 5000 + "0.5, 0.5" + "]" * 5000): capture.BAD_OUTPUT,
    synthetic.capture_line(PNG, [0.5, 0.5], datetime(9999, 12, 31, 23, 59, tzinfo=UTC)): (
        capture.BAD_INFERENCE_TIME
    ),
    # nested values (not strings) 1,000 deep inside a record: within orjson's bound, so only
    # code that never recurses into them (or repr()s them) keeps this from a RecursionError
    synthetic.capture_line(PNG)
    .replace('"encoding": "JSON"}', '"encoding": "JSON", "x": 1}')
    .replace('"data": "[0.1, 0.9]"', '"data": ' + "[" * 1000 + "0.5" + "]" * 1000): (
        capture.BAD_OUTPUT
    ),
    synthetic.capture_line(PNG)
    .replace(
        '"observedContentType": "image/png"', '"observedContentType": ' + "[" * 1000 + "]" * 1000
    )
    .replace('"encoding": "BASE64"', '"encoding": ' + "[" * 1000 + "]" * 1000): (
        capture.UNKNOWN_INPUT_ENCODING
    ),
}


def test_hostile_lines_are_counted_and_the_report_still_comes_out(tmp_path: Path, baseline):
    good = synthetic.window_lines(60, seed=3)
    (tmp_path / "a.jsonl").write_text("\n".join(good[:30] + list(HOSTILE_LINES) + good[30:]))
    window = capture.Window(synthetic.T0, synthetic.T0 + timedelta(hours=1))
    report, summary = job.analyse(tmp_path, baseline, DriftSettings(), window)
    assert report["records"] == 60 + len(HOSTILE_LINES)
    assert report["invalid_records"] == len(HOSTILE_LINES)
    expected: dict[str, int] = {}
    for problem in HOSTILE_LINES.values():
        expected[problem] = expected.get(problem, 0) + 1
    assert dict(summary.problems) == expected
    assert report["status"] in ("ok", "drift")


def _rehashed(baseline: Baseline, edit) -> dict:
    data = baseline.to_dict()
    edit(data)
    body = {key: value for key, value in data.items() if key != "content_sha256"}
    data["content_sha256"] = content_hash(body)
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["numeric"]["contrast"]["counts"].pop(), "counts for"),
        (lambda d: d["numeric"]["contrast"]["edges"].reverse(), "increase strictly"),
        (lambda d: d["numeric"]["contrast"].update(edges=[]), "finite numbers"),
        (lambda d: d["numeric"].pop("sharpness"), "no reference for sharpness"),
        (lambda d: d.update(numeric=[]), "malformed baseline"),
        (lambda d: d.update(threshold=7), "threshold"),
        (lambda d: d.update(class_names=["one"]), "class_names"),
    ],
)
def test_rehashed_baseline_that_disagrees_is_refused_at_load(tmp_path, baseline, edit, message):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(_rehashed(baseline, edit)))
    with pytest.raises(BaselineError, match=message):
        load_baseline(path)


@pytest.mark.parametrize(
    "content",
    [b"\x1f\x8b\x08\x00binary model archive", ("[" * 100_000).encode(), b"[1" + b"0" * 5000 + b"]"],
)
def test_a_baseline_that_is_no_json_is_a_baseline_error(tmp_path: Path, content: bytes):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(content)
    with pytest.raises(BaselineError, match="not JSON"):
        load_baseline(path)


def test_window_longer_than_a_month_is_refused_before_any_listing():
    with pytest.raises(InvalidEvent, match="longer than 31 days"):
        job.window_for(
            {"start": "1970-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}, 1, datetime.now(UTC)
        )
    window = capture.Window(datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    with pytest.raises(capture.WindowError):
        next(capture.iter_capture_files("s3://no-such-bucket/prefix", window))  # no client made
    month = capture.Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    assert len(list(capture.hour_prefixes("r/", month))) == 31 * 24 + 1


@pytest.mark.parametrize(
    "event",
    [
        {"start": "2026-01-01T10:00:00 UTC", "end": "2026-01-01T11:00:00Z"},
        {"start": "2026-01-01T11:00:00Z", "end": "2026-01-01T10:00:00Z"},
        {"start": "2026-01-01T10:00:00Z"},
        {"start": 5, "end": 6},
    ],
)
def test_bad_event_windows_are_invalid_events(event):
    with pytest.raises(InvalidEvent):
        job.window_for(event, 1, datetime.now(UTC))


def test_times_at_the_edge_of_datetime_are_no_time():
    assert capture.parse_time("9999-12-31T23:59:59") is None
    assert capture.parse_time("0001-01-01T00:00:00+14:00") is None
    assert capture.parse_time("2026-01-01T10:00:00+01:00") == datetime(2026, 1, 1, 9, tzinfo=UTC)


def _drift_cli(tmp_path: Path, baseline: Baseline, *extra: str) -> int:
    save_baseline(baseline, tmp_path / "baseline.json")
    (tmp_path / "captures").mkdir(exist_ok=True)
    paths = (tmp_path / "captures", tmp_path / "baseline.json", tmp_path / "out")
    return run_drift_cli(*paths, *extra)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--false-alarm-rate", "0"], "strictly between 0 and 1"),
        (["--false-alarm-rate", "nan"], "not a finite number"),
        (["--threshold", "1.5"], "strictly between 0 and 1"),
        (["--min-records", "0"], "0 is below 1"),
        (["--workers", "-3"], "-3 is below 1"),
        (["--workers", "100000"], "more than 64 processes"),  # a fork bomb, not a setting
        (["--start", "2026-01-01T10:00:00Z", "--end", "2026-01-01T09:00:00Z"], "not after"),
        (["--start", "1970-01-01T00:00:00Z", "--end", "2100-01-01T00:00:00Z"], "longer than"),
        (["--model", "m.tar.gz", "--model-sha256", "ab"], "not both"),
    ],
)
def test_drift_cli_refuses_nonsense_settings_as_usage_errors(
    tmp_path, baseline, capsys, extra, message
):
    with pytest.raises(SystemExit) as exit_:
        _drift_cli(tmp_path, baseline, *extra)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err


def test_drift_cli_output_that_is_a_file_and_baseline_that_is_a_model(tmp_path, baseline, capsys):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(SystemExit) as exit_:
        _drift_cli(tmp_path, baseline)
    assert exit_.value.code == 2 and "is a file" in capsys.readouterr().err
    (tmp_path / "out").unlink()
    (tmp_path / "model.tar.gz").write_bytes(bytes(np.arange(256, dtype=np.uint8)))
    code = run_drift_cli(tmp_path / "captures", tmp_path / "model.tar.gz", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: baseline at") and err.count("\n") == 1


def test_window_cap_is_a_month(baseline):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    capture.check_window(start, start + capture.MAX_WINDOW)
    with pytest.raises(capture.WindowError):
        capture.check_window(start, start + capture.MAX_WINDOW + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--count", "0", "--count"),
        ("--count", "-5", "--count"),
        ("--count", "many", "--count"),
        ("--start", "2026-01-01T10:00:00 UTC", "not an ISO-8601 time"),
    ],
)
def test_inject_refuses_bad_arguments_before_writing(
    tmp_path: Path, image_folder: Path, capsys, option: str, value: str, message: str
):
    arguments = {
        "--images": str(image_folder),
        "--scenario": "blur",
        "--count": "2",
        "--out": str(tmp_path / "c"),
        option: value,
    }
    with pytest.raises(SystemExit) as exit_:
        inject.main([token for pair in arguments.items() for token in pair])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_hostile_lines_count_the_same_in_the_process_pool(tmp_path: Path, baseline):
    """The drift job's two code paths: one process, and a pool of workers (one file each)."""
    good = synthetic.window_lines(20, seed=4)
    (tmp_path / "a.jsonl").write_text("\n".join(good[:10] + list(HOSTILE_LINES)[:4]))
    (tmp_path / "b.jsonl").write_text("\n".join(list(HOSTILE_LINES)[4:] + good[10:]))
    window = capture.Window(synthetic.T0, synthetic.T0 + timedelta(hours=1))
    outcomes = []
    for workers in (1, 2):
        report, summary = job.analyse(tmp_path, baseline, DriftSettings(), window, workers=workers)
        outcomes.append((report["records"], report["invalid_records"], dict(summary.problems)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:2] == (20 + len(HOSTILE_LINES), len(HOSTILE_LINES))
