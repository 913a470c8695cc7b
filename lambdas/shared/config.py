"""Typed readers for settings in the function's environment.

Each handler turns its environment into a frozen dataclass once per container (cached), so a bad
setting fails as a clear `ConfigurationError` naming the variable, not as a KeyError mid-call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lambdas.shared import bounded_json
from lambdas.shared.errors import ConfigurationError


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigurationError(f"environment variable {name} is required")
    return default


def env_int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigurationError(f"{name}={value} is below its minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name}={value} is above its maximum {maximum}")
    return value


def env_float(
    env: Mapping[str, str], name: str, default: float | None, low: float, high: float
) -> float:
    """A float in the open interval (low, high); required when `default` is None."""
    raw = env.get(name, "").strip()
    if not raw:
        if default is None:
            raise ConfigurationError(f"environment variable {name} is required")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if not (math.isfinite(value) and low < value < high):
        raise ConfigurationError(f"{name}={value} must lie strictly between {low} and {high}")
    return value


def env_json(env: Mapping[str, str], name: str, default: object) -> object:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return bounded_json.loads(raw, max_bytes=64 * 1024, what=name)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
