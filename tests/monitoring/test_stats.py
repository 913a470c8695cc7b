"""Each statistic against values worked out by hand (or closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring import stats


def test_psi_matches_hand_computation():
    # e = [.5, .5], a = [.25, .75]: (.25-.5) ln(.5) + (.75-.5) ln(1.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert stats.psi(np.array([50, 50]), np.array([25, 75]), smoothing=0.0) == pytest.approx(
        expected
    )
    assert expected == pytest.approx(0.274653, abs=1e-6)


def test_psi_is_zero_for_identical_and_finite_for_empty_bins():
    assert stats.psi(np.array([10, 20, 30]), np.array([1, 2, 3])) == pytest.approx(0.0, abs=1e-2)
    value = stats.psi(np.array([100, 0]), np.array([0, 100]))
    assert math.isfinite(value) and value > 5


def test_kolmogorov_sf_known_points():
    # the 5% critical value of the Kolmogorov distribution is 1.3581
    assert stats.kolmogorov_sf(1.3581) == pytest.approx(0.05, abs=2e-4)
    assert stats.kolmogorov_sf(0.0) == 1.0
    x = 1.0  # three terms of 2 * sum (-1)^(k-1) exp(-2 k^2 x^2) are exact to 1e-15 here
    series = 2 * (math.exp(-2 * x * x) - math.exp(-8 * x * x) + math.exp(-18 * x * x))
    assert stats.kolmogorov_sf(x) == pytest.approx(series, rel=1e-9)


def test_ks_binned_statistic_and_p_value_by_hand():
    # CDFs at the bin edges: baseline [0, .5, 1, 1], window [0, 0, .5, 1] -> D = 0.5
    result = stats.ks_binned(np.array([0, 2, 2, 0]), np.array([0, 0, 2, 2]))
    assert result.statistic == pytest.approx(0.5)
    root_n = math.sqrt(4 * 4 / 8)
    scaled = (root_n + 0.12 + 0.11 / root_n) * 0.5
    assert result.p_value == pytest.approx(stats.kolmogorov_sf(scaled))
    assert stats.ks_binned(np.array([5, 5]), np.array([0, 0])).p_value == 1.0


def test_ks_binned_detects_a_shift_and_not_a_resample():
    rng = np.random.default_rng(0)
    edges = np.quantile(rng.normal(size=5000), np.linspace(0, 1, 101))
    base = np.bincount(np.searchsorted(edges, rng.normal(size=2000), "right"), minlength=102)
    same = np.bincount(np.searchsorted(edges, rng.normal(size=500), "right"), minlength=102)
    moved = np.bincount(np.searchsorted(edges, rng.normal(0.5, 1, 500), "right"), minlength=102)
    assert stats.ks_binned(base, same).p_value > 0.01
    assert stats.ks_binned(base, moved).p_value < 1e-6


def test_chi2_sf_closed_forms():
    # dof 2: sf(x) = exp(-x/2); dof 1 at 3.841459 is the 5% point
    for x in (0.1, 1.0, 8.4, 40.0):
        assert stats.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-10)
    assert stats.chi2_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-6)
    assert stats.chi2_sf(0.0, 3) == 1.0


def test_chi2_homogeneity_by_hand():
    # table [[50, 30, 20], [30, 40, 30]]; totals rows 100/100, cols 80/70/50, N 200
    # expected 40/35/25 in both rows; chi2 = 2 * (100/40 + 25/35 + 25/25)
    result = stats.chi2_homogeneity(np.array([50, 30, 20]), np.array([30, 40, 30]))
    hand = 2 * (100 / 40 + 25 / 35 + 25 / 25)
    assert result.statistic == pytest.approx(hand)
    assert result.p_value == pytest.approx(math.exp(-hand / 2))


def test_chi2_homogeneity_unseen_category_and_degenerate_tables():
    # a category the baseline never saw, at 10% of the window, is significant
    result = stats.chi2_homogeneity(np.array([1000, 0]), np.array([180, 20]))
    assert result.p_value < 1e-10
    assert stats.chi2_homogeneity(np.array([10, 0]), np.array([5, 0])).p_value == 1.0
    assert stats.chi2_homogeneity(np.array([0, 0]), np.array([5, 5])).p_value == 1.0


def test_chi2_goodness_of_fit_by_hand():
    # shares .5/.5, counts 70/30: chi2 = (20^2 + 20^2) / 50 = 16, dof 1
    result = stats.chi2_goodness_of_fit(np.array([0.5, 0.5]), np.array([70, 30]))
    assert result.statistic == pytest.approx(16.0)
    assert result.p_value == pytest.approx(stats.chi2_sf(16.0, 1))
    assert stats.chi2_goodness_of_fit(np.array([1.0, 0.0]), np.array([5, 1])).p_value == 0.0


def test_drift_score_is_one_at_the_threshold():
    alpha = 0.01 / 15
    assert stats.drift_score(alpha, alpha) == pytest.approx(1.0)
    assert stats.drift_score(alpha**2, alpha) == pytest.approx(2.0)
    assert stats.drift_score(1.0, alpha) == 0.0
    assert 10 < stats.drift_score(0.0, alpha) <= stats.SCORE_CAP
