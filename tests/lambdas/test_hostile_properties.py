"""Properties over the hostile families (tests/hostile.py) at the Lambdas' entry points: the
bounded parser agrees with json on both code paths, and every handler input ends in a typed
WorkflowError or a valid result."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from lambdas.classify_image import core as classify_core
from lambdas.serialize_image import core as serialize_core
from lambdas.shared import bounded_json
from lambdas.shared.errors import WorkflowError
from tests.hostile import PROPERTY, hostile_json, json_values
from tests.lambdas.properties import check_endpoint_answer, check_filter_handler


def _outcome(document: str | bytes) -> tuple[str, object]:
    try:
        return "value", bounded_json.loads(document, max_depth=64)
    except bounded_json.JsonError:
        return "error", None


def _same(a: object, b: object) -> bool:
    """Equal, with NaN equal to itself and integers beyond 64 bits read as floats."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, int) and not isinstance(b, bool):
        return a == float(b)
    return type(a) is type(b) and a == b


def _json_or_none(document: str | bytes) -> object:
    try:
        return json.loads(document)
    except (ValueError, RecursionError):
        return ValueError


def _beyond_bounds(value: object) -> bool:
    """What the bounds refuse and json accepts: nesting over 64, integers beyond a double."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**1024:
            return True
        if isinstance(item, list | dict):
            if depth > 64:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


@PROPERTY
@given(hostile_json())
def test_bounded_loads_is_json_or_one_typed_error_on_both_paths(document):
    fast = _outcome(document)
    saved = bounded_json._fast_loads
    bounded_json._fast_loads = None
    try:
        slow = _outcome(document)
    finally:
        bounded_json._fast_loads = saved
    # the answer never depends on whether orjson is installed
    assert fast[0] == slow[0] and _same(fast[1], slow[1])
    expected = _json_or_none(document)
    if fast[0] == "value":  # within bounds: what json reads (big integers as floats)
        assert _same(fast[1], expected)
    else:  # refused: json refuses too, or it is beyond a bound
        assert expected is ValueError or _beyond_bounds(expected)


def _nest(value: object, depth: int) -> object:
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def hostile_events(draw, base: dict) -> object:
    """A valid-looking event with a hostile part: deep nesting, huge or odd numbers, JSON junk."""
    event = json.loads(json.dumps(base))
    family = draw(st.sampled_from(["deep", "junk", "number", "whole"]))
    if family == "whole":
        return draw(json_values)
    if family == "deep":
        event["extra"] = _nest({}, draw(st.integers(1, 3_000)))
    elif family == "junk":
        event[draw(st.sampled_from(list(event)))] = draw(json_values)
    else:
        number = draw(
            st.sampled_from([10**5000, -(10**400), float("nan"), float("inf"), 2**64, True])
        )
        event["extra_number"] = number
        event.setdefault("threshold", number) if draw(st.booleans()) else None
    return event


CLASSIFY = {"image": {"content_type": "image/png", "s3_bucket": "uploads", "s3_key": "a.png"}}
FILTER = {
    "classification": {"label": "bicycle", "probabilities": {"bicycle": 0.97, "motorcycle": 0.03}}
}
SERIALIZE = {"s3_bucket": "uploads", "s3_key": "a.png"}


@PROPERTY
@given(hostile_events(CLASSIFY), hostile_events(SERIALIZE))
def test_classify_and_serialize_events_are_typed_errors_or_valid(classify_event, serialize_event):
    try:
        document = classify_core.parse_event(classify_event)
        assert document.content_type == "image/png" and document.s3_key
    except WorkflowError:
        pass
    try:
        request = serialize_core.parse_event(serialize_event)
        assert request.s3_bucket and request.s3_key
    except WorkflowError:
        pass


@PROPERTY
@given(hostile_events(FILTER))
def test_filter_handler_is_typed_error_or_a_consistent_decision(event):
    check_filter_handler(event)


@PROPERTY
@given(hostile_json())
def test_endpoint_answers_are_model_errors_or_checked_probabilities(document):
    check_endpoint_answer(document if isinstance(document, bytes) else document.encode())
