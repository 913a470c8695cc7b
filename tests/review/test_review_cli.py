"""`python -m review` against the emulator: real executions wait on `.waitForTaskToken` review
messages; the CLI lists, shows and answers them, and each refused request exits 2 with one line.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from devkit.stepfunctions_local import wait_for_execution
from review import core
from review.cli import main
from tests import images

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/review-test"
BUCKET = "review-test-data"


def waiting_machine(queue_url: str, timeout_seconds: int) -> str:
    """The review contract in miniature: send the message with the token, wait, act on the label."""
    message = {
        "task_token.$": "$$.Task.Token",
        "execution_id.$": "$$.Execution.Id",
        "image.$": "States.Format('s3://{}/{}', $.s3_bucket, $.s3_key)",
        "s3_bucket.$": "$.s3_bucket",
        "s3_key.$": "$.s3_key",
        "reason.$": "$.reason",
        "classification.$": "$.classification",
        "decision": {"action": "review"},
        "inference_id.$": "$$.Execution.Name",
        "model_version": "m-test",
        "requested_at.$": "$$.State.EnteredTime",
    }
    return json.dumps(
        {
            "StartAt": "WaitForReviewer",
            "States": {
                "WaitForReviewer": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue_url, "MessageBody": message},
                    "TimeoutSeconds": timeout_seconds,
                    "ResultPath": "$.review",
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "ReviewTimedOut"}],
                    "Next": "Reviewed",
                },
                "Reviewed": {
                    "Type": "Pass",
                    "Parameters": {"outcome": "RoutedByReviewer", "review.$": "$.review"},
                    "End": True,
                },
                "ReviewTimedOut": {
                    "Type": "Pass",
                    "Parameters": {"outcome": "ReviewTimedOut"},
                    "End": True,
                },
            },
        }
    )


@dataclass
class Desk:
    name: str
    queue_url: str
    machine_arn: str
    sqs: Any
    sfn: Any
    s3: Any

    def start(
        self,
        name: str,
        key: str,
        reason: str = "low_confidence",
        label: str = "bicycle",
        confidence: float = 0.61,
        image: bytes | None = None,
    ) -> str:
        key = f"{self.name}/{key}"  # tests share the bucket
        if image is not None:
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=image)
        before = self.visible()  # counted first: the execution may send its message at once
        execution = self.sfn.start_execution(
            stateMachineArn=self.machine_arn,
            name=name,
            input=json.dumps(
                {
                    "s3_bucket": BUCKET,
                    "s3_key": key,
                    "reason": reason,
                    "classification": {"label": label, "confidence": confidence},
                }
            ),
        )["executionArn"]
        self.wait_for_messages(before + 1)
        return str(execution)

    def visible(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def wait_for_messages(self, count: int) -> None:
        deadline = time.monotonic() + 60  # a loaded 2-core machine
        while self.visible() < count:
            if time.monotonic() > deadline:
                listed = self.sfn.list_executions(stateMachineArn=self.machine_arn)["executions"]
                statuses = {e["name"]: e["status"] for e in listed}
                raise AssertionError(f"no review message after 60 s; executions: {statuses}")
            time.sleep(0.05)

    def cli(self, *argv: str) -> int:
        return main(["--queue-url", self.queue_url, "--state-machine-arn", self.machine_arn, *argv])


def make_desk(timeout_seconds: int = 300) -> Desk:
    """A queue, bucket and machine of its own (names unique per test: no account reset needed)."""
    sqs, sfn, s3 = boto3.client("sqs"), boto3.client("stepfunctions"), boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    name = f"review-test-{uuid.uuid4().hex[:12]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    machine_arn = sfn.create_state_machine(
        name=name,
        definition=waiting_machine(queue_url, timeout_seconds),
        roleArn=ROLE,
    )["stateMachineArn"]
    return Desk(name, queue_url, machine_arn, sqs, sfn, s3)


@pytest.fixture
def desk(emulator) -> Desk:
    return make_desk()


def test_list_show_and_answer_finish_the_waiting_execution(desk, capsys, tmp_path):
    image = images.solid(colour=(200, 30, 30))
    first = desk.start("r-bike", "incoming/a.png", image=image)
    desk.start(
        "r-audit",
        "incoming/b.png",
        reason="audit",
        label="motorcycle",
        confidence=0.99,
        image=images.solid(colour=(0, 0, 0)),
    )

    assert desk.cli("list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["ID", "REASON", "PREDICTION", "AGE", "IMAGE"]
    rows = {line.split()[0]: line.split() for line in listed[1:]}
    assert rows["r-bike"][1:4] == ["low_confidence", "bicycle", "0.61"]
    assert rows["r-bike"][-1] == f"s3://{BUCKET}/{desk.name}/incoming/a.png"
    assert rows["r-audit"][1:4] == ["audit", "motorcycle", "0.99"]
    assert desk.visible() == 2, "listing must put every message back at once"

    out = tmp_path / "a.png"
    assert desk.cli("show", "r-bike", "--out", str(out)) == 0
    assert out.read_bytes() == image
    shown = capsys.readouterr().out
    details = json.loads(shown[: shown.index("image written to")])
    assert details["id"] == "r-bike" and details["model_version"] == "m-test"
    assert "task_token" not in details, "the token is a bearer secret: never printed"
    assert desk.visible() == 2, "show must not take the review off the queue"

    assert desk.cli("answer", "r-bike", "motorcycle", "--reviewer", "alice") == 0
    assert "answered r-bike: motorcycle (reviewer alice)" in capsys.readouterr().out
    finished = wait_for_execution(desk.sfn, first)
    assert finished["status"] == "SUCCEEDED"
    assert json.loads(finished["output"]) == {
        "outcome": "RoutedByReviewer",
        "review": {"label": "motorcycle", "reviewer": "alice"},
    }
    assert desk.visible() == 1, "the answered message is deleted, the other stays"

    assert desk.cli("list", "--json") == 0
    remaining = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in remaining] == ["r-audit"]
    assert remaining[0]["reason"] == "audit" and remaining[0]["age_seconds"] >= 0


def test_the_default_reviewer_is_the_callers_aws_identity(desk, capsys):
    execution = desk.start("r-1", "incoming/a.png")
    assert desk.cli("answer", "r-1", "not_a_vehicle") == 0
    output = json.loads(wait_for_execution(desk.sfn, execution)["output"])
    caller = boto3.client("sts").get_caller_identity()["Arn"]
    assert output["review"] == {"label": "not_a_vehicle", "reviewer": caller}


def test_show_opens_the_image_with_the_desktop_viewer(desk, capsys, tmp_path, monkeypatch):
    # A stand-in `xdg-open` on PATH (a real program) records the file it was asked to open.
    opened = tmp_path / "opened"
    viewer = tmp_path / "bin" / "xdg-open"
    viewer.parent.mkdir()
    viewer.write_text(f'#!/bin/sh\ncp "$1" {opened}.part && mv {opened}.part {opened}\n')
    viewer.chmod(0o755)
    monkeypatch.setenv("PATH", f"{viewer.parent}:{os.environ['PATH']}")
    image = images.solid(colour=(10, 200, 10))
    desk.start("r-1", "incoming/a.png", image=image)

    assert desk.cli("show", "r-1") == 0
    deadline = time.monotonic() + 30
    while not opened.exists():
        assert time.monotonic() < deadline, "the viewer was never started"
        time.sleep(0.05)
    assert opened.read_bytes() == image
    assert "image: " in capsys.readouterr().out


def test_answering_twice_says_who_answered_first(desk, capsys):
    execution = desk.start("r-1", "incoming/a.png")
    assert desk.cli("answer", "r-1", "bicycle", "--reviewer", "alice") == 0
    wait_for_execution(desk.sfn, execution)
    capsys.readouterr()

    assert desk.cli("answer", "r-1", "motorcycle", "--reviewer", "bob") == 2
    assert capsys.readouterr().err == "error: review r-1 was already answered: bicycle by alice\n"
    with pytest.raises(core.AlreadyAnswered):
        desk_of(desk).answer("r-1", "motorcycle", "bob")


def test_a_review_answered_elsewhere_whose_message_stayed_is_refused_and_dropped(desk, capsys):
    # Another tool answered through Step Functions but never deleted the message.
    execution = desk.start("r-1", "incoming/a.png")
    message = desk.sqs.receive_message(QueueUrl=desk.queue_url, VisibilityTimeout=0)["Messages"][0]
    token = json.loads(message["Body"])["task_token"]
    desk.sfn.send_task_success(
        taskToken=token, output=json.dumps({"label": "bicycle", "reviewer": "web"})
    )
    wait_for_execution(desk.sfn, execution)

    assert desk.cli("answer", "r-1", "motorcycle", "--reviewer", "alice") == 2
    assert capsys.readouterr().err == "error: review r-1 was already answered: bicycle by web\n"
    assert desk.visible() == 0, "a review nobody can answer any more leaves the queue"


def test_an_expired_review_cannot_be_answered(emulator, capsys):
    desk = make_desk(timeout_seconds=1)
    execution = desk.start("r-late", "incoming/a.png")
    assert json.loads(wait_for_execution(desk.sfn, execution)["output"]) == {
        "outcome": "ReviewTimedOut"
    }

    assert desk.cli("answer", "r-late", "bicycle", "--reviewer", "alice") == 2
    assert capsys.readouterr().err == (
        "error: review r-late can no longer be answered: its execution finished with outcome "
        "ReviewTimedOut\n"
    )
    with pytest.raises(core.ReviewClosed) as refused:
        desk_of(desk).answer("r-late", "bicycle", "alice")
    assert not isinstance(refused.value, core.AlreadyAnswered)


def test_an_expired_token_without_an_execution_to_ask_is_still_a_clear_error(emulator, capsys):
    desk = make_desk(timeout_seconds=1)
    execution = desk.start("r-late", "incoming/a.png")
    wait_for_execution(desk.sfn, execution)
    # Without the machine's ARN (e.g. --queue-url only) the tool still has the message's own
    # execution id; an unknown one leaves Step Functions' error as the reason.
    message = desk.sqs.receive_message(QueueUrl=desk.queue_url, VisibilityTimeout=0)["Messages"][0]
    body = json.loads(message["Body"])
    body["execution_id"] = "not-an-arn:r-late"
    desk.sqs.delete_message(QueueUrl=desk.queue_url, ReceiptHandle=message["ReceiptHandle"])
    desk.sqs.send_message(QueueUrl=desk.queue_url, MessageBody=json.dumps(body))

    assert (
        main(["--queue-url", desk.queue_url, "answer", "r-late", "bicycle", "--reviewer", "a"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(
        "error: review r-late can no longer be answered: the task expired or finished ("
    )
    assert err.count("\n") == 1


def test_an_unknown_label_is_refused_before_anything_is_touched(desk, capsys):
    execution = desk.start("r-1", "incoming/a.png")
    assert desk.cli("answer", "r-1", "scooter", "--reviewer", "alice") == 2
    assert capsys.readouterr().err == (
        "error: unknown label 'scooter': answer one of bicycle, motorcycle, not_a_vehicle\n"
    )
    assert desk.visible() == 1
    assert desk.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"


def test_an_unknown_id_is_refused(desk, capsys):
    desk.start("r-1", "incoming/a.png")
    for command in (["answer", "r-404", "bicycle", "--reviewer", "a"], ["show", "r-404"]):
        assert desk.cli(*command) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: no pending review 'r-404'") and err.count("\n") == 1
    assert desk.visible() == 1, "looking for an id must hand every other message back"


def test_a_missing_image_is_a_clear_error(desk, capsys, tmp_path):
    desk.start("r-1", "incoming/deleted.png")  # never uploaded
    assert desk.cli("show", "r-1", "--out", str(tmp_path / "x.png")) == 2
    assert capsys.readouterr().err == (
        f"error: the image of review r-1 is gone: s3://{BUCKET}/{desk.name}/incoming/deleted.png\n"
    )
    assert not (tmp_path / "x.png").exists()
    assert desk.visible() == 1


def test_listing_an_empty_queue_and_one_with_foreign_messages(desk, capsys):
    assert desk.cli("list") == 0
    assert capsys.readouterr().out == "no pending reviews\n"
    desk.sqs.send_message(QueueUrl=desk.queue_url, MessageBody="not json")
    desk.start("r-1", "incoming/a.png")
    assert desk.cli("list") == 0
    out = capsys.readouterr().out
    assert "r-1" in out and "(1 message(s) on the queue are not reviews; left there)" in out
    assert desk.visible() == 2


def test_a_target_needs_a_stage_or_a_queue(capsys):
    assert main(["list"]) == 2
    assert capsys.readouterr().err == (
        "error: name a stage (--stage dev|prod|local) or a queue (--queue-url)\n"
    )


def desk_of(desk: Desk) -> core.ReviewDesk:
    return core.ReviewDesk(
        sqs=desk.sqs,
        sfn=desk.sfn,
        s3=desk.s3,
        queue_url=desk.queue_url,
        review_state_machine_arn=desk.machine_arn,
    )


def test_a_long_queue_is_listed_whole_and_left_whole(desk, capsys):
    # More than one ReceiveMessage batch (10); listing and finding one must hand all back.
    for n in range(23):
        body = {
            "task_token": f"token-{n}",
            "execution_id": f"{desk.machine_arn.replace(':stateMachine:', ':execution:')}:r-{n}",
            "s3_bucket": BUCKET,
            "s3_key": f"incoming/{n}.png",
            "reason": "low_confidence",
        }
        desk.sqs.send_message(QueueUrl=desk.queue_url, MessageBody=json.dumps(body))

    assert desk.cli("list", "--json") == 0
    listed = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert sorted(listed) == sorted(f"r-{n}" for n in range(23))
    assert desk.visible() == 23

    review = desk_of(desk).get("r-17")
    assert (review.s3_key, review.reason) == ("incoming/17.png", "low_confidence")
    assert desk.visible() == 23
