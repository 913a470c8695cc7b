"""What every generated input at a Lambda's entry must end in: a typed error or a valid result.

Shared by the fuzz tests (test_fuzz.py: many random events) and the hostile-family properties
(test_hostile_properties.py: deep nesting, huge numbers, JSON junk).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TypeVar

from lambdas.classify_image import core as classify_core
from lambdas.filter_inferences import handler as filter_handler
from lambdas.shared.errors import WorkflowError
from tests.lambdas.context import Context

T = TypeVar("T")


def accepted(call: Callable[..., T], *args: object) -> T | None:
    """call(*args), or None where it refuses with a WorkflowError: the only refusal allowed."""
    try:
        return call(*args)
    except WorkflowError:
        return None


def check_endpoint_answer(body: bytes) -> None:
    """An endpoint answer is a ModelError (a WorkflowError) or two probabilities summing to 1."""
    probabilities = accepted(classify_core.parse_prediction, body, 0.01)
    if probabilities is None:
        return
    p_bicycle, p_motorcycle = probabilities
    assert 0 <= p_bicycle <= 1 and 0 <= p_motorcycle <= 1
    assert math.isclose(p_bicycle + p_motorcycle, 1, abs_tol=0.01)


def check_filter_handler(event: object) -> None:
    """The filter handler raises a WorkflowError or returns a consistent, strict-JSON decision."""
    result = accepted(filter_handler.handler, event, Context())
    if result is None:
        return
    decision = result["decision"]
    assert decision["action"] in {"route", "review"}
    assert (decision["action"] == "route") == (decision["confidence"] >= decision["threshold"])
    assert math.isfinite(decision["confidence"]) and 0 < decision["threshold"] < 1
    json.dumps(result, allow_nan=False)
