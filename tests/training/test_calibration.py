"""Stacking calibration (training.calibration) on generated member answers with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import (
    COMBINATION_PRIOR_SD,
    HeldOut,
    Stacking,
    apply_stacking,
    fit_stacking,
)
from training.decision import DecisionError, fit_temperature
from training.evaluate import expected_calibration_error


def _members(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Two member groups answering the same images: `sharp` is right more often but
    under-confident (its log-odds shrunk 4x); `noisy` is weaker and over-confident."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    truth = np.where(labels == 1, 1.0, -1.0) * 2.5 + rng.normal(0, 1.5, n)

    def as_probabilities(log_odds: np.ndarray) -> np.ndarray:
        motorcycle = 1 / (1 + np.exp(-log_odds))
        return np.stack([1 - motorcycle, motorcycle], axis=1)

    return labels, {
        "sharp": as_probabilities(truth / 4),
        "noisy": as_probabilities(2.5 * (truth + rng.normal(0, 3.0, n))),
    }


def _log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1)).mean())


def test_stacking_lowers_calibration_error_on_unseen_answers() -> None:
    labels, groups = _members(400, seed=1)
    stacking = fit_stacking(HeldOut(labels, groups))
    test_labels, test_groups = _members(4000, seed=2)
    average = np.mean(list(test_groups.values()), axis=0)
    served = apply_stacking(test_groups, stacking)
    assert expected_calibration_error(test_labels, served) < 0.03
    assert expected_calibration_error(test_labels, average) > 0.06
    assert _log_loss(test_labels, served) < _log_loss(test_labels, average)
    # The better member weighs more than the noisy one once their scales are undone.
    assert stacking.weights["sharp"] * 0.25 > stacking.weights["noisy"] * 2.5


def test_each_group_temperature_uses_its_extra_held_out_answers() -> None:
    labels, groups = _members(60, seed=3)
    extra_labels, extra_groups = _members(300, seed=4)
    extra = HeldOut(extra_labels, {"sharp": extra_groups["sharp"]})  # only one group has more
    stacking = fit_stacking(HeldOut(labels, groups), (extra,))
    assert stacking.points == {"noisy": 60, "sharp": 360}
    expected = fit_temperature(
        np.concatenate([labels, extra_labels]),
        np.concatenate([groups["sharp"], extra_groups["sharp"]]),
    )
    assert stacking.temperatures["sharp"] == pytest.approx(expected)
    assert stacking.temperatures["noisy"] == pytest.approx(fit_temperature(labels, groups["noisy"]))


def test_a_tiny_validation_set_moves_the_weights_only_as_far_as_the_prior_allows() -> None:
    labels, groups = _members(300, seed=5)
    few = HeldOut(labels[:6], {name: g[:6] for name, g in groups.items()})
    rest = HeldOut(labels[6:], {name: g[6:] for name, g in groups.items()})
    stacking = fit_stacking(few, (rest,))
    for name, weight in stacking.weights.items():  # both have extra answers: centre 1/2
        on_calibrated_log_odds = weight * stacking.temperatures[name]
        assert abs(on_calibrated_log_odds - 0.5) < 3 * COMBINATION_PRIOR_SD
    assert np.isfinite(apply_stacking(groups, stacking)).all()


def test_groups_calibrated_on_validation_alone_start_from_no_weight() -> None:
    """With 3 validation images, the group that also has 300 out-of-fold answers carries the
    answer; the validation-only group stays near weight 0."""
    labels, groups = _members(303, seed=6)
    few = HeldOut(labels[:3], {name: g[:3] for name, g in groups.items()})
    extra = HeldOut(labels[3:], {"sharp": groups["sharp"][3:]})
    stacking = fit_stacking(few, (extra,))
    assert stacking.weights["sharp"] * stacking.temperatures["sharp"] == pytest.approx(1, abs=0.5)
    assert abs(stacking.weights["noisy"] * stacking.temperatures["noisy"]) < 0.5


def test_the_checkpoint_entry_is_what_serving_reads() -> None:
    stacking = Stacking({"scratch": 0.4, "pretrained": 0.7}, 0.3, {"scratch": 1.2}, {"scratch": 5})
    entry = stacking.as_checkpoint_entry()
    assert entry["method"] == "stacking" and entry["weights"] == {"scratch": 0.4, "pretrained": 0.7}
    assert entry["bias"] == [-0.15, 0.15]  # softmax of these adds 0.3 to the log-odds


@pytest.mark.parametrize(
    ("groups", "message"),
    [({}, "no member group"), ({"scratch": np.full((3, 3), 1 / 3)}, "two-class")],
)
def test_unusable_answers_are_refused(groups: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(DecisionError, match=message):
        fit_stacking(HeldOut(np.array([0, 1, 0]), groups))
