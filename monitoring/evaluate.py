"""Evaluate a window: test every feature of an accumulated summary against the baseline.

The second step of the drift job: two-sample KS on the binned numeric features, chi-square on
the categories, Bonferroni over the tests run, a practical-size floor, PSI for the report.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitoring import stats
from monitoring.accumulate import WindowSummary
from monitoring.baseline import Baseline, BaselineError
from monitoring.features import PREDICTION_FEATURES

DEFAULT_MIN_RECORDS = 50
# Nominal family-wise false-alarm rate per window. Half of the 1% goal: windows resampled from a
# small pool (and real traffic bursts) are a little more variable than independent records;
# measured on 300 clean windows: 0.67% at 0.005, 1.0% at 0.01 (benchmarks/bench_drift_detection).
DEFAULT_FALSE_ALARM_RATE = 0.005
# With no model predictions in the baseline, the predicted class mix is compared with the
# training label mix; a good model's predictions differ from it a little, so a shift must also
# be this large (total variation distance) to count.
DEFAULT_MIN_CLASS_SHIFT = 0.15
# Practical significance: with thousands of records a test finds differences nobody should be
# paged for, so a feature also needs a KS gap (largest CDF difference) of at least this much...
DEFAULT_MIN_KS_STATISTIC = 0.1
# ... or, for categories, this total variation distance between the window's and baseline's mix.
DEFAULT_MIN_CATEGORY_SHIFT = 0.03


class ThresholdMismatch(BaselineError):
    """The job's routing threshold is not the one the baseline counted below_threshold at."""


class ModelMismatch(BaselineError):
    """The baseline was built with another model than the one the endpoint serves."""


def check_model(baseline: Baseline, model_sha256: str | None) -> None:
    """Refuse a baseline that does not record the served model's digest (MODEL_SHA256, set by
    Terraform from the release): its predictions describe another model, so judging the window
    against them would page for the model change, or hide drift. No digest given: no check."""
    if model_sha256 is None or baseline.model_sha256 == model_sha256:
        return
    built_with = (baseline.model_sha256 or "no model")[:12]
    raise ModelMismatch(
        f"the endpoint serves model {model_sha256[:12]} but the baseline was built with "
        f"{built_with}: publish the served model's baseline (python -m training.promote ... "
        "--images DIR, then terraform apply)"
    )


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
            f"below_threshold at {baseline.threshold}: rebuild it at the stage's threshold by "
            f"releasing the model again (python -m training.promote ... --images DIR), or "
            f"python -m training.baseline --images DIR --model model.tar.gz "
            f"--threshold {threshold} --out ..."
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
    model_sha256: str | None = None  # the served model; a baseline of another is refused


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
    check_model(baseline, settings.model_sha256)  # refuses another model's (ModelMismatch)
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
