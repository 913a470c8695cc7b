"""Hypothesis strategies for the hostile-input families of issue 19, shared by the property
tests of every entry point: JSON documents (deep, huge numbers, bad bytes, NaN, truncated),
capture lines built on real PNG records, times at datetime's edges, and command-line tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def hostile_json(draw: st.DrawFn) -> str | bytes:
    """One JSON-ish document of a hostile family (or a plain valid one)."""
    family = draw(
        st.sampled_from(
            [
                "valid",
                "deep",
                "deep-object",
                "big-int",
                "bad-bytes",
                "truncated",
                "constants",
                "strings",
            ]
        )
    )
    if family == "valid":
        return json.dumps(draw(json_values))
    if family == "deep":
        depth = draw(st.integers(1, 20_000))
        inner = draw(st.sampled_from(["", "1", '"x"', "[]"]))
        return "[" * depth + inner + "]" * draw(st.sampled_from([depth, max(depth - 1, 0)]))
    if family == "deep-object":
        depth = draw(st.integers(1, 5_000))
        return '{"a":' * depth + "0" + "}" * depth
    if family == "big-int":
        digits = draw(st.integers(1, 6_000))
        return f"[{draw(st.sampled_from(['', '-']))}1{'0' * digits}, 0]"
    if family == "bad-bytes":
        return draw(st.binary(max_size=64)) + json.dumps(draw(json_values)).encode()
    if family == "truncated":
        text = json.dumps(draw(json_values))
        return text[: draw(st.integers(0, len(text)))]
    if family == "constants":
        return f"[{draw(st.sampled_from(['NaN', 'Infinity', '-Infinity', '1e400', '-0']))}, 0.5]"
    return json.dumps(draw(st.text(alphabet='[]{}"\\ab', max_size=40)))


edge_times = st.sampled_from(
    [
        "2026-01-01T10:30:00Z",
        "2026-01-01T10:30:00+01:00",
        "2026-01-01T10:00:00 UTC",
        "9999-12-31T23:59:59",
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+14:00",
        "",
        "yesterday",
    ]
) | st.text(max_size=25)


def capture_record(image: bytes, output: Any, moment: Any) -> dict[str, Any]:
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": "image/png",
                "mode": "INPUT",
                "data": base64.b64encode(image).decode(),
                "encoding": "BASE64",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": output,
                "encoding": "JSON",
            },
        },
        "eventMetadata": {"eventId": "0", "inferenceTime": moment},
        "eventVersion": "0",
    }


@st.composite
def capture_lines(draw: st.DrawFn, image: bytes) -> bytes:
    """A capture line: a good record, one with a hostile output or time, or a hostile line."""
    family = draw(st.sampled_from(["good", "output", "time", "line", "blank"]))
    if family == "line":
        document = draw(hostile_json())
        return document if isinstance(document, bytes) else document.encode()
    if family == "blank":
        return b"   "
    output: Any = "[0.25, 0.75]"
    moment: Any = "2026-01-01T10:30:00Z"
    if family == "output":
        drawn = draw(hostile_json())
        output = drawn.decode("latin-1") if isinstance(drawn, bytes) else drawn
    if family == "time":
        moment = draw(edge_times | json_values)
    return json.dumps(capture_record(image, output, moment)).encode()


def cli_tokens(options: list[str], values: st.SearchStrategy[str] | None = None) -> Any:
    """argv fragments: known options with hostile values, unknown flags, stray words."""
    values = values or (
        st.sampled_from(["0", "-1", "1", "0.5", "1.5", "nan", "inf", "1e999", "", "x", "9" * 40])
        | edge_times
    )
    pair = st.tuples(st.sampled_from([*options, "--bogus", "--epocs", "-x", "stray"]), values)
    return st.lists(pair, max_size=4).map(lambda pairs: [token for p in pairs for token in p])
