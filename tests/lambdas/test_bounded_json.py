"""The bounded JSON parser: hostile documents are one JsonError, good ones parse as json does."""

from __future__ import annotations

import json

import pytest

from lambdas.shared import bounded_json
from lambdas.shared.bounded_json import JsonError, check_depth, loads, text_depth

HOSTILE = {
    "deep list": b"[" * 100_000 + b"]" * 100_000,
    "deep object": '{"a":' * 5_000 + "1" + "}" * 5_000,
    "5000-digit integer": "[1" + "0" * 5_000 + "]",
    "310-digit integer": "-1" + "0" * 309,
    "not utf-8": b"\xff\xfe\xfd[1]",
    "truncated": '{"a": [1, 2',
    "unterminated string of escapes": '"' + '\\"' * 100_000,
}


@pytest.fixture(params=[True, False], ids=["orjson", "stdlib"])
def parser_path(request, monkeypatch):
    """Both code paths: orjson first (drift job) and the standard library alone (Lambdas)."""
    if not request.param:
        monkeypatch.setattr(bounded_json, "_fast_loads", None)
    elif bounded_json._fast_loads is None:  # pragma: no cover
        pytest.skip("orjson is not installed")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_documents_are_one_typed_error(name: str, parser_path) -> None:
    with pytest.raises(JsonError) as caught:
        loads(HOSTILE[name], what="capture line")
    assert "capture line" in str(caught.value)


@pytest.mark.parametrize(
    "document",
    ['{"a": [1, 2.5, "[[[{{{"], "b": null}', "[NaN, 1e400]", '"\\ud800"', "[" * 64 + "]" * 64],
)
def test_good_documents_parse_as_the_standard_library_does(document: str, parser_path) -> None:
    assert repr(loads(document)) == repr(json.loads(document))


def test_size_and_depth_limits_are_exact() -> None:
    assert loads("[" * 64 + "]" * 64, max_depth=64) is not None
    with pytest.raises(JsonError, match="deeper than 64"):
        loads("[" * 65 + "]" * 65, max_depth=64)
    with pytest.raises(JsonError, match="exceeds the 10-byte limit"):
        loads("[1, 2, 3, 4]", max_bytes=10)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (str(2**64 - 1), 2**64 - 1),
        (str(-(2**63)), -(2**63)),
        (str(2**64), 2.0**64),
        ("1" + "0" * 308, 1e308),
        ("[1" + "0" * 30 + "]", [1e30]),
    ],
)
def test_integers_read_the_same_on_both_paths(document: str, expected, parser_path) -> None:
    value = loads(document)
    assert value == expected and type(value) is type(expected)


def test_text_depth_ignores_brackets_inside_strings() -> None:
    assert text_depth('{"a": "[[[[\\"]]]]", "b": [[1]]}') == 3
    assert text_depth(b"[[]][[[]]]") == 3


def test_check_depth_bounds_parsed_values_without_recursion() -> None:
    value: list = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(JsonError, match="deeper than 64"):
        check_depth(value, 64, "event")
    check_depth({"a": [{"b": [1]}]}, 4)
