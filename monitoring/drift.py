"""The drift job: read a capture window, test every feature against the baseline, report.

    python -m monitoring.drift --captures DIR_OR_S3_URI --baseline baseline.json \
        [--start ISO] [--end ISO] --output DIR [--publish]

writes `DIR/report.json` (`records`, `invalid_records`, `drift_detected`, `status`, per-feature
`features`) and `DIR/report.html`. `drift_detected` is null with `status: insufficient_data` when
the window has fewer than `--min-records` usable records. Exit status: 0 (report written, drift
or not; `--fail-on-drift` makes drift exit 3), 2 with one line on stderr for a missing baseline,
capture folder or bucket.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from monitoring import capture, stats
from monitoring.baseline import Baseline, BaselineError, bin_counts, file_sha256, load_baseline
from monitoring.features import (
    IMAGE_NUMERIC,
    PREDICTION_FEATURES,
    ImageBatcher,
    ImageDecodeError,
)

DEFAULT_MIN_RECORDS = 50
# Nominal family-wise false-alarm rate per window. Half of the 1% goal: windows resampled from a
# small pool (and real traffic bursts) are a little more variable than independent records;
# measured on 300 clean windows: 0.67% at 0.005, 1.0% at 0.01 (benchmarks/bench_drift_detection).
DEFAULT_FALSE_ALARM_RATE = 0.005
# With no model predictions in the baseline, the predicted class mix is compared with the
# training label mix; a good model's predictions differ from it a little, so a shift must also
# be this large (total variation distance) to count.
DEFAULT_MIN_CLASS_SHIFT = 0.15
TIMELINE_SAMPLE = 2000  # (time, confidence) points kept for the plot (reservoir sample)
_FLUSH_VALUES = 4096
_MINUTE = timedelta(minutes=1)
# Image hashes remembered per window to count exact repeats (~100 bytes each: ~25 MB at most;
# beyond it new images are taken as unique).
REPEAT_CAPACITY = 250_000
# Practical significance: with thousands of records a test finds differences nobody should be
# paged for, so a feature also needs a KS gap (largest CDF difference) of at least this much...
DEFAULT_MIN_KS_STATISTIC = 0.1
# ... or, for categories, this total variation distance between the window's and baseline's mix.
DEFAULT_MIN_CATEGORY_SHIFT = 0.03


class ThresholdMismatch(BaselineError):
    """The job's routing threshold is not the one the baseline counted below_threshold at."""


def window_threshold(baseline: Baseline, threshold: float | None) -> float:
    """The threshold the window is judged at: the job's (the stage's), else the baseline's.

    One rule, no silent fallback: a baseline with predictions counted below_threshold at its
    `threshold`; judging the window at another one would compare two different questions, so the
    job refuses (ThresholdMismatch: the Lambda fails and publishes JobFailed) until the baseline
    is rebuilt at the stage's threshold.
    """
    if threshold is not None and not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise BaselineError(f"threshold {threshold} must lie strictly between 0 and 1")
    if threshold is None:
        if baseline.threshold is None:
            raise BaselineError(
                "no routing threshold: the baseline has no predictions and the job was given "
                "none (CONFIDENCE_THRESHOLD / --threshold)"
            )
        return baseline.threshold
    if baseline.has_predictions and baseline.threshold != threshold:
        raise ThresholdMismatch(
            f"the stage routes at threshold {threshold} but the baseline counted "
            f"below_threshold at {baseline.threshold}: rebuild it at the stage's threshold "
            f"(python -m monitoring.baseline --images DIR --model model.tar.gz "
            f"--threshold {threshold} --out ...)"
        )
    return threshold


@dataclass(frozen=True)
class DriftSettings:
    threshold: float | None = None  # the stage's; None: the baseline's
    min_records: int = DEFAULT_MIN_RECORDS
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE
    min_class_shift: float = DEFAULT_MIN_CLASS_SHIFT
    min_ks_statistic: float = DEFAULT_MIN_KS_STATISTIC
    min_category_shift: float = DEFAULT_MIN_CATEGORY_SHIFT
    model_sha256: str | None = None  # the deployed model; a different baseline model is flagged


@dataclass
class WindowSummary:
    """Running counts of one window: histograms over the baseline bins, never the records."""

    baseline: Baseline
    threshold: float
    window: capture.Window = field(default_factory=capture.Window)
    lines: int = 0
    records: int = 0
    invalid_records: int = 0
    outside_window: int = 0
    duplicates: int = 0
    files: int = 0
    images: int = 0
    predictions: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, Counter[str]] = field(default_factory=dict)
    confidence_sum: float = 0.0
    low_confidence: int = 0
    timeline: dict[str, list[float]] = field(default_factory=dict)  # minute -> [n, sum, low]
    timeline_sample: list[tuple[str, float]] = field(default_factory=list)
    first_time: str | None = None
    last_time: str | None = None
    hashed_images: int = 0  # records whose image bytes were counted for repeats
    sum_sq_multiplicity: int = 0  # sum over distinct images of (times seen)^2

    def __post_init__(self) -> None:
        for name, ref in self.baseline.numeric.items():
            self.numeric[name] = np.zeros(len(ref.counts), np.int64)
        for name in ("format", "predicted_class", "below_threshold"):
            self.categorical[name] = Counter()
        self._batcher = ImageBatcher()
        self._takes_later = self._batcher.takes_later
        self._image_pending: list[dict[str, np.ndarray]] = []
        self._image_pending_count = 0
        self._confidences: list[float] = []
        self._random = random.Random(0)  # reproducible plot sample  # noqa: S311
        self._class_count = len(self.baseline.class_names)
        self._multiplicity: dict[int, int] = {}
        # per-record category counts as plain ints (a Counter update per record costs more
        # than the rest of the prediction); folded into `categorical` by finish()
        self._class_counts = [0] * self._class_count
        self._below_counts = [0, 0]  # [not below, below] the threshold
        self._formats = self.categorical["format"]
        # the timeline minute (UTC) of the last record, [start, end), and its slot
        self._minute_start = self._minute_end = datetime.min.replace(tzinfo=UTC)
        self._minute_slot = [0.0, 0.0, 0.0]
        self._first_moment: datetime | None = None  # of this summary's own records
        self._last_moment: datetime | None = None
        self._timeline_points = 0  # points offered to the plot sample
        self._next_sample = 0  # the next point that enters the full sample
        self._sample_weight = 1.0

    @property
    def effective_fraction(self) -> float:
        """n_eff / n with Kish's n_eff = (sum m)^2 / sum m^2 over distinct images.

        Exact repeats (retries, resent photos, windows resampled from a small pool) add no
        information about the input distribution; without this the tests would treat 200 draws
        of 100 images as 200 independent records and alarm on clean traffic. With it, 20
        odd images repeated to fill a window still count as 20 and can be judged.
        """
        if not self.sum_sq_multiplicity:
            return 1.0
        return self.hashed_images / self.sum_sq_multiplicity

    # -- accumulation -------------------------------------------------------------------------
    def _add_image_batches(self, batches: list[dict[str, np.ndarray]], flush: bool = False) -> None:
        """Bin feature batches into the histograms, a few thousand values at a time (binning
        costs about as much per call as per value at the batcher's small batch size)."""
        self._image_pending.extend(batches)
        self._image_pending_count += sum(len(batch["width"]) for batch in batches)
        if not self._image_pending or (self._image_pending_count < _FLUSH_VALUES and not flush):
            return
        pending = self._image_pending
        for name in IMAGE_NUMERIC:
            values = np.concatenate([batch[name] for batch in pending])
            self.numeric[name] += bin_counts(self.baseline.numeric[name].edges, values)
        self._image_pending = []
        self._image_pending_count = 0

    def _flush_confidences(self) -> None:
        if self._confidences and "confidence" in self.numeric:
            edges = self.baseline.numeric["confidence"].edges
            self.numeric["confidence"] += bin_counts(edges, np.asarray(self._confidences))
        self._confidences.clear()

    def add_line(self, line: bytes) -> None:
        if not line or line.isspace():  # (strip() would copy the line)
            return
        self.lines += 1
        record = capture.parse_line(line)
        moment = record.inference_time
        problems = record.problems
        if self.window.bounded and (not problems or problems[0] != capture.NOT_JSON):
            if moment is None:
                if capture.NOT_CAPTURE_RECORD not in problems:
                    problems.append(capture.BAD_INFERENCE_TIME)
            elif not self.window.contains(moment):
                self.outside_window += 1
                return
        self.records += 1
        image = record.image_bytes
        later = False
        if image is not None:
            # how often each image occurs, for Kish's effective sample size (inlined: per record)
            key = hash(image)
            multiplicity = self._multiplicity
            seen = multiplicity.get(key, 0)
            self.hashed_images += 1
            self.sum_sq_multiplicity += 2 * seen + 1  # (m + 1)^2 - m^2
            if seen:
                self.duplicates += 1
                multiplicity[key] = seen + 1
            elif len(multiplicity) < REPEAT_CAPACITY:
                multiplicity[key] = 1
            if self._takes_later:  # decoded a batch at a time: below, once problems are known
                later = True
            else:
                try:
                    image_format, batches = self._batcher.add_encoded(image)
                except ImageDecodeError:
                    problems.append(capture.UNDECODABLE_IMAGE)
                else:
                    self.images += 1
                    self._formats[image_format] += 1
                    if batches:
                        self._add_image_batches(batches)
        probabilities = record.probabilities
        if probabilities is not None:
            if len(probabilities) != self._class_count:
                problems.append(capture.BAD_OUTPUT)
            else:
                self._add_prediction(probabilities, moment)
        if problems:
            self.invalid_records += 1
            self.problems.update(problems)
        if later:
            batches = self._batcher.add_later(image, bool(problems))  # type: ignore[arg-type]
            if batches:
                self._add_image_batches(batches)

    def _add_prediction(self, probabilities: list[float], moment: datetime | None) -> None:
        confidence = max(probabilities)
        low = confidence < self.threshold
        self.confidence_sum += confidence  # (predictions and low_confidence: from the counts)
        self._class_counts[probabilities.index(confidence)] += 1
        self._below_counts[low] += 1
        confidences = self._confidences
        confidences.append(confidence)
        if len(confidences) >= _FLUSH_VALUES:
            self._flush_confidences()
        if moment is None:
            return
        # isoformat() costs more than the rest of this method: it runs once per minute of
        # the timeline, per new first/last record and per point that enters the plot sample
        if not self._minute_start <= moment < self._minute_end:  # (cheaper than timestamp())
            key = moment.isoformat()[:16]
            slot = self.timeline.get(key)
            if slot is None:
                slot = self.timeline[key] = [0.0, 0.0, 0.0]
            start = moment.replace(second=0, microsecond=0)
            self._minute_start, self._minute_end, self._minute_slot = start, start + _MINUTE, slot
        slot = self._minute_slot
        slot[0] += 1.0
        slot[1] += confidence
        slot[2] += low
        if self._first_moment is None or moment < self._first_moment:
            self._first_moment = moment
            stamp = moment.isoformat()
            self.first_time = min(self.first_time, stamp) if self.first_time else stamp
        if self._last_moment is None or moment > self._last_moment:
            self._last_moment = moment
            stamp = moment.isoformat()
            self.last_time = max(self.last_time, stamp) if self.last_time else stamp
        self._timeline_points += 1
        if self._timeline_points <= TIMELINE_SAMPLE:
            self.timeline_sample.append((moment.isoformat(), confidence))
            if self._timeline_points == TIMELINE_SAMPLE:
                self._schedule_sample()
        elif self._timeline_points == self._next_sample:
            point = (moment.isoformat(), confidence)
            self.timeline_sample[self._random.randrange(TIMELINE_SAMPLE)] = point
            self._schedule_sample()

    def _schedule_sample(self) -> None:
        """Reservoir sample of plot points by Li's Algorithm L: the gap to the next point that
        enters the sample is drawn once, instead of a random number per record."""
        self._sample_weight *= math.exp(math.log(self._uniform()) / TIMELINE_SAMPLE)
        gap = math.log(self._uniform()) / math.log(1.0 - self._sample_weight)
        self._next_sample = self._timeline_points + int(gap) + 1

    def _uniform(self) -> float:
        return max(self._random.random(), 1e-300)  # (0, 1): logs stay finite

    def add_file(self, source: capture.CaptureFile) -> None:
        self.files += 1
        try:
            for line in source.lines():
                self.add_line(line)
        except OSError:
            self.problems[capture.UNREADABLE_FILE] += 1
        except Exception as error:  # botocore read errors mid-stream: count and carry on
            if type(error).__module__.startswith(("botocore", "urllib3")):
                self.problems[capture.UNREADABLE_FILE] += 1
            else:
                raise

    def finish(self) -> None:
        self._add_image_batches(self._batcher.flush(), flush=True)
        later = self._batcher.take_later_outcome()  # images decoded a batch at a time
        self.images += sum(later.formats.values())
        self._formats.update(later.formats)
        if later.undecodable:
            self.problems[capture.UNDECODABLE_IMAGE] += later.undecodable
        self.invalid_records += later.undecodable_alone
        self._flush_confidences()
        predicted, below = self.categorical["predicted_class"], self.categorical["below_threshold"]
        self.predictions += sum(self._class_counts)
        self.low_confidence += self._below_counts[1]
        for index, count in enumerate(self._class_counts):
            if count:
                predicted[str(index)] += count
        for low, count in enumerate(self._below_counts):
            if count:
                below[str(bool(low))] += count
        self._class_counts = [0] * self._class_count
        self._below_counts = [0, 0]

    _COUNTERS = (
        "lines",
        "records",
        "invalid_records",
        "outside_window",
        "duplicates",
        "hashed_images",
        "sum_sq_multiplicity",
        "files",
        "images",
        "predictions",
        "confidence_sum",
        "low_confidence",
    )

    def merge(self, other: WindowSummary) -> None:
        """Add another finished summary of the same window and baseline (from a worker)."""
        for name in self._COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.update(other.problems)
        for name, counts in other.numeric.items():
            self.numeric[name] += counts
        for name, counter in other.categorical.items():
            self.categorical[name].update(counter)
        for minute, (count, total, low) in other.timeline.items():
            slot = self.timeline.setdefault(minute, [0.0, 0.0, 0.0])
            slot[0] += count
            slot[1] += total
            slot[2] += low
        points = self.timeline_sample + other.timeline_sample
        if len(points) > TIMELINE_SAMPLE:
            points = self._random.sample(points, TIMELINE_SAMPLE)
        self.timeline_sample = points
        stamps = [t for t in (self.first_time, other.first_time) if t]
        self.first_time = min(stamps) if stamps else None
        stamps = [t for t in (self.last_time, other.last_time) if t]
        self.last_time = max(stamps) if stamps else None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_multiplicity"] = {}  # repeats are counted per process; no need to ship hashes
        return state


def _coarse_groups(counts: np.ndarray, groups: int = 10) -> np.ndarray:
    """Map fine bins to ~deciles of the baseline (for PSI, which wants few, well-filled bins)."""
    share_below = (np.cumsum(counts) - counts) / max(counts.sum(), 1)
    return np.minimum((share_below * groups).astype(np.int64), groups - 1)


def _category_counts(
    reference: dict[str, int], window: Counter[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    names = sorted(set(reference) | set(window))
    return (
        names,
        np.array([reference.get(n, 0) for n in names], np.float64),
        np.array([window.get(n, 0) for n in names], np.float64),
    )


def evaluate(summary: WindowSummary, settings: DriftSettings) -> dict[str, Any]:
    """Run the tests on a finished summary and shape the report dictionary."""
    baseline = summary.baseline
    warnings: list[str] = []
    prediction_tests = True
    if (
        settings.model_sha256
        and baseline.model_sha256
        and settings.model_sha256 != baseline.model_sha256
    ):
        prediction_tests = False
        warnings.append(
            "baseline_model_mismatch: the baseline was built with model "
            f"{baseline.model_sha256[:12]}, the endpoint serves {settings.model_sha256[:12]}; "
            "prediction features are not tested"
        )
    window_threshold(baseline, summary.threshold)  # refuses a mismatch (ThresholdMismatch)
    # A model's predictions on its own training images are over-confident: not a reference for
    # confidence (clean traffic would look "drifted"); the class mix then uses the label rule.
    trained_on = baseline.has_predictions and baseline.predictions_on_training_images
    if trained_on:
        warnings.append(
            "baseline_predictions_on_training_images: the baseline's predictions were made on "
            "the images the statistics came from (no validation split), so confidence and "
            "below_threshold are not tested and the class mix is compared with the label mix"
        )
    if not baseline.has_predictions:
        warnings.append(
            "baseline has no model predictions: confidence is not tested and the class mix is "
            "compared with the training label mix"
        )

    features: dict[str, dict[str, Any]] = {}
    tests: list[tuple[str, float]] = []
    # Window counts enter the tests at Kish's effective size (repeats of an image count once).
    scale = summary.effective_fraction

    def skip(name: str, kind: str, reason: str, n: int) -> None:
        features[name] = {"test": kind, "n": n, "skipped": reason, "drift": False}

    for name, ref in baseline.numeric.items():
        counts = summary.numeric[name]
        n = int(counts.sum())
        if name in PREDICTION_FEATURES and not prediction_tests:
            skip(name, "ks", "baseline_model_mismatch", n)
            continue
        if name in PREDICTION_FEATURES and trained_on:
            skip(name, "ks", "baseline_predictions_on_training_images", n)
            continue
        if n < settings.min_records:
            skip(name, "ks", "insufficient_data", n)
            continue
        result = stats.ks_binned(ref.counts, counts * scale)
        groups = _coarse_groups(ref.counts)
        psi = stats.psi(
            np.bincount(groups, weights=ref.counts), np.bincount(groups, weights=counts)
        )
        p_value = result.p_value if result.statistic >= settings.min_ks_statistic else 1.0
        features[name] = {
            "test": "ks",
            "n": n,
            "statistic": result.statistic,
            "psi": psi,
            "p_value": result.p_value,
            "effect_ok": result.statistic >= settings.min_ks_statistic,
        }
        tests.append((name, p_value))

    for name in ("format", "predicted_class", "below_threshold"):
        window_counts = summary.categorical[name]
        n = sum(window_counts.values())
        reference = baseline.categorical.get(name)
        kind = "chi2"
        if name in PREDICTION_FEATURES and not prediction_tests:
            skip(name, kind, "baseline_model_mismatch", n)
            continue
        if name == "below_threshold" and trained_on:
            skip(name, kind, "baseline_predictions_on_training_images", n)
            continue
        if name == "predicted_class" and trained_on:
            reference = None
        if n < settings.min_records:
            skip(name, kind, "insufficient_data", n)
            continue
        if reference is None and name == "predicted_class" and any(baseline.label_counts.values()):
            reference = {
                str(baseline.class_names.index(label)): count
                for label, count in baseline.label_counts.items()
                if label in baseline.class_names
            }
            kind = "chi2_vs_labels"
        if reference is None:
            skip(name, kind, "not_in_baseline", n)
            continue
        names, ref_counts, win_counts = _category_counts(reference, window_counts)
        if kind == "chi2_vs_labels":
            share = ref_counts / max(ref_counts.sum(), 1)
            result = stats.chi2_goodness_of_fit(share, win_counts * scale)
            shift = 0.5 * float(np.abs(share - win_counts / max(win_counts.sum(), 1)).sum())
            p_value = result.p_value if shift >= settings.min_class_shift else 1.0
            features[name] = {"category_shift": shift}
        else:
            result = stats.chi2_homogeneity(ref_counts, win_counts * scale)
            shift = 0.5 * float(
                np.abs(ref_counts / max(ref_counts.sum(), 1) - win_counts / max(n, 1)).sum()
            )
            p_value = result.p_value if shift >= settings.min_category_shift else 1.0
            features[name] = {"category_shift": shift}
        features[name].update(
            test=kind,
            n=n,
            statistic=result.statistic,
            psi=stats.psi(ref_counts, win_counts),
            p_value=result.p_value,
            effect_ok=p_value == result.p_value,
            categories={c: int(w) for c, w in zip(names, win_counts, strict=True)},
            baseline_categories={c: int(r) for c, r in zip(names, ref_counts, strict=True)},
        )
        tests.append((name, p_value))

    usable = max(summary.images, summary.predictions)
    insufficient = usable < settings.min_records or not tests
    per_test_alpha = settings.false_alarm_rate / max(len(tests), 1)
    drifted = []
    for name, p_value in tests:
        score = stats.drift_score(p_value, per_test_alpha)
        features[name]["score"] = score
        features[name]["drift"] = bool(p_value <= per_test_alpha) and not insufficient
        if features[name]["drift"]:
            drifted.append(name)
    overall = max((features[name]["score"] for name, _ in tests), default=0.0)
    if insufficient:
        status = "insufficient_data"
        warnings.append(
            f"insufficient_data: {usable} usable records, at least {settings.min_records} needed"
        )
    else:
        status = "drift" if drifted else "ok"
    low_rate = summary.low_confidence / summary.predictions if summary.predictions else None
    mean_conf = summary.confidence_sum / summary.predictions if summary.predictions else None
    return {
        "status": status,
        "drift_detected": None if insufficient else bool(drifted),
        "insufficient_data": insufficient,
        "drift_score": 0.0 if insufficient else overall,
        "drifted_features": sorted(drifted, key=lambda n: -features[n]["score"]),
        "records": summary.records,
        "invalid_records": summary.invalid_records,
        "skipped": dict(sorted(summary.problems.items())),
        "lines_read": summary.lines,
        "records_outside_window": summary.outside_window,
        "duplicate_records": summary.duplicates,
        "effective_records": round(max(summary.images, summary.predictions) * scale, 1),
        "files_read": summary.files,
        "images_analysed": summary.images,
        "predictions_analysed": summary.predictions,
        "low_confidence_rate": low_rate,
        "mean_confidence": mean_conf,
        "threshold": summary.threshold,
        "window": {
            "start": summary.window.start.isoformat() if summary.window.start else None,
            "end": summary.window.end.isoformat() if summary.window.end else None,
            "first_record": summary.first_time,
            "last_record": summary.last_time,
        },
        "decision": {
            "false_alarm_rate": settings.false_alarm_rate,
            "tests": len(tests),
            "per_test_alpha": per_test_alpha,
            "min_records": settings.min_records,
            "min_ks_statistic": settings.min_ks_statistic,
            "min_category_shift": settings.min_category_shift,
            "rule": "drift when any p_value <= false_alarm_rate / tests (Bonferroni) and the "
            "effect is large enough (effect_ok); score = log(p) / log(per_test_alpha) "
            "(0 when the effect is too small), >= 1 is drift",
        },
        "baseline": {
            "schema_version": baseline.schema_version,
            "created_at": baseline.created_at,
            "content_sha256": baseline.content_sha256,
            "model_sha256": baseline.model_sha256,
            "has_predictions": baseline.has_predictions,
        },
        "warnings": warnings,
        "features": features,
    }


def summarise(
    files: Iterable[capture.CaptureFile],
    baseline: Baseline,
    settings: DriftSettings,
    window: capture.Window,
    *,
    progress: bool = False,
    workers: int = 1,
) -> WindowSummary:
    threshold = window_threshold(baseline, settings.threshold)
    summary = WindowSummary(baseline=baseline, threshold=threshold, window=window)
    if workers > 1:
        return _summarise_parallel(files, summary, workers, progress)
    for source in tqdm(files, desc="capture files", unit="file", disable=not progress):
        summary.add_file(source)
    summary.finish()
    return summary


_worker_template: WindowSummary | None = None


def _init_worker(template: WindowSummary) -> None:
    global _worker_template
    _worker_template = template


def _summarise_one(source: capture.CaptureFile) -> WindowSummary:
    assert _worker_template is not None
    template = _worker_template
    summary = WindowSummary(
        baseline=template.baseline, threshold=template.threshold, window=template.window
    )
    summary.add_file(source)
    summary.finish()
    return summary


def _summarise_parallel(
    files: Iterable[capture.CaptureFile], summary: WindowSummary, workers: int, progress: bool
) -> WindowSummary:
    """One task per file on a process pool (not for Lambda: it has no /dev/shm). Exact
    repeats are then only recognised within a file."""
    import multiprocessing

    def detach(source: capture.CaptureFile) -> capture.CaptureFile:
        return source.detached() if isinstance(source, capture.S3CaptureFile) else source

    context = multiprocessing.get_context("spawn")  # no forked boto3 clients or threads
    with context.Pool(workers, initializer=_init_worker, initargs=(summary,)) as pool:
        results = pool.imap_unordered(_summarise_one, (detach(f) for f in files), chunksize=1)
        for part in tqdm(results, desc="capture files", unit="file", disable=not progress):
            summary.merge(part)
    summary.finish()
    return summary


def analyse(
    source: str | Path,
    baseline: Baseline,
    settings: DriftSettings | None = None,
    window: capture.Window | None = None,
    *,
    s3_client: Any = None,
    progress: bool = False,
    workers: int = 1,
) -> tuple[dict[str, Any], WindowSummary]:
    """Read the window from `source` and return (report, summary)."""
    settings = settings or DriftSettings()
    window = window or capture.Window()
    files = capture.iter_capture_files(source, window, s3_client)
    summary = summarise(files, baseline, settings, window, progress=progress, workers=workers)
    report = evaluate(summary, settings)
    report["captures"] = str(source)
    return report, summary


def _rate(value: str) -> float:
    number = _finite(value)
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not strictly between 0 and 1")
    return number


def _finite(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"not a finite number: {value!r}")
    return number


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse's types cannot see alone: the window, the output folder."""
    try:
        capture.check_window(args.start, args.end)
    except capture.WindowError as error:
        parser.error(str(error))
    if args.output.exists() and not args.output.is_dir():
        parser.error(f"--output {args.output} is a file, not a folder")
    if args.model is not None and args.model_sha256 is not None:
        parser.error("give --model or --model-sha256, not both")


def main(argv: Sequence[str] | None = None) -> int:
    from monitoring import publish
    from monitoring import report as report_module

    parser = argparse.ArgumentParser(description="Test a capture window for drift.")
    parser.add_argument("--captures", required=True, help="local folder/file or s3://bucket/prefix")
    parser.add_argument("--baseline", required=True, help="baseline.json path or s3:// URI")
    parser.add_argument(
        "--start", type=capture.iso_time_argument, help="window start (ISO-8601, inclusive)"
    )
    parser.add_argument(
        "--end", type=capture.iso_time_argument, help="window end (ISO-8601, exclusive)"
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for report.json/html")
    parser.add_argument("--publish", action="store_true", help="put CloudWatch metrics")
    parser.add_argument("--namespace", default=None, help="CloudWatch namespace")
    parser.add_argument("--endpoint-name", default="unknown")
    parser.add_argument("--variant-name", default="AllTraffic")
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--threshold",
        type=_rate,
        default=None,
        help="the stage's routing threshold (default: the baseline's; must equal it when the "
        "baseline has predictions)",
    )
    parser.add_argument(
        "--min-records", type=capture.positive_int_argument, default=DEFAULT_MIN_RECORDS
    )
    parser.add_argument("--false-alarm-rate", type=_rate, default=DEFAULT_FALSE_ALARM_RATE)
    parser.add_argument("--model-sha256", default=None, help="sha256 of the served model.tar.gz")
    parser.add_argument(
        "--model", type=Path, default=None, help="the served model.tar.gz (its sha256 is used)"
    )
    parser.add_argument("--no-html", action="store_true", help="skip the HTML page")
    parser.add_argument(
        "--workers",
        type=capture.positive_int_argument,
        default=1,
        help="processes, one file per task (default 1)",
    )
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 3 when drift")
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    try:
        model_sha256 = args.model_sha256
        if args.model is not None:
            if not args.model.is_file():
                raise BaselineError(f"model archive not found: {args.model}")
            model_sha256 = file_sha256(args.model)
        settings = DriftSettings(
            threshold=args.threshold,
            min_records=args.min_records,
            false_alarm_rate=args.false_alarm_rate,
            model_sha256=model_sha256,
        )
        baseline = load_baseline(args.baseline)
        report, summary = analyse(
            args.captures,
            baseline,
            settings,
            capture.Window(args.start, args.end),
            progress=True,
            workers=args.workers,
        )
    except (BaselineError, capture.CaptureSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        report_module.write_local(report, summary, args.output, html=not args.no_html)
    except OSError as error:  # a read-only or full disk, a file where a folder should be
        print(f"error: report not written to {args.output}: {error}", file=sys.stderr)
        return 2
    if args.publish:
        try:
            publish.publish_report(
                report,
                publish.Dimensions(args.endpoint_name, args.variant_name, args.stage),
                namespace=args.namespace,
            )
        except Exception as error:  # botocore: no credentials, throttled, denied
            print(f"error: report written, metrics not published: {error}", file=sys.stderr)
            return 1
    print(
        json.dumps(
            {
                key: report[key]
                for key in ("status", "drift_detected", "drift_score", "records", "invalid_records")
            }
            | {"drifted_features": report["drifted_features"], "report": str(args.output)}
        )
    )
    return 3 if args.fail_on_drift and report["drift_detected"] else 0


if __name__ == "__main__":
    sys.exit(main())
