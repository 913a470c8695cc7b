"""Drift statistics on binned counts: PSI, two-sample Kolmogorov-Smirnov, chi-square homogeneity.

numpy and math only, so the Lambda package needs no scipy (~100 MB unpacked). Everything works
on histograms over the baseline's bin edges, so a window of any size is summarised by a few
hundred integers (the job's memory stays flat).

KS on binned data: the baseline stores counts over ~100 quantile bins (every 1% of the baseline
plus a bin below its minimum and one above its maximum). The statistic is the largest gap between
the two empirical CDFs at the bin edges, which under-estimates the exact KS statistic by at most
the mass of one bin (~1%): the test is slightly conservative, never anti-conservative, which is
the right side to err on for a false-alarm budget. A reservoir sample would give the exact
statistic on a subsample, but loses power on exactly the large windows where drift matters.

Decision rule: a window is drifted when any test's p-value is below `alpha / m` (Bonferroni over
the m tests actually run). Bonferroni bounds the family-wise false-alarm rate at alpha whatever
the correlation between features (they are strongly correlated, so the real rate is lower).
Each feature's score is log(p) / log(alpha / m): 1.0 is exactly the threshold, so alarms use
one threshold (1.0) however many features are tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

P_FLOOR = 1e-300
SCORE_CAP = 100.0


def psi(expected_counts: np.ndarray, actual_counts: np.ndarray, smoothing: float = 0.5) -> float:
    """Population stability index sum((a - e) * ln(a / e)) over bins of proportions.

    Empty bins get `smoothing` pseudo-counts so that a bin seen on one side only gives a large
    but finite value instead of infinity.
    """
    expected = np.asarray(expected_counts, dtype=np.float64) + smoothing
    actual = np.asarray(actual_counts, dtype=np.float64) + smoothing
    expected /= expected.sum()
    actual /= actual.sum()
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def kolmogorov_sf(statistic: float) -> float:
    """P(K > x) for the Kolmogorov distribution: 2 * sum (-1)^(k-1) exp(-2 k^2 x^2)."""
    if statistic <= 0.0:
        return 1.0
    if statistic < 0.2:  # the series converges slowly here; the probability is 1 to 1e-10
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * statistic * statistic)
        total += term if k % 2 else -term
        if term < 1e-18:
            break
    return float(min(1.0, max(0.0, 2.0 * total)))


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float


def ks_binned(baseline_counts: np.ndarray, window_counts: np.ndarray) -> TestResult:
    """Two-sample KS test from counts over the same bins (asymptotic p-value, Stephens' factor)."""
    base = np.asarray(baseline_counts, dtype=np.float64)
    window = np.asarray(window_counts, dtype=np.float64)
    n_base, n_window = base.sum(), window.sum()
    if n_base == 0 or n_window == 0:
        return TestResult(0.0, 1.0)
    gap = float(np.max(np.abs(np.cumsum(base) / n_base - np.cumsum(window) / n_window)))
    effective = math.sqrt(n_base * n_window / (n_base + n_window))
    # Stephens (1970): (sqrt(n) + 0.12 + 0.11 / sqrt(n)) * D follows the Kolmogorov law closely
    # already for small n.
    scaled = (effective + 0.12 + 0.11 / effective) * gap
    return TestResult(gap, kolmogorov_sf(scaled))


def _gamma_q(shape: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) (series / continued fraction, as in NR)."""
    if x <= 0.0:
        return 1.0
    log_prefix = -x + shape * math.log(x) - math.lgamma(shape)
    if x < shape + 1.0:
        term = total = 1.0 / shape
        a = shape
        for _ in range(1000):
            a += 1.0
            term *= x / a
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1.0 - shape
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - shape)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi2_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution."""
    if dof <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, statistic / 2.0)


def chi2_homogeneity(baseline_counts: np.ndarray, window_counts: np.ndarray) -> TestResult:
    """Chi-square test that two samples share one categorical distribution (2 x k table).

    Two-sample on purpose: the baseline is a sample too, so a category the baseline never saw
    (a new image format, say) is weighed by how surprising it is given both sample sizes.
    """
    table = np.vstack([baseline_counts, window_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return TestResult(0.0, 1.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return TestResult(statistic, chi2_sf(statistic, table.shape[1] - 1))


def chi2_goodness_of_fit(expected_share: np.ndarray, window_counts: np.ndarray) -> TestResult:
    """Chi-square test of window counts against known category shares."""
    counts = np.asarray(window_counts, dtype=np.float64)
    share = np.asarray(expected_share, dtype=np.float64)
    total = counts.sum()
    keep = share > 0
    if total > 0 and np.any(counts[~keep] > 0):  # a category the reference says never happens
        return TestResult(math.inf, 0.0)
    if total == 0 or keep.sum() < 2:
        return TestResult(0.0, 1.0)
    expected = share[keep] / share[keep].sum() * total
    statistic = float(np.sum((counts[keep] - expected) ** 2 / expected))
    return TestResult(statistic, chi2_sf(statistic, int(keep.sum()) - 1))


def drift_score(p_value: float, per_test_alpha: float) -> float:
    """log(p) / log(alpha'): 1.0 at the threshold, above 1 = drift; capped for CloudWatch."""
    p_value = max(p_value, P_FLOOR)
    if p_value >= 1.0:
        return 0.0
    return float(min(SCORE_CAP, math.log(p_value) / math.log(per_test_alpha)))
