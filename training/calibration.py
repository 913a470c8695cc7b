"""Calibration by stacking: the served probabilities from the member groups' answers.

Pure numpy, generic over the member groups a model has (`scratch`, `pretrained`, or others):
each group's probabilities, averaged over its networks and the mirrored view, go in; the
served answer is softmax(sum over groups of w_g * log p_g + bias) (serving:
`serving.inference.Calibration`). Two steps, so that every held-out answer counts:

1. **Each group's temperature** T_g (`training.decision.fit_temperature`, with its prior),
   fitted on all of that group's held-out answers: the validation set, plus the out-of-fold
   answers on the training part for groups that have them (the pretrained member's K-fold
   head refits: ~8x the points of an 80-image validation set).
2. **The combination**, fitted on the validation set, where every group answered: a binary
   logistic regression on the groups' calibrated log-odds (log-odds / T_g), whose normal prior
   (sd `COMBINATION_PRIOR_SD`) is centred on the groups with extra answers, averaged: weight
   1 / G' on each of those G' groups, 0 on groups calibrated on validation alone (with none,
   1 / G on every group). A group whose temperature rests on ~100 images should weigh in only
   as far as those images show, not by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.decision import DecisionError, fit_temperature

# How far validation may move each weight on the calibrated log-odds, and the bias.
COMBINATION_PRIOR_SD = 0.5
BIAS_PRIOR_SD = 1.0


@dataclass(frozen=True)
class HeldOut:
    """Held-out answers of some member groups: labels (n,) and each group's (n, 2)."""

    labels: np.ndarray
    groups: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Stacking:
    weights: dict[str, float]
    bias: float  # log-odds of class 1 added to the weighted sum
    temperatures: dict[str, float]  # step 1, per group
    points: dict[str, int]  # held-out answers each group's temperature was fitted on

    def as_checkpoint_entry(self) -> dict[str, Any]:
        """`checkpoint["calibration"]` (and decision.json's): what serving reads."""
        return {
            "method": "stacking",
            "weights": dict(self.weights),
            "bias": [-self.bias / 2, self.bias / 2],
            "temperatures": dict(self.temperatures),
            "points": dict(self.points),
        }


def _log_odds(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    if clipped.ndim != 2 or clipped.shape[1] != 2:
        raise DecisionError(f"stacking needs two-class probabilities, got {clipped.shape}")
    return np.log(clipped[:, 1]) - np.log(clipped[:, 0])


def apply_stacking(groups: dict[str, np.ndarray], stacking: Stacking) -> np.ndarray:
    """The served probabilities (float64; serving computes the same in torch)."""
    z = stacking.bias + sum(w * _log_odds(groups[g]) for g, w in stacking.weights.items())
    motorcycle = 1.0 / (1.0 + np.exp(-np.asarray(z)))
    return np.stack([1.0 - motorcycle, motorcycle], axis=1)


def fit_stacking(validation: HeldOut, extra: tuple[HeldOut, ...] = ()) -> Stacking:
    """Step 1 on validation + `extra` (per group, where it answered), step 2 on validation."""
    names = sorted(validation.groups)
    if not names:
        raise DecisionError("no member group answered the validation set")
    temperatures, points = {}, {}
    for name in names:
        labels = [validation.labels, *(e.labels for e in extra if name in e.groups)]
        answers = [validation.groups[name], *(e.groups[name] for e in extra if name in e.groups)]
        temperatures[name] = fit_temperature(np.concatenate(labels), np.concatenate(answers))
        points[name] = sum(len(part) for part in labels)
    trusted = [points[n] > len(validation.labels) for n in names]
    if not any(trusted):
        trusted = [True] * len(names)
    centre = np.array(trusted, dtype=np.float64) / sum(trusted)
    calibrated = np.stack(
        [_log_odds(validation.groups[n]) / temperatures[n] for n in names], axis=1
    )
    spread = np.full(len(names), COMBINATION_PRIOR_SD)
    weights, bias = _map_logistic(calibrated, np.asarray(validation.labels), centre, spread)
    return Stacking(
        weights={n: float(w / temperatures[n]) for n, w in zip(names, weights, strict=True)},
        bias=float(bias),
        temperatures=temperatures,
        points=points,
    )


def _map_logistic(
    features: np.ndarray, labels: np.ndarray, centre: np.ndarray, spread: np.ndarray
) -> tuple[np.ndarray, float]:
    """MAP binary logistic regression: weights ~ N(centre, spread^2), bias ~ N(0, BIAS_PRIOR_SD^2).

    Newton's method with step halving (the objective is strictly convex), to a gradient of 1e-9.
    """
    x = np.hstack([features, np.ones((len(features), 1))])
    mean = np.append(centre, 0.0)
    precision = 1.0 / np.append(spread, BIAS_PRIOR_SD) ** 2
    sign = np.where(labels == 1, 1.0, -1.0)

    def objective(theta: np.ndarray) -> float:
        return float(np.logaddexp(0.0, -sign * (x @ theta)).sum()) + float(
            0.5 * (precision * (theta - mean) ** 2).sum()
        )

    theta = mean.copy()
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        gradient = x.T @ (p - (labels == 1)) + precision * (theta - mean)
        if np.abs(gradient).max() < 1e-9:
            break
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(precision)
        step = np.linalg.solve(hessian, gradient)
        current, scale = objective(theta), 1.0
        while objective(theta - scale * step) > current and scale > 1e-8:
            scale /= 2
        theta = theta - scale * step
    if not all(math.isfinite(v) for v in theta):
        raise DecisionError("the stacking fit did not converge")
    return theta[:-1], float(theta[-1])
