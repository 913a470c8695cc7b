"""Properties over the hostile families (tests/hostile.py) at the drift job's entry points:
capture parsing gives the same answer with and without orjson, a window's counts add up (one
summary, or per-file summaries merged as the process pool does), windows are bounded, and the
CLIs end every input in a result or a usage error."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devkit import inject
from lambdas.shared import bounded_json
from monitoring import capture, cli
from monitoring.accumulate import WindowSummary
from monitoring.baseline import save_baseline
from tests import images
from tests.hostile import PROPERTY, capture_lines, cli_tokens, edge_times
from tests.monitoring import synthetic

PNG = images.encode(synthetic.scene(np.random.default_rng(1)))
lines = st.lists(capture_lines(PNG), max_size=6)


@contextlib.contextmanager
def without_orjson():
    saved = bounded_json._fast_loads, capture._fast_loads
    bounded_json._fast_loads = capture._fast_loads = None
    try:
        yield
    finally:
        bounded_json._fast_loads, capture._fast_loads = saved


@PROPERTY
@given(capture_lines(PNG))
def test_parse_line_never_raises_and_agrees_on_both_paths(line):
    fast = capture.parse_line(line)
    with without_orjson():
        slow = capture.parse_line(line)
    assert repr(fast) == repr(slow)
    if fast.probabilities is not None:
        assert all(0 <= p <= 1 + 1e-6 for p in fast.probabilities)


def _summary(baseline, window, chunks: list[list[bytes]]) -> WindowSummary:
    """One summary per chunk (file), merged as accumulate._summarise_parallel does."""
    total = WindowSummary(baseline=baseline, threshold=baseline.threshold, window=window)
    for chunk in chunks:
        part = WindowSummary(baseline=baseline, threshold=baseline.threshold, window=window)
        for line in chunk:
            part.add_line(line)
        part.finish()
        total.merge(part)
    total.finish()
    return total


WINDOWS = [
    capture.Window(),
    capture.Window(synthetic.T0, synthetic.T0 + timedelta(hours=1)),
]
COUNTS = ("lines", "records", "invalid_records", "outside_window", "images", "predictions")


@PROPERTY
@given(lines, st.integers(0, 6), st.sampled_from(WINDOWS))
def test_window_counts_add_up_in_one_summary_and_merged(baseline, batch, cut, window):
    one = _summary(baseline, window, [batch])
    merged = _summary(baseline, window, [batch[:cut], batch[cut:]])
    assert [getattr(one, n) for n in COUNTS] == [getattr(merged, n) for n in COUNTS]
    assert one.problems == merged.problems
    nonblank = sum(1 for line in batch if line.strip())
    assert one.lines == nonblank == one.records + one.outside_window  # nothing lost
    assert one.invalid_records <= one.records <= one.lines
    assert one.images + one.problems[capture.UNDECODABLE_IMAGE] <= one.records
    assert one.predictions <= one.records
    assert sum(one.numeric["brightness_r"]) == one.images
    assert (one.invalid_records > 0) == (sum(one.problems.values()) > 0)


@PROPERTY
@given(
    st.datetimes(timezones=st.just(UTC)), st.timedeltas(timedelta(days=-400), timedelta(days=400))
)
def test_windows_are_bounded_or_refused(start, length):
    try:
        end = start + length
    except OverflowError:
        return
    try:
        capture.check_window(start, end)
    except capture.WindowError:
        assert length <= timedelta(0) or length > capture.MAX_WINDOW
        return
    try:
        prefixes = list(capture.hour_prefixes("r/", capture.Window(start, end)))
    except OverflowError:  # the last hours of year 9999 (parse_time never yields them)
        assert end.year == 9999
        return
    assert 1 <= len(prefixes) <= capture.MAX_WINDOW // timedelta(hours=1) + 2


@PROPERTY
@given(edge_times)
def test_parse_time_is_utc_or_none(value):
    parsed = capture.parse_time(value)
    if parsed is not None:
        assert parsed.tzinfo is UTC and 1 < parsed.year < 9999
        parsed + timedelta(hours=2)  # window arithmetic stays in range


DRIFT_OPTIONS = [
    "--false-alarm-rate",
    "--threshold",
    "--min-records",
    "--workers",
    "--start",
    "--end",
]


@pytest.fixture(scope="module")
def drift_files(tmp_path_factory, baseline) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("drift-cli")
    save_baseline(baseline, root / "baseline.json")
    (root / "captures").mkdir()
    return root / "baseline.json", root / "captures"


@PROPERTY
@given(cli_tokens(DRIFT_OPTIONS))
def test_drift_cli_gives_a_report_or_a_usage_error(drift_files, tmp_path_factory, tokens):
    baseline_path, captures = drift_files
    out = tmp_path_factory.mktemp("out")
    argv = ["--captures", str(captures), "--baseline", str(baseline_path), "--output", str(out)]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main([*argv, *tokens, "--no-html"])
        except SystemExit as exit_:
            code = exit_.code
    assert code in (0, 2), stderr.getvalue()
    if code == 2:
        assert "error:" in stderr.getvalue() and "Traceback" not in stderr.getvalue()
    else:
        assert (out / "report.json").is_file()


@PROPERTY
@given(edge_times)
def test_inject_start_is_parsed_exactly_or_refused(image_folder, tmp_path_factory, start):
    out = tmp_path_factory.mktemp("inject")
    argv = ["--images", str(image_folder), "--scenario", "blur", "--count", "1"]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = inject.main([*argv, "--out", str(out), f"--start={start}"])
        except SystemExit as exit_:
            code = exit_.code
    expected = capture.parse_time(start)
    if expected is None:
        assert code == 2 and "not an ISO-8601 time" in stderr.getvalue()
        assert not any(out.iterdir())
    else:
        assert code == 0
        written = [p for p in out.rglob("*.jsonl")]
        record = capture.parse_line(written[0].read_bytes().splitlines()[0])
        assert record.inference_time is not None
        assert expected <= record.inference_time < expected + timedelta(hours=1)
