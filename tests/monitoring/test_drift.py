"""The drift decision on synthetic traffic, bad input handling and the command."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from datetime import UTC, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from monitoring import accumulate, capture, features, job, png_records
from monitoring.accumulate import TIMELINE_SAMPLE, WindowSummary
from monitoring.baseline import Baseline, BaselineError, content_hash, save_baseline
from monitoring.capture import Window
from monitoring.evaluate import (
    DriftSettings,
    ModelMismatch,
    ThresholdMismatch,
    evaluate,
    window_threshold,
)
from tests import images
from tests.monitoring import synthetic
from tests.monitoring.drift_cli import run_drift_cli


def run(baseline: Baseline, lines, settings=None, window=None) -> dict:
    settings = settings or DriftSettings()
    window = window or Window()
    # The stage's threshold: the baseline's, which an image-only baseline does not have.
    threshold = baseline.threshold or synthetic.THRESHOLD
    summary = WindowSummary(baseline=baseline, threshold=threshold, window=window)
    for line in lines:
        summary.add_line(line.encode() if isinstance(line, str) else line)
    summary.finish()
    return evaluate(summary, settings)


def blur(array, rng):
    return np.asarray(Image.fromarray(array).filter(ImageFilter.GaussianBlur(1.2)))


def brighten(array, rng):
    return np.clip(array.astype(int) + 45, 0, 255).astype(np.uint8)


def upside_down(array, rng):
    return array[::-1].copy()


def test_clean_windows_are_rarely_flagged(baseline: Baseline):
    """The decision rule targets ~1% false alarms: 20 clean windows give at most one."""
    alarms = []
    for seed in range(100, 120):
        report = run(baseline, synthetic.window_lines(200, seed=seed))
        assert report["records"] == 200 and report["invalid_records"] == 0
        assert report["status"] in ("ok", "drift")
        assert report["drift_detected"] is (report["status"] == "drift")
        if report["drift_detected"]:
            alarms.append((seed, report["drifted_features"]))
    assert len(alarms) <= 1, alarms


@pytest.mark.parametrize(
    ("transform", "feature"),
    [(blur, "sharpness"), (brighten, "brightness_g"), (upside_down, "vertical_balance")],
)
def test_drifted_windows_are_flagged_with_the_right_feature(baseline, transform, feature):
    report = run(baseline, synthetic.window_lines(200, seed=21, transform=transform))
    assert report["drift_detected"] is True and report["status"] == "drift"
    assert feature in report["drifted_features"]
    assert report["features"][feature]["score"] >= 1 and report["drift_score"] >= 1


def test_class_mix_shift_is_flagged(baseline):
    report = run(baseline, synthetic.window_lines(200, seed=22, motorcycle_share=0.9))
    assert "predicted_class" in report["drifted_features"]


def test_class_mix_against_labels_when_the_baseline_has_no_model(image_only_baseline):
    shifted = run(image_only_baseline, synthetic.window_lines(200, seed=23, motorcycle_share=0.9))
    assert shifted["features"]["predicted_class"]["test"] == "chi2_vs_labels"
    assert "predicted_class" in shifted["drifted_features"]
    assert "confidence" not in shifted["features"]
    clean = run(image_only_baseline, synthetic.window_lines(200, seed=24))
    assert clean["drift_detected"] is False


def test_small_and_empty_windows_say_insufficient_data(baseline):
    for lines in ([], synthetic.window_lines(10, seed=25)):
        report = run(baseline, lines)
        assert report["status"] == "insufficient_data"
        assert report["drift_detected"] is None and report["insufficient_data"] is True
        assert report["drift_score"] == 0.0


def test_bad_lines_are_counted_and_the_rest_is_analysed(baseline):
    lines = synthetic.window_lines(120, seed=26)
    good = json.loads(lines[0])
    undecodable = json.loads(lines[1])
    undecodable["captureData"]["endpointInput"]["data"] = "aGVsbG8="  # b"hello"
    unknown = json.loads(lines[2])
    unknown["captureData"]["endpointOutput"]["encoding"] = "PROTOBUF"
    bad = [lines[3][:100], "", "{}", json.dumps(undecodable), json.dumps(unknown), "\x00\x01"]
    report = run(baseline, [*lines[4:], *bad])
    assert report["records"] == 116 + 5  # the blank line is not a record
    assert report["invalid_records"] == 5
    assert report["skipped"] == {
        "not_capture_record": 1,
        "not_json": 2,
        "undecodable_image": 1,
        "unknown_output_encoding": 1,
    }
    assert report["images_analysed"] == 116 + 1  # the unknown-output record's image still counts
    assert good["captureData"]  # untouched
    assert report["status"] == "ok"


def test_window_filter_uses_inference_time(baseline):
    lines = synthetic.window_lines(100, seed=27)  # spread over 10:00-11:00
    window = Window(synthetic.T0, synthetic.T0 + timedelta(minutes=30))
    report = run(baseline, lines, window=window)
    assert report["records"] == 50 and report["records_outside_window"] == 50


@pytest.mark.parametrize("served", ["b" * 64, "c" * 64])
def test_baseline_from_another_model_is_refused(baseline, served):
    with pytest.raises(
        ModelMismatch, match=f"serves model {served[:12]} .* built with aaaaaaaaaaaa"
    ):
        run(baseline, synthetic.window_lines(120, seed=28), DriftSettings(model_sha256=served))


def test_baseline_of_no_model_is_refused_when_the_served_digest_is_known(baseline):
    image_only = replace(baseline, model=None)
    with pytest.raises(ModelMismatch, match="built with no model"):
        run(image_only, synthetic.window_lines(60, seed=28), DriftSettings(model_sha256="a" * 64))
    # The served model's own baseline, or no digest given (offline use): judged as usual.
    served = DriftSettings(model_sha256="a" * 64)
    assert run(baseline, synthetic.window_lines(60, seed=28), served)["records"] == 60
    assert run(image_only, synthetic.window_lines(60, seed=28))["status"] == "ok"


def test_a_job_threshold_other_than_the_baselines_is_refused(baseline):
    """Never silent: a baseline counted below_threshold at its threshold; a window judged at
    another one would be compared with the wrong reference."""
    assert baseline.threshold == synthetic.THRESHOLD
    lines = synthetic.window_lines(20, seed=29)
    with pytest.raises(ThresholdMismatch, match=r"routes at threshold 0\.99 .* at 0\.9: rebuild"):
        window_threshold(baseline, 0.99)
    summary = WindowSummary(baseline=baseline, threshold=0.99)
    for line in lines:
        summary.add_line(line.encode())
    summary.finish()
    with pytest.raises(ThresholdMismatch):
        evaluate(summary, DriftSettings(threshold=0.99))
    # The same threshold, given or taken from the baseline, is tested as usual.
    same = run(baseline, lines, DriftSettings(threshold=synthetic.THRESHOLD, min_records=10))
    assert "skipped" not in same["features"]["below_threshold"]
    assert same["threshold"] == synthetic.THRESHOLD


def test_without_predictions_the_jobs_threshold_sets_the_rate(image_only_baseline):
    """An image-only baseline has no below_threshold reference to mismatch: the stage's
    threshold only sets LowConfidenceRate, routed iff confidence >= threshold."""
    assert image_only_baseline.threshold is None
    lines = synthetic.window_lines(100, seed=29)
    rates = {}
    for threshold in (0.6, 0.99):
        used = window_threshold(image_only_baseline, threshold)
        summary = WindowSummary(baseline=image_only_baseline, threshold=used)
        for line in lines:
            summary.add_line(line.encode())
        summary.finish()
        rates[threshold] = evaluate(summary, DriftSettings(threshold=threshold))
    assert rates[0.99]["low_confidence_rate"] > rates[0.6]["low_confidence_rate"]
    with pytest.raises(BaselineError, match="no routing threshold"):
        window_threshold(image_only_baseline, None)


def test_cli_refuses_a_threshold_mismatch_with_one_clear_error(tmp_path, baseline, capsys):
    captures = tmp_path / "captures"
    captures.mkdir()
    (captures / "a.jsonl").write_text("\n".join(synthetic.window_lines(10, seed=31)))
    save_baseline(baseline, tmp_path / "baseline.json")
    code = run_drift_cli(
        captures, tmp_path / "baseline.json", tmp_path / "out", "--threshold", "0.95"
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "threshold 0.95" in err and "rebuild" in err
    assert not (tmp_path / "out" / "report.json").exists()


def test_cli_writes_report_json_and_html(tmp_path: Path, baseline: Baseline, capsys):
    captures = tmp_path / "captures" / "2026" / "01" / "01" / "10"
    captures.mkdir(parents=True)
    (captures / "a.jsonl").write_text(
        "\n".join(synthetic.window_lines(150, seed=30, transform=blur))
    )
    (captures / "b.jsonl").write_text("{truncated\n")
    save_baseline(baseline, tmp_path / "baseline.json")
    out = tmp_path / "report"
    window = ["--start", "2026-01-01T10:00:00Z", "--end", "2026-01-01T11:00:00Z"]
    code = run_drift_cli(
        tmp_path / "captures", tmp_path / "baseline.json", out, *window, "--fail-on-drift"
    )
    assert code == 3
    report = json.loads((out / "report.json").read_text())
    assert report["records"] == 151 and report["invalid_records"] == 1
    assert report["drift_detected"] is True
    assert {"records", "invalid_records", "drift_detected", "features"} <= set(report)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "sharpness" in page
    assert json.loads(capsys.readouterr().out)["status"] == "drift"


def test_cli_missing_baseline_or_captures_is_one_clear_error(tmp_path: Path, baseline, capsys):
    code = run_drift_cli(tmp_path, tmp_path / "nope.json", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: baseline not found") and err.count("\n") == 1
    save_baseline(baseline, tmp_path / "baseline.json")
    code = run_drift_cli(tmp_path / "missing", tmp_path / "baseline.json", tmp_path / "out")
    assert code == 2 and "capture folder not found" in capsys.readouterr().err


def test_the_pool_is_never_larger_than_the_window_has_files(
    tmp_path: Path, baseline: Baseline, monkeypatch: pytest.MonkeyPatch
):
    pools: list[int] = []
    real = accumulate._summarise_parallel

    def recording(files, summary, workers, progress):
        pools.append(workers)
        return real(files, summary, workers, progress)

    monkeypatch.setattr(accumulate, "_summarise_parallel", recording)
    job.analyse(tmp_path, baseline, workers=64)  # no files: no pool at all
    (tmp_path / "only.jsonl").write_text("\n".join(synthetic.window_lines(5, seed=1)))
    job.analyse(tmp_path, baseline, workers=64)  # one file: still no pool
    (tmp_path / "second.jsonl").write_text("\n".join(synthetic.window_lines(5, seed=2)))
    report, _ = job.analyse(tmp_path, baseline, workers=64)
    assert pools == [2] and report["records"] == 10
    with pytest.raises(ValueError, match="workers must be 1-64"):
        job.analyse(tmp_path, baseline, workers=65)


def test_worker_processes_give_the_same_summary_as_one(tmp_path: Path, baseline: Baseline):
    for index in range(4):
        lines = synthetic.window_lines(40, seed=50 + index)
        (tmp_path / f"part-{index}.jsonl").write_text("\n".join([*lines, "{bad"]))
    serial, one = job.analyse(tmp_path, baseline)
    parallel, many = job.analyse(tmp_path, baseline, workers=2)
    for key in (
        "records",
        "invalid_records",
        "skipped",
        "images_analysed",
        "drift_score",
        "low_confidence_rate",
        "status",
    ):
        assert parallel[key] == pytest.approx(serial[key]), key
    for name, counts in one.numeric.items():
        assert counts.tolist() == many.numeric[name].tolist()
    assert one.timeline.keys() == many.timeline.keys()
    for minute, slot in one.timeline.items():  # sums in another order: equal up to rounding
        assert many.timeline[minute] == pytest.approx(slot)


def test_predictions_on_training_images_are_not_a_confidence_reference(baseline: Baseline):
    data = baseline.to_dict()
    data["source"] = {**data["source"], "prediction_images": "all"}
    data.pop("content_sha256")
    trained_on = Baseline.from_dict(data | {"content_sha256": content_hash(data)})
    # traffic far less confident than the baseline: not an alarm, since the reference is biased
    lines = [
        synthetic.capture_line(
            images.encode(synthetic.scene(np.random.default_rng(i))),
            [0.3, 0.7] if i % 2 else [0.65, 0.35],
            synthetic.T0,
        )
        for i in range(150)
    ]
    report = run(trained_on, lines)
    assert report["features"]["confidence"]["skipped"] == "baseline_predictions_on_training_images"
    assert report["features"]["predicted_class"]["test"] == "chi2_vs_labels"
    assert report["drift_detected"] is False
    assert run(baseline, lines)["features"]["confidence"]["drift"] is True


def test_cli_refuses_a_baseline_of_another_model(tmp_path: Path, baseline: Baseline, capsys):
    save_baseline(baseline, tmp_path / "baseline.json")
    (tmp_path / "caps.jsonl").write_text("\n".join(synthetic.window_lines(60, seed=60)))
    (tmp_path / "other-model.tar.gz").write_bytes(b"another model")
    model = ["--model", str(tmp_path / "other-model.tar.gz"), "--no-html"]
    code = run_drift_cli(
        tmp_path / "caps.jsonl", tmp_path / "baseline.json", tmp_path / "r", *model
    )
    assert code == 2 and not (tmp_path / "r").exists()
    assert "but the baseline was built with aaaaaaaaaaaa" in capsys.readouterr().err


def test_repeats_count_once_in_the_tests(baseline: Baseline):
    """Windows resampled from a small pool are not over-confident; a few odd images repeated
    to fill a window are still judged (as the few images they are)."""
    pool = synthetic.window_lines(60, seed=80)
    rng = np.random.default_rng(81)
    resampled = [pool[i] for i in rng.integers(0, len(pool), 300)]
    clean = run(baseline, resampled)
    assert clean["duplicate_records"] > 200
    assert clean["effective_records"] < 80
    assert clean["status"] == "ok"

    odd = synthetic.window_lines(20, seed=82, transform=lambda a, r: 255 - a // 3)  # washed out
    report = run(baseline, [odd[i % 20] for i in range(200)])
    assert report["records"] == 200 and report["effective_records"] == pytest.approx(20)
    assert report["drift_detected"] is True


def _summary(baseline: Baseline, lines) -> WindowSummary:
    summary = WindowSummary(baseline=baseline, threshold=baseline.threshold)
    for line in lines:
        summary.add_line(line.encode() if isinstance(line, str) else line)
    summary.finish()
    return summary


def test_batched_png_path_gives_the_same_summary_as_decoding_each_image(baseline, monkeypatch):
    """The compiled whole-record path (bytes to features for a batch of records) and the fast
    path (inflate per record, unfilter and features per batch) against the plain one
    (decode_image per record): same histograms, counts and report on mixed traffic."""
    rng = np.random.default_rng(77)
    lines = synthetic.window_lines(150, seed=78, transform=blur)
    lines += synthetic.window_lines(100, seed=79)
    odd_images = [
        images.encode(synthetic.scene(rng), mode="P"),
        images.encode(synthetic.scene(rng), mode="RGBA"),
        images.encode(synthetic.scene(rng), mode="L"),
        images.encode(synthetic.scene(rng), interlace=1),
        images.encode(synthetic.scene(rng, 48)),
        images.encode(synthetic.scene(rng))[:-30],  # truncated: undecodable either way
    ]
    buffer = io.BytesIO()
    Image.fromarray(synthetic.scene(rng)).save(buffer, format="JPEG")
    odd_images.append(buffer.getvalue())
    for index, image in enumerate(odd_images * 3):
        record = json.loads(lines[index])
        record["captureData"]["endpointInput"]["data"] = base64.b64encode(image).decode()
        lines.append(json.dumps(record))
    record["captureData"]["endpointInput"]["data"] = base64.b64encode(odd_images[5]).decode()
    record["captureData"]["endpointOutput"]["data"] = "[0.5]"  # bad output, undecodable image
    lines.append(json.dumps(record))
    order = rng.permutation(len(lines))
    lines = [lines[i] for i in order]

    later = _summary(baseline, lines)  # whole records in compiled code, where available
    monkeypatch.setattr(png_records, "AVAILABLE", False)
    fast = _summary(baseline, lines)
    monkeypatch.setattr(features, "png_rows", lambda data: None)  # every image via decode_image
    plain = _summary(baseline, lines)

    for summary in (later, fast):
        assert summary.images == plain.images == len(lines) - 4
        assert summary.problems == plain.problems == {"undecodable_image": 4, "bad_output": 1}
        assert summary.invalid_records == plain.invalid_records == 4
        assert summary.categorical == plain.categorical
        for name in summary.numeric:
            np.testing.assert_array_equal(summary.numeric[name], plain.numeric[name], name)
        assert evaluate(summary, DriftSettings()) == evaluate(plain, DriftSettings())


def test_results_do_not_depend_on_the_optional_fast_libraries(baseline, monkeypatch):
    """Without orjson, pybase64 and libdeflate the stdlib does the same job, same results."""
    lines = synthetic.window_lines(90, seed=81, transform=brighten)
    record = json.loads(lines[0])
    record["captureData"]["endpointInput"]["data"] = "aGVs\nbG8="  # not strict base64
    lines += [json.dumps(record), lines[1][:-20], '{"captureData": NaN}']
    fast = _summary(baseline, lines)
    monkeypatch.setattr(capture, "_fast_loads", None)
    monkeypatch.setattr(capture, "_fast_b64", None)
    monkeypatch.setattr(features, "_libdeflate", None)
    plain = _summary(baseline, lines)
    assert fast.problems == plain.problems
    assert fast.problems["undecodable_image"] == 1 and fast.problems["not_json"] == 1
    assert (fast.images, fast.records, fast.invalid_records) == (
        plain.images,
        plain.records,
        plain.invalid_records,
    )
    for name in fast.numeric:
        np.testing.assert_array_equal(fast.numeric[name], plain.numeric[name], err_msg=name)
    assert evaluate(fast, DriftSettings()) == evaluate(plain, DriftSettings())


def test_plot_sample_is_spread_over_the_whole_window(baseline):
    """The confidence-over-time plot keeps a uniform reservoir sample of 2,000 points."""
    summary = WindowSummary(baseline=baseline, threshold=baseline.threshold)
    total = 12_000
    for second in range(total):
        moment = synthetic.T0 + timedelta(seconds=second)
        line = synthetic.capture_line(b"{}", [0.3, 0.7], moment, input_encoding="JSON")
        summary.add_line(line.encode())
    summary.finish()
    stamps = sorted(stamp for stamp, _ in summary.timeline_sample)
    assert len(stamps) == TIMELINE_SAMPLE == len(set(stamps))
    seconds = np.array(
        [(np.datetime64(s[:19]) - np.datetime64("2026-01-01T10:00:00")) for s in stamps]
    )
    sixths = np.bincount((seconds.astype(int) * 6) // total, minlength=6)
    assert sixths.min() > 250 and sixths.max() < 420, sixths  # ~333 each
    assert summary.categorical["predicted_class"] == {"1": total}
    assert summary.categorical["below_threshold"] == {"True": total}


_ZONES = {
    "+05:30": timezone(timedelta(hours=5, minutes=30)),
    "-08:00": timezone(timedelta(hours=-8)),
}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offsets=st.lists(st.integers(min_value=-200_000_000, max_value=200_000_000), max_size=40),
    zone=st.sampled_from(["Z", "+00:00", "+05:30", "-08:00", ""]),
)
def test_timeline_minutes_at_microsecond_edges_and_any_offset(baseline, offsets, zone):
    """Records land in the UTC minute of their inference time, whatever the order, sub-second
    part or UTC offset of the stamps (minute edges included: offsets are in microseconds)."""
    summary = WindowSummary(baseline=baseline, threshold=0.5)
    moments = []
    for offset in offsets:
        moment = synthetic.T0 + timedelta(microseconds=offset)
        shown = moment.astimezone(_ZONES.get(zone, UTC))
        stamp = shown.replace(tzinfo=None).isoformat() + zone
        record = synthetic.capture_record(b"{}", [0.6, 0.4], input_encoding="JSON")
        record["eventMetadata"]["inferenceTime"] = stamp
        summary.add_line(json.dumps(record).encode())
        moments.append(moment)
    summary.finish()
    minutes = [moment.isoformat()[:16] for moment in moments]
    expected = {minute: minutes.count(minute) for minute in set(minutes)}
    assert {minute: slot[0] for minute, slot in summary.timeline.items()} == expected


def test_timeline_counts_every_minute_and_the_first_and_last_record(baseline):
    rng = np.random.default_rng(4)
    offsets = rng.permutation(np.arange(-90, 400, 7))  # seconds around T0, out of order
    summary = WindowSummary(baseline=baseline, threshold=0.5)
    for offset in offsets:
        moment = synthetic.T0 + timedelta(seconds=int(offset))
        line = synthetic.capture_line(b"{}", [0.6, 0.4], moment, input_encoding="JSON")
        summary.add_line(line.encode())
    summary.finish()
    minutes = [
        (synthetic.T0 + timedelta(seconds=int(offset))).isoformat()[:16] for offset in offsets
    ]
    expected = {minute: minutes.count(minute) for minute in set(minutes)}
    assert {minute: slot[0] for minute, slot in summary.timeline.items()} == expected
    assert all(slot[1] == pytest.approx(0.6 * slot[0]) for slot in summary.timeline.values())
    assert all(slot[2] == 0 for slot in summary.timeline.values())  # 0.6 is not below 0.5
    assert summary.first_time == (synthetic.T0 + timedelta(seconds=-90)).isoformat()
    assert summary.last_time == (synthetic.T0 + timedelta(seconds=int(offsets.max()))).isoformat()
