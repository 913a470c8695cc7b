"""Review messages are chosen by whoever may send to the queue: hostile bodies are one
MalformedReview, never a RecursionError or a crash of the reviewer's tool."""

from __future__ import annotations

import pytest

from review.core import MalformedReview, Review


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"task_token": "t", "n": 1' + "0" * 5000 + "}",
        '{"task_token": "t", "x": ' + "[" * 1000 + "]" * 1000 + "}",
        "x" * 300_000,
        "\ud800",
    ],
)
def test_hostile_message_bodies_are_malformed_reviews(body: str) -> None:
    with pytest.raises(MalformedReview):
        Review.from_message({"MessageId": "m-1", "Body": body})
