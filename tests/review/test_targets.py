"""Which queue the review tool works on: a stage's Terraform outputs or explicit values."""

from __future__ import annotations

import pytest

from review.cli import main, parser
from review.targets import Target, TargetError, from_outputs, region_of_queue, resolve

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/vehicle-classifier-dev-review"
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-dev-review"


def stage_outputs(**system: object) -> dict[str, object]:
    return {"system": {"name": "vehicle-classifier-dev", **system}, "reviewer_policy_arn": None}


def test_a_stage_target_comes_from_its_outputs():
    target = from_outputs(
        stage_outputs(review_queue_url=QUEUE, state_machine_arns={"review": MACHINE})
    )
    assert target == Target(queue_url=QUEUE, region="eu-west-1", review_state_machine_arn=MACHINE)


def test_explicit_values_win_over_the_stage_outputs():
    target = from_outputs(
        stage_outputs(review_queue_url=QUEUE, state_machine_arns={}),
        region="us-west-2",
        endpoint_url="http://127.0.0.1:5000",
        review_state_machine_arn=None,
    )
    assert (target.region, target.endpoint_url, target.review_state_machine_arn) == (
        "us-west-2",
        "http://127.0.0.1:5000",
        None,
    )


def test_outputs_without_a_review_queue_are_a_clear_error():
    with pytest.raises(TargetError, match=r"no system\.review_queue_url \(not applied yet\?\)"):
        from_outputs({})


def test_region_of_queue():
    assert region_of_queue(QUEUE) == "eu-west-1"
    assert region_of_queue("http://127.0.0.1:5000/123456789012/q") is None


def test_an_explicit_queue_needs_no_stage():
    target = resolve(None, queue_url=QUEUE)
    assert (target.queue_url, target.region) == (QUEUE, "eu-west-1")


def test_the_local_stage_needs_the_emulator_url(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(TargetError, match="needs the emulator's URL"):
        resolve("local")


@pytest.mark.integration
def test_a_local_stage_never_applied_exits_2_with_terraforms_reason(tmp_path, capsys):
    target = ["--stage", "local", "--endpoint-url", "http://127.0.0.1:9"]
    code = main([*target, "--work-dir", str(tmp_path), "list"])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: cannot read the outputs of local "
        '(Error: Backend initialization required, please run "terraform init")\n'
    )


def test_target_options_go_before_or_after_the_command():
    before = parser().parse_args(["--stage", "dev", "answer", "r-1", "bicycle"])
    after = parser().parse_args(["answer", "r-1", "bicycle", "--stage", "dev", "--region", "x"])
    assert (before.stage, before.region) == ("dev", None)
    assert (after.stage, after.region, after.id, after.label) == ("dev", "x", "r-1", "bicycle")
