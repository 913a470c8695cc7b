"""The reviewer tool against the real workflow in the emulator: the classify machine starts the
`review` machine, whose message the CLI lists, shows and answers; the review execution routes
by the reviewer's label, and the label record carries the reviewer.
"""

from __future__ import annotations

import json
import time

import pytest

from review.cli import main
from tests import images

pytestmark = pytest.mark.integration


def pending(wf, capsys, count: int = 1, timeout_s: float = 60) -> list[dict]:
    """`list --json` until `count` reviews are pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert cli(wf, "list", "--json") == 0
        listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        if len(listed) >= count or time.monotonic() > deadline:
            return listed


def cli(wf, *argv: str) -> int:
    target = ["--queue-url", wf.queue_url, "--state-machine-arn", wf.review_state_machine_arn]
    return main([*target, *argv])


def test_a_reviewer_answers_through_the_cli_and_the_driver_is_routed(workflow, capsys, tmp_path):
    image = images.seeded("cli-reviewed")
    execution = workflow.submit("day/unsure.png", image, [0.62, 0.38])

    [review] = pending(workflow, capsys)
    assert review["reason"] == "low_confidence"
    assert review["image"] == f"s3://{workflow.bucket}/day/unsure.png"
    assert review["classification"]["label"] == "bicycle"
    assert "task_token" not in review

    out = tmp_path / "unsure.png"
    assert cli(workflow, "show", review["id"], "--out", str(out)) == 0
    assert out.read_bytes() == image
    capsys.readouterr()

    assert cli(workflow, "answer", review["id"], "motorcycle", "--reviewer", "rev-9") == 0
    assert capsys.readouterr().out == f"answered {review['id']}: motorcycle (reviewer rev-9)\n"
    output = workflow.review_outcome(workflow.finish(execution))
    assert output["outcome"] == "RoutedByReviewer", output
    assert output["decision"]["label"] == "motorcycle"
    assert output["decision"]["reviewer"] == "rev-9"
    assert workflow.reviewed_by() == ("reviewed", "motorcycle", "rev-9")
    assert pending(workflow, capsys, count=0) == []

    assert cli(workflow, "answer", review["id"], "bicycle", "--reviewer", "rev-2") == 2
    assert capsys.readouterr().err == (
        f"error: review {review['id']} was already answered: motorcycle by rev-9\n"
    )


def test_not_a_vehicle_rejects_and_an_expired_review_is_refused(deploy_workflow, capsys):
    wf = deploy_workflow(review_timeout_seconds=20)
    wf.put_image("day/a.png", images.seeded("cli-a"))
    wf.put_image("day/b.png", images.seeded("cli-b"))
    wf.answer([0.55, 0.45], [0.4, 0.6])
    first = wf.start({"s3_bucket": wf.bucket, "s3_key": "day/a.png"})
    second = wf.start({"s3_bucket": wf.bucket, "s3_key": "day/b.png"})
    reviews = {r["s3_key"]: r["id"] for r in pending(wf, capsys, count=2)}

    assert cli(wf, "answer", reviews["day/a.png"], "not_a_vehicle", "--reviewer", "r") == 0
    assert wf.review_outcome(wf.finish(first))["outcome"] == "Rejected"

    assert wf.review_outcome(wf.finish(second))["outcome"] == "ReviewTimedOut"
    capsys.readouterr()
    assert cli(wf, "answer", reviews["day/b.png"], "bicycle", "--reviewer", "r") == 2
    assert capsys.readouterr().err == (
        f"error: review {reviews['day/b.png']} can no longer be answered: its execution "
        "finished with outcome ReviewTimedOut\n"
    )
