"""Calibration and threshold selection against hand-computed cases (numpy only, no torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.decision import (
    MAX_THRESHOLD,
    DecisionError,
    apply_temperature,
    choose_threshold,
    clopper_pearson_upper,
    fit_temperature,
    images_needed,
    risk_coverage_table,
    routing_at,
)
from training.evaluate import expected_calibration_error


def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def scored(groups: list[tuple[float, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) from (confidence, right, wrong) groups: every image is predicted
    `bicycle` with that confidence; `wrong` of them are really motorcycles."""
    labels, rows = [], []
    for confidence, right, wrong in groups:
        labels += [0] * right + [1] * wrong
        rows += [[confidence, 1 - confidence]] * (right + wrong)
    return np.array(labels), np.array(rows)


# --- the bound ---------------------------------------------------------------------------------


def test_no_error_bound_is_the_closed_form() -> None:
    # 0 of n: P(X = 0) = (1 - p)^n = 0.05  =>  p = 1 - 0.05^(1/n).
    assert clopper_pearson_upper(0, 80) == pytest.approx(1 - 0.05 ** (1 / 80))
    assert clopper_pearson_upper(0, 80) == pytest.approx(0.036755, abs=1e-6)


@pytest.mark.parametrize(("errors", "n"), [(1, 80), (3, 100), (10, 1000)])
def test_bound_solves_the_binomial_tail(errors: int, n: int) -> None:
    bound = clopper_pearson_upper(errors, n, 0.95)
    assert binomial_cdf(errors, n, bound) == pytest.approx(0.05, abs=1e-9)
    assert bound > errors / n


def test_certifying_one_percent_needs_299_clean_images() -> None:
    assert images_needed(0.01, 0.95) == 299
    assert clopper_pearson_upper(0, 299) <= 0.01 < clopper_pearson_upper(0, 298)


def test_nothing_seen_bounds_nothing_and_bad_counts_are_errors() -> None:
    assert clopper_pearson_upper(0, 0) == 1.0
    assert clopper_pearson_upper(5, 5) == 1.0
    with pytest.raises(DecisionError):
        clopper_pearson_upper(3, 2)
    with pytest.raises(DecisionError):
        clopper_pearson_upper(0, 10, confidence=1.0)


# --- the threshold -----------------------------------------------------------------------------


def test_lowest_certified_threshold_is_chosen() -> None:
    # Thresholds (routed n, misroutes k, 95% bound):
    #   0.99: 300, 0  -> 1 - 0.05^(1/300) = 0.00994  certified
    #   0.90: 301, 1  -> 0.0157                     not
    #   0.80: 401, 1  -> 0.0118                     not
    #   0.70: 901, 1  -> 0.0053                     certified: the lowest, so chosen
    labels, probabilities = scored([(0.99, 300, 0), (0.9, 0, 1), (0.8, 100, 0), (0.7, 500, 0)])
    choice = choose_threshold(labels, probabilities, max_misroute_rate=0.01)
    assert choice.certified
    assert choice.decision_threshold == 0.7
    assert (choice.routed_validation_images, choice.validation_misroutes) == (901, 1)
    assert binomial_cdf(1, 901, choice.misroute_upper_bound) == pytest.approx(0.05, abs=1e-9)
    assert choice.validation_images == 901 and choice.method.startswith("clopper-pearson-0.95")


def test_a_tie_is_routed_whole() -> None:
    # At 0.9, 50 right and 1 wrong image share one confidence: no threshold routes the right
    # ones alone. 0.9 would route 351 with 1 misroute (bound 0.0134 > 0.01), so 0.99 it is.
    labels, probabilities = scored([(0.99, 300, 0), (0.9, 50, 1)])
    choice = choose_threshold(labels, probabilities, max_misroute_rate=0.01)
    assert choice.certified and choice.decision_threshold == 0.99
    assert choice.routed_validation_images == 300
    assert clopper_pearson_upper(1, 351) > 0.01  # the premise


def test_too_small_a_set_falls_back_to_the_calibrated_expected_risk_and_says_so() -> None:
    # 100 images cannot certify 1% (needs 299). Calibrated expected misroute rate among routed,
    # mean(1 - confidence): 0.999: 0.001; 0.99: (50 * 0.001 + 30 * 0.01) / 80 = 0.0044;
    # 0.95: (0.35 + 10 * 0.05) / 90 = 0.0094 <= 0.01; 0.9: (0.85 + 10 * 0.1) / 100 = 0.0185.
    labels, probabilities = scored([(0.999, 50, 0), (0.99, 30, 0), (0.95, 9, 1), (0.9, 10, 0)])
    choice = choose_threshold(labels, probabilities, max_misroute_rate=0.01)
    assert not choice.certified
    assert choice.decision_threshold == 0.95
    assert (choice.routed_validation_images, choice.validation_misroutes) == (90, 1)
    assert choice.expected_misroute_rate == pytest.approx(0.85 / 90)
    # The exact bound it reaches is still reported, above the target it could not certify.
    assert choice.misroute_upper_bound == pytest.approx(clopper_pearson_upper(1, 90))
    assert choice.misroute_upper_bound > 0.01
    assert choice.images_needed_to_certify == 299
    assert "not certifiable on 100 images" in choice.method
    assert "expected misroute rate" in choice.method


def test_fallback_ties_route_whole_too() -> None:
    # At 0.95, 9 right and 1 wrong tie: their expected risk counts all ten together.
    labels, probabilities = scored([(0.999, 10, 0), (0.95, 9, 1)])
    choice = choose_threshold(labels, probabilities, max_misroute_rate=0.03)
    # 0.999: 0.001; 0.95: (0.01 + 0.5) / 20 = 0.0255 <= 0.03: routed whole, 1 misroute.
    assert choice.decision_threshold == 0.95 and choice.routed_validation_images == 20


def test_when_no_answer_expects_few_enough_misroutes_only_certainty_routes() -> None:
    # Even the most confident answers expect 2% misroutes: nothing below 1.0 routes.
    labels, probabilities = scored([(0.98, 60, 0), (0.97, 0, 1)])
    choice = choose_threshold(labels, probabilities, max_misroute_rate=0.01)
    assert not choice.certified and choice.decision_threshold == MAX_THRESHOLD
    assert choice.routed_validation_images == 0 and "routes only 1.0" in choice.method
    # Strictly inside (0, 1), as promotion requires, and it routes only a float32 1.0.
    assert MAX_THRESHOLD < 1.0 and np.float32(MAX_THRESHOLD) == 1.0
    assert float(np.nextafter(np.float32(1), np.float32(0))) < MAX_THRESHOLD
    assert choice.misroute_upper_bound == 1.0


def test_motorcycles_are_judged_by_their_own_probability() -> None:
    labels = np.array([1, 1, 0])
    probabilities = np.array([[0.1, 0.9], [0.3, 0.7], [0.6, 0.4]])
    assert routing_at(labels, probabilities, 0.7) == {
        "threshold": 0.7,
        "coverage": 2 / 3,
        "routed": 2,
        "misrouted": 0,
        "routed_accuracy": 1.0,
    }
    # Routing is `>=`, as in the filter Lambda: 0.6 is routed at 0.6, and it is right.
    assert routing_at(labels, probabilities, 0.6)["routed"] == 3
    assert routing_at(labels, probabilities, 0.95)["routed_accuracy"] is None


def test_risk_coverage_table_lists_the_model_threshold_in_order() -> None:
    labels, probabilities = scored([(0.99, 3, 0), (0.75, 1, 1)])
    table = risk_coverage_table(labels, probabilities, extra=(0.875,))
    thresholds = [row["threshold"] for row in table]
    assert thresholds == sorted(thresholds) and 0.875 in thresholds and 0.93 in thresholds
    row = next(row for row in table if row["threshold"] == 0.7)
    assert row["coverage"] == 1.0 and row["routed_accuracy"] == pytest.approx(4 / 5)


@pytest.mark.parametrize(
    ("labels", "probabilities", "rate"),
    [
        (np.array([0, 1]), np.array([[0.9, 0.1]]), 0.01),
        (np.array([0, 2]), np.array([[0.9, 0.1], [0.2, 0.8]]), 0.01),
        (np.array([0]), np.array([[0.9, 0.1]]), 0.0),
        (np.array([], dtype=int), np.zeros((0, 2)), 0.01),
    ],
)
def test_bad_inputs_are_clear_errors(labels, probabilities, rate) -> None:
    with pytest.raises(DecisionError):
        choose_threshold(labels, probabilities, rate)


# --- calibration -------------------------------------------------------------------------------


def generated(n: int, seed: int, sharpness: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from known true probabilities, reported as softmax(true logit * sharpness)
    (sharpness < 1: under-confident, like our ensemble)."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 3, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    reported = 1 / (1 + np.exp(-logit * sharpness))
    return labels, np.stack([1 - reported, reported], axis=1)


@pytest.mark.parametrize(("sharpness", "expected_temperature"), [(0.5, 0.5), (2.0, 2.0)])
def test_temperature_scaling_lowers_ece_on_unseen_generated_data(
    sharpness: float, expected_temperature: float
) -> None:
    fit_labels, fit_probabilities = generated(2000, seed=1, sharpness=sharpness)
    temperature = fit_temperature(fit_labels, fit_probabilities)
    assert temperature == pytest.approx(expected_temperature, rel=0.15)
    labels, probabilities = generated(2000, seed=2, sharpness=sharpness)  # not fitted on
    before = expected_calibration_error(labels, probabilities)
    after = expected_calibration_error(labels, apply_temperature(probabilities, temperature))
    assert before > 0.05 and after < before / 2


def test_temperature_keeps_the_predicted_class_and_one_is_identity() -> None:
    probabilities = np.array([[0.7, 0.3], [0.45, 0.55], [0.5, 0.5]])
    sharpened = apply_temperature(probabilities, 0.5)
    assert sharpened.argmax(1).tolist() == probabilities.argmax(1).tolist()
    assert sharpened[0, 0] == pytest.approx(0.49 / (0.49 + 0.09))  # p^2 renormalised
    assert np.allclose(sharpened.sum(1), 1.0)
    assert np.array_equal(apply_temperature(probabilities, 1.0), probabilities)


# --- decision.json -----------------------------------------------------------------------------
