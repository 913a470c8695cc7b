"""Accumulate a capture window: every record into running histograms over the baseline's bins.

The first step of the drift job (then `monitoring.evaluate` tests the summary; `monitoring.job`
runs the two over a window and writes the report). Holds no records: memory is flat whatever
the window's size.
"""

from __future__ import annotations

import math
import multiprocessing
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from tqdm import tqdm

from monitoring import capture
from monitoring.baseline import Baseline, bin_counts
from monitoring.features import (
    IMAGE_NUMERIC,
    ImageBatcher,
    ImageDecodeError,
)

TIMELINE_SAMPLE = 2000  # (time, confidence) points kept for the plot (reservoir sample)
_FLUSH_VALUES = 4096
_MINUTE = timedelta(minutes=1)
# Image hashes remembered per window to count exact repeats (~100 bytes each: ~25 MB at most;
# beyond it new images are taken as unique).
REPEAT_CAPACITY = 250_000


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


# More processes than this is a typo, not a plan: each one is a Python interpreter with numpy.
MAX_WORKERS = 64


def summarise(
    files: Iterable[capture.CaptureFile],
    baseline: Baseline,
    threshold: float,
    window: capture.Window,
    *,
    progress: bool = False,
    workers: int = 1,
) -> WindowSummary:
    """Every record of `files` into one summary, judged later at `threshold` (the window's)."""
    summary = WindowSummary(baseline=baseline, threshold=threshold, window=window)
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 1-{MAX_WORKERS}, not {workers}")
    if workers > 1:
        files = list(files)  # one window's listing (names, not data): size the pool to it
        if len(files) > 1:
            return _summarise_parallel(files, summary, min(workers, len(files)), progress)
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

    def detach(source: capture.CaptureFile) -> capture.CaptureFile:
        return source.detached() if isinstance(source, capture.S3CaptureFile) else source

    context = multiprocessing.get_context("spawn")  # no forked boto3 clients or threads
    with context.Pool(workers, initializer=_init_worker, initargs=(summary,)) as pool:
        results = pool.imap_unordered(_summarise_one, (detach(f) for f in files), chunksize=1)
        for part in tqdm(results, desc="capture files", unit="file", disable=not progress):
            summary.merge(part)
    summary.finish()
    return summary
