"""JSON parsing with bounds on size, nesting depth and integer length, for every JSON we read.

The standard library recurses once per nesting level (a line of 100 000 `[` raises
RecursionError, which callers catching ValueError never see) and `int()` refuses integers of
more than 4 300 digits with a bare ValueError. `loads` checks the size and the nesting depth
before parsing, without recursion, and reads integers as orjson does (exact within 64 bits, a
float beyond, refused beyond a double), so every bad document ends as one `JsonError` (a
ValueError) and the answer never depends on whether orjson is installed. `check_depth` bounds
an object that someone else parsed (a Lambda event). Standard library only: this module ships
in the Lambda layer and in the drift job's zip; orjson is used when installed (~3x faster).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

try:
    import orjson

    _fast_loads: Any = orjson.loads
except ImportError:  # pragma: no cover - the workflow Lambdas run without orjson
    _fast_loads = None

# Far beyond any document of this project (the deepest, a capture record, nests 4 levels) and
# far below Python's recursion limit (1 000), so nothing that walks a parsed value recurses out.
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# orjson's own limit. A caller whose code never recurses into the value (nor repr()s it) may pass
# it as max_depth: orjson's result then needs no walk (~2 us per capture line on the drift job's
# hot path); the standard library's path still refuses anything deeper before parsing.
FAST_PARSER_MAX_DEPTH = 1024
# Integers as orjson reads them, on both paths: exact within 64 bits (signed or unsigned), a
# float beyond, refused when even a float cannot hold them (so float() of a parsed number never
# raises OverflowError further on, and int()'s 4,300-digit ValueError cannot happen).
_INT_LOW, _INT_HIGH = -(2**63), 2**64
MAX_INT_DIGITS = 309

# A JSON string (possessive: linear time even on an unterminated one, which runs to the end).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+\\?(?:"|\Z)', re.DOTALL)
_STRING_BYTES = re.compile(rb'"(?:[^"\\]|\\.)*+\\?(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NOT_BRACKET_BYTES = re.compile(rb"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1, 91: 1, 123: 1, 93: -1, 125: -1}


class JsonError(ValueError):
    """Not JSON, not UTF-8, or beyond a bound (size, depth, integer length)."""


def _int(text: str) -> int | float:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonError(f"integer of {len(text)} characters is beyond a double's range")
    value = int(text)
    if _INT_LOW <= value < _INT_HIGH:
        return value
    try:
        return float(value)
    except OverflowError:
        raise JsonError(f"integer of {len(text)} characters is beyond a double's range") from None


def text_depth(document: str | bytes) -> int:
    """Deepest nesting of arrays/objects outside strings, computed without recursion."""
    if isinstance(document, str):
        skeleton: str | bytes = _NOT_BRACKET.sub("", _STRING.sub("", document))
    else:
        skeleton = _NOT_BRACKET_BYTES.sub(b"", _STRING_BYTES.sub(b"", document))
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)


def loads(
    document: str | bytes | bytearray,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    what: str = "JSON document",
) -> Any:
    """json.loads within bounds; every failure is a JsonError naming `what`."""
    if isinstance(document, bytearray):
        document = bytes(document)
    if len(document) > max_bytes:
        raise JsonError(f"{what} of {len(document):,} bytes exceeds the {max_bytes:,}-byte limit")
    if _fast_loads is not None:
        try:  # orjson never recurses in Python and stops at 1,024 levels; the tighter bound
            value = _fast_loads(document)  # is checked on its result (cheaper than a scan)
        except ValueError:
            pass  # the standard library decides (NaN literals, big integers, lone surrogates)
        else:
            if max_depth < FAST_PARSER_MAX_DEPTH and not _within_depth(value, max_depth):
                raise JsonError(f"{what} nests deeper than {max_depth} levels")
            return value
    # json recurses per level: a document with fewer brackets than the limit cannot nest
    # deeper (cheap); otherwise the string-aware scan decides before parsing
    if isinstance(document, str):
        brackets = document.count("[") + document.count("{")
    else:
        brackets = document.count(b"[") + document.count(b"{")
    if brackets > max_depth and text_depth(document) > max_depth:
        raise JsonError(f"{what} nests deeper than {max_depth} levels")
    try:
        return json.loads(document, parse_int=_int)
    except JsonError as error:
        raise JsonError(f"{what}: {error}") from None
    except RecursionError:  # only with max_depth near the interpreter's recursion limit
        raise JsonError(f"{what} nests deeper than {max_depth} levels") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise JsonError(f"{what} is not valid JSON: {str(error)[:200]}") from None


def _within_depth(value: object, max_depth: int) -> bool:
    """Level by level (no recursion): does `value` nest at most `max_depth` lists/dicts?"""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return False
        below = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return True


def check_depth(value: object, max_depth: int = DEFAULT_MAX_DEPTH, what: str = "value") -> None:
    """Raise JsonError when a parsed value nests lists/dicts deeper than `max_depth`."""
    if not _within_depth(value, max_depth):
        raise JsonError(f"{what} nests deeper than {max_depth} levels")
