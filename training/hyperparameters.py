"""The recipe a run trains with: the defaults, then the hyperparameters SageMaker passes to the
script-mode entry point (SM_HPS, and `--name value` after the known flags), then the explicit
command-line values; a typo or a value of the wrong type is refused.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from training.trainer import Recipe


def sagemaker_hyperparameters() -> dict[str, Any]:
    """Hyperparameters SageMaker passes in SM_HPS (JSON), when running in its container."""
    raw = os.environ.get("SM_HPS")
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError):
        values = None
    if not isinstance(values, dict):
        raise ValueError("SM_HPS is not a JSON object of hyperparameters")
    return values


# Entries SageMaker itself adds to the hyperparameters (a tuning job's
# `_tuning_objective_metric`, framework containers' `sagemaker_program`, ...): not the recipe's.
_PLATFORM_PREFIXES = ("_", "sagemaker_")


def extra_hyperparameters(tokens: Sequence[str]) -> dict[str, str]:
    """`--name value` / `--name=value` pairs after the known flags (how SageMaker passes
    hyperparameters on the command line); ValueError for anything else."""
    values: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("--") or len(token) == 2:
            raise ValueError(f"unrecognized argument {token!r}")
        name, separator, value = token[2:].partition("=")
        if not separator:
            if index + 1 >= len(tokens):
                raise ValueError(f"hyperparameter --{name} has no value")
            index += 1
            value = tokens[index]
        values[name] = value
        index += 1
    return values


def _hyperparameter_value(name: str, current: object, value: object) -> object:
    """`value` (a string from SageMaker or the command line) as the recipe field's type."""
    text = str(value).strip()
    try:
        if isinstance(current, list):
            return [int(v) for v in text.strip("[]").split(",") if v.strip()]
        if isinstance(current, bool):
            if text.lower() not in {"1", "true", "yes", "0", "false", "no"}:
                raise ValueError
            return text.lower() in {"1", "true", "yes"}
        converted = type(current)(text)  # type: ignore[call-arg]
    except ValueError:
        kind = "a boolean" if isinstance(current, bool) else type(current).__name__
        raise ValueError(f"hyperparameter {name}={text[:100]!r} is not {kind}") from None
    if isinstance(converted, float) and not math.isfinite(converted):
        raise ValueError(f"hyperparameter {name}={text!r} is not a finite number")
    return converted


def recipe_from(args: argparse.Namespace, overrides: dict[str, Any]) -> Recipe:
    """Defaults, then SageMaker hyperparameters, then explicit command-line values."""
    recipe = Recipe()
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(
        name
        for name in overrides
        if name.replace("-", "_") not in known and not name.startswith(_PLATFORM_PREFIXES)
    )
    if unknown:  # a typo (`--epocs 3`) must not train with the default silently
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; "
            f"the recipe has {', '.join(sorted(known))}"
        )
    for name, value in overrides.items():
        key = name.replace("-", "_")
        if key in known:
            setattr(recipe, key, _hyperparameter_value(name, getattr(recipe, key), value))
    for key in ("epochs", "seed", "ensemble", "lr", "batch_size", "max_misroute_rate"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(recipe, key, value)
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.ensemble < 0:
        raise ValueError("epochs and batch_size must be positive, ensemble >= 0")
    if recipe.ensemble == 0 and not recipe.pretrained:
        raise ValueError("ensemble 0 is the pretrained member alone: it needs pretrained true")
    if not (recipe.lr > 0 and recipe.weight_decay >= 0 and 0 <= recipe.label_smoothing < 1):
        raise ValueError("need lr > 0, weight_decay >= 0 and 0 <= label_smoothing < 1")
    if not 0 < recipe.validation_fraction < 1 or min(recipe.workers, recipe.threads) < 0:
        raise ValueError("need 0 < validation_fraction < 1 and workers, threads >= 0")
    if not 0 < recipe.max_misroute_rate < 1 or not 0 < recipe.decision_confidence < 1:
        raise ValueError("max_misroute_rate and decision_confidence must lie in (0, 1)")
    if recipe.calibration not in {"stacking", "temperature"} or recipe.calibration_splits < 0:
        raise ValueError("calibration must be stacking or temperature, calibration_splits >= 0")
    if recipe.calibration_splits == 1 or (recipe.ensemble == 0 and recipe.calibration_splits < 2):
        raise ValueError(
            "calibration_splits must be at least 2 (0, validation only, needs ensemble > 0)"
        )
    if not 32 <= recipe.pretrained_resolution <= 512 or recipe.pretrained_inverse_l2 <= 0:
        raise ValueError("pretrained_resolution must be 32-512 and pretrained_inverse_l2 > 0")
    from serving.network import LITE_VARIANTS

    if recipe.pretrained and not set(recipe.backbones()) <= set(LITE_VARIANTS):
        raise ValueError(
            f"pretrained_backbones must be a comma-separated subset of {','.join(LITE_VARIANTS)}"
        )
    return recipe
