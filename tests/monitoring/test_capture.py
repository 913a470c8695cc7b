"""Capture parsing and reading: the real format, encodings, bad lines, local folders, streaming."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring import capture
from monitoring.accumulate import WindowSummary
from tests import images
from tests.monitoring import synthetic

PNG = images.encode(synthetic.scene(np.random.default_rng(0)))


def test_parse_line_real_format_json_output():
    record = capture.parse_line(synthetic.capture_line(PNG, [0.2, 0.8]))
    assert record.problems == []
    assert record.image_bytes == PNG
    assert record.content_type == "image/png"
    assert record.probabilities == [0.2, 0.8]
    assert record.inference_time == synthetic.T0


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ("[0.3, 0.7]", "JSON", [0.3, 0.7]),
        (base64.b64encode(b"[0.9, 0.1]").decode(), "BASE64", [0.9, 0.1]),
        ("0.25,0.75", "CSV", [0.25, 0.75]),
        (base64.b64encode(b"0.6,0.4").decode(), "BASE64", [0.6, 0.4]),
        ('{"probabilities": [0.1, 0.9]}', "JSON", [0.1, 0.9]),
        ("[[0.4, 0.6]]", "JSON", [0.4, 0.6]),
    ],
)
def test_output_encodings(data, encoding, expected):
    line = synthetic.capture_line(PNG, data, output_encoding="JSON")
    record = json.loads(line)
    record["captureData"]["endpointOutput"].update(data=data, encoding=encoding)
    parsed = capture.parse_line(json.dumps(record))
    assert parsed.problems == []
    assert parsed.probabilities == pytest.approx(expected)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (
            lambda r: r["captureData"]["endpointInput"].update(encoding="ROT13"),
            "unknown_input_encoding",
        ),
        (
            lambda r: r["captureData"]["endpointOutput"].update(encoding="XML"),
            "unknown_output_encoding",
        ),
        (lambda r: r["captureData"]["endpointOutput"].update(data="[1.5, -0.5]"), "bad_output"),
        (lambda r: r["captureData"]["endpointOutput"].update(data="not json"), "bad_output"),
        (lambda r: r["captureData"]["endpointOutput"].update(data='["a", "b"]'), "bad_output"),
        (lambda r: r["captureData"]["endpointInput"].update(encoding="JSON"), "input_not_image"),
        (lambda r: r.pop("captureData"), "not_capture_record"),
    ],
)
def test_bad_records_are_typed_not_raised(mutate, problem):
    record = synthetic.capture_record(PNG)
    mutate(record)
    assert problem in capture.parse_line(json.dumps(record)).problems


def test_truncated_and_non_json_lines():
    line = synthetic.capture_line(PNG)
    assert capture.parse_line(line[: len(line) // 2]).problems == ["not_json"]
    assert capture.parse_line(b"\xff\xfe garbage").problems == ["not_json"]
    assert capture.parse_line("[1, 2]").problems == ["not_capture_record"]


@pytest.mark.real_data
def test_real_capture_sample(shared_data: Path, baseline):
    files = sorted((shared_data / "captured_sample").glob("*.jsonl"))
    if not files:
        pytest.skip("no real capture sample")
    records = [capture.parse_line(line) for line in files[0].read_bytes().splitlines()]
    assert len(records) == 2  # both lines are read, not only the first
    assert all(r.problems == [] for r in records)
    assert records[0].probabilities == pytest.approx([0.0261, 0.9739], abs=1e-4)
    assert records[1].inference_time == datetime(2024, 10, 16, 9, 24, 9, tzinfo=UTC)
    summary = WindowSummary(baseline=baseline, threshold=synthetic.THRESHOLD)
    summary.add_file(capture.LocalCaptureFile(files[0]))
    summary.finish()
    assert (summary.records, summary.images, summary.low_confidence) == (2, 2, 1)


def test_local_folder_is_read_recursively_every_line(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "flat.jsonl").write_text("\n".join(synthetic.window_lines(3, seed=1)) + "\n")
    (tmp_path / "a" / "b" / "deep.jsonl").write_text("\n".join(synthetic.window_lines(2, seed=2)))
    (tmp_path / "a" / "ignored.txt").write_text("not a capture file")
    files = list(capture.iter_local_files(tmp_path))
    assert len(files) == 2
    assert sum(1 for f in files for _ in f.lines()) == 5
    with pytest.raises(capture.CaptureSourceError):
        list(capture.iter_local_files(tmp_path / "missing"))


def test_window_and_hour_partitions():
    window = capture.Window.previous_hours(datetime(2026, 1, 1, 10, 7, tzinfo=UTC))
    assert window == capture.Window(
        datetime(2026, 1, 1, 9, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC)
    )
    prefixes = list(capture.hour_prefixes("cap/ep/AllTraffic/", window))
    # the window's hour plus the next one (files written after their records' inference time)
    assert prefixes == ["cap/ep/AllTraffic/2026/01/01/09/", "cap/ep/AllTraffic/2026/01/01/10/"]


def test_streaming_consumes_a_generator_lazily(baseline):
    """A summary over a generator keeps no records: the generator is pulled one line at a time."""
    produced = 0
    template = synthetic.window_lines(50, seed=3)

    def lines():
        nonlocal produced
        for index in range(5000):
            produced += 1
            yield template[index % 50].encode()

    summary = WindowSummary(baseline=baseline, threshold=synthetic.THRESHOLD)
    stream = lines()
    for count, line in enumerate(stream, start=1):
        summary.add_line(line)
        assert produced == count  # nothing read ahead, nothing buffered
    summary.finish()
    assert summary.records == 5000
    assert summary.duplicates == 4950  # exact repeats counted...
    assert summary.effective_fraction == pytest.approx(50 / 5000)  # ...and weigh as 50 records
    state = [v for v in vars(summary).values() if isinstance(v, list)]
    assert all(len(v) <= 2000 for v in state)  # only the bounded plot sample


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(min_value=0, max_value=400),
    junk=st.binary(max_size=64),
    field=st.sampled_from(["endpointInput", "endpointOutput", "eventMetadata", None]),
    value=st.one_of(
        st.none(), st.integers(), st.text(max_size=20), st.lists(st.floats(), max_size=3)
    ),
)
def test_fuzzed_lines_never_crash_the_job(baseline, cut, junk, field, value):
    record = synthetic.capture_record(PNG, [0.4, 0.6])
    if field == "eventMetadata":
        record[field] = {"inferenceTime": value}
    elif field:
        record["captureData"][field]["data"] = value
    line = json.dumps(record).encode()
    summary = WindowSummary(
        baseline=baseline,
        threshold=synthetic.THRESHOLD,
        window=capture.Window(synthetic.T0 - timedelta(hours=1), synthetic.T0 + timedelta(hours=1)),
    )
    for candidate in (line[:cut] + junk, junk + line, line):
        summary.add_line(candidate)
    summary.finish()
    assert summary.records + summary.outside_window == summary.lines
    assert summary.invalid_records <= summary.records


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)),
        max_size=4,
    ),
    spaced=st.booleans(),
)
def test_plain_list_output_fast_path_agrees_with_json(values, spaced):
    text = json.dumps(values) if spaced else json.dumps(values, separators=(",", ":"))
    try:
        expected: list[float] | type[Exception] = capture._parse_probabilities(json.loads(text))
    except ValueError:
        expected = ValueError
    try:
        got: list[float] | type[Exception] = capture.parse_output({"data": text})
    except ValueError:
        got = ValueError
    assert got == expected


_NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=0.0, max_value=1.0).map(lambda value: f"{value:.25e}"),
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?\Z"),
    st.sampled_from(["NaN", "Infinity", "-0.0", "1", "0", "true", "1e-400", "4.9e-324", "1e309"]),
)
_SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", "\r\n "])


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.tuples(_SPACE, _NUMBER, _SPACE), max_size=4),
    outer=st.tuples(_SPACE, _SPACE),
    nested=st.booleans(),
)
def test_output_text_through_orjson_equals_the_reference_parse(parts, outer, nested):
    """The orjson shortcut for "[p0, p1]" outputs gives exactly the floats (or the error) that
    splitting the text and float() per part, or the stdlib JSON parser, give."""
    body = ",".join(f"{before}{number}{after}" for before, number, after in parts)
    text = f"{outer[0]}[{'[' if nested else ''}{body}{']' if nested else ''}]{outer[1]}"

    def parse() -> list[float] | type[Exception]:
        try:
            return capture._parse_output_text(text)
        except ValueError:
            return ValueError

    fast = parse()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(capture, "_fast_loads", None)
        reference = parse()
    assert fast == reference
    if isinstance(fast, list):
        assert all(type(value) is float for value in fast)
