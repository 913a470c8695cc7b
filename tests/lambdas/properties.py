"""What every generated input at a Lambda's entry must end in: a typed error or a valid result.

Shared by the fuzz tests (test_fuzz.py: many random events) and the hostile-family properties
(test_hostile_properties.py: deep nesting, huge numbers, JSON junk).
"""

from __future__ import annotations

import json
import math

from lambdas.classify_image import core as classify_core
from lambdas.filter_inferences import handler as filter_handler
from lambdas.shared.errors import WorkflowError
from tests.lambdas.context import Context


def check_endpoint_answer(body: bytes) -> None:
    """An endpoint answer is a ModelError (a WorkflowError) or two probabilities summing to 1."""
    try:
        p_bicycle, p_motorcycle = classify_core.parse_prediction(body, 0.01)
    except WorkflowError:
        return
    assert 0 <= p_bicycle <= 1 and 0 <= p_motorcycle <= 1
    assert math.isclose(p_bicycle + p_motorcycle, 1, abs_tol=0.01)


def check_filter_handler(event: object) -> None:
    """The filter handler raises a WorkflowError or returns a consistent, strict-JSON decision."""
    try:
        result = filter_handler.handler(event, Context())
    except WorkflowError:
        return
    decision = result["decision"]
    assert decision["action"] in {"route", "review"}
    assert (decision["action"] == "route") == (decision["confidence"] >= decision["threshold"])
    assert math.isfinite(decision["confidence"]) and 0 < decision["threshold"] < 1
    json.dumps(result, allow_nan=False)
