"""The automatic path as an Express workflow, executed in the emulator: it runs at least once, so
a repeated request must reuse its review and its label record (keyed by the inference id); the
synchronous call answers with the bay; and the states each outcome enters (what Standard bills).
"""

from __future__ import annotations

import json

import pytest

from devkit.stepfunctions_local import review_execution_arn, states_entered
from tests import images

pytestmark = pytest.mark.integration

AUTOMATIC = ["Prepare", "SerializeImage", "ClassifyImage", "FilterInferences", "RouteOrReview"]


def test_a_repeated_request_reuses_its_review_execution_and_message(workflow):
    workflow.put_image("day/unsure.png", images.seeded("repeated-unsure"))
    workflow.answer([0.6, 0.4])
    request = {"s3_bucket": workflow.bucket, "s3_key": "day/unsure.png"}
    first, _ = workflow.run(request)
    second, _ = workflow.run(request)  # the same upload again (a duplicate event, a re-run)
    assert (first["outcome"], second["outcome"]) == ("SentToReview", "SentToReview")
    assert first["review"]["already_started"] is False
    # Same inference id, same review execution name: the second start was refused
    # (ExecutionAlreadyExists) and counts as sent.
    assert second["review"]["already_started"] is True
    assert second["classification"]["inference_id"] == first["classification"]["inference_id"]
    assert second["review"]["execution_name"] == first["review"]["execution_name"]
    reviews = workflow.sfn.list_executions(stateMachineArn=workflow.review_state_machine_arn)
    assert [e["executionArn"] for e in reviews["executions"]] == [review_execution_arn(first)]
    message = workflow.next_review()
    assert workflow.review_messages() == []  # one person asked once
    workflow.answer_review(message, "bicycle")
    assert workflow.review_outcome(first)["outcome"] == "RoutedByReviewer"
    third, _ = workflow.run(request)  # after the review finished: still that review
    assert (third["outcome"], third["review"]["already_started"]) == ("SentToReview", True)
    assert len(workflow.label_records()) == 1


def test_a_repeated_routed_request_leaves_one_label_record(workflow):
    workflow.put_image("day/bike.png", images.seeded("repeated-routed"))
    workflow.answer([0.97, 0.03])
    request = {"s3_bucket": workflow.bucket, "s3_key": "day/bike.png"}
    first, first_arn = workflow.run(request)
    second, _ = workflow.run(request)
    assert (first["outcome"], second["outcome"]) == ("Routed", "Routed")
    assert first["decision"] == second["decision"]
    assert first["label_record"] == second["label_record"]  # same key, written once
    [(key, record)] = workflow.label_records().items()
    assert key == f"labels/{first['classification']['inference_id']}.jsonl"
    assert record["execution_id"] == first_arn  # the second write was a no-op
    # A stricter threshold is another decision: its own inference id, its own review.
    strict, _ = workflow.run({**request, "threshold": 0.99})
    assert strict["outcome"] == "SentToReview"
    assert strict["classification"]["inference_id"] != first["classification"]["inference_id"]


def test_the_synchronous_call_answers_with_the_bay(workflow):
    workflow.put_image("day/moto.png", images.seeded("sync-moto"))
    workflow.answer([0.02, 0.98])
    answered = workflow.run_sync({"s3_bucket": workflow.bucket, "s3_key": "day/moto.png"})
    assert answered["status"] == "SUCCEEDED"
    output = json.loads(answered["output"])
    assert output["outcome"] == "Routed", output
    assert (output["decision"]["loading_bay"], output["decision"]["order_radius_km"]) == (
        "bay-12",
        20,
    )
    assert output["execution_id"] == answered["executionArn"]


def test_states_entered_per_outcome(workflow):
    """What each outcome costs in state transitions (Standard bills each state entered; the
    Express classify machine is billed per request and duration instead)."""
    workflow.put_image("day/bike.png", images.seeded("count-routed"))
    workflow.put_image("day/unsure.png", images.seeded("count-unsure"))
    workflow.put_image("day/note.png", b"not an image")
    workflow.answer([0.97, 0.03], [0.6, 0.4])
    routed, routed_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "day/bike.png"})
    sent, sent_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "day/unsure.png"})
    invalid, invalid_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "day/note.png"})
    workflow.answer_review(workflow.next_review(), "motorcycle")
    assert workflow.review_outcome(sent)["outcome"] == "RoutedByReviewer"
    sfn = workflow.sfn
    assert states_entered(sfn, routed_arn) == [*AUTOMATIC, "RecordRouted", "Routed"]
    assert states_entered(sfn, sent_arn) == [*AUTOMATIC, "Review", "SentToReview"]
    assert states_entered(sfn, invalid_arn) == ["Prepare", "SerializeImage", "InvalidImage"]
    # Two billed transitions per answered review: the wait, then one step that routes by the
    # answer, writes the label record and returns the outcome.
    assert states_entered(sfn, review_execution_arn(sent)) == ["AskReviewer", "ApplyAnswer"]
    assert invalid["outcome"] == "InvalidImage" and routed["outcome"] == "Routed"
