"""The ASL templates: valid for a real ASL validator, clean templates, retries and catches sound."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from devkit.stepfunctions_local import (
    DUMMY_VALUES,
    TEMPLATES,
    TemplateError,
    placeholders,
    render,
    render_file,
)
from lambdas.shared import errors
from tests.stepfunctions.deployed import REVIEW_OUTCOME_FIELDS

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"
NAMES = ["classify_image.asl.json", "classify_batch.asl.json", "review.asl.json"]
# Lambda tasks per template: serialize, classify, filter, record (review: record, which routes).
LAMBDA_TASKS = {"classify_image.asl.json": 4, "classify_batch.asl.json": 4, "review.asl.json": 1}
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def validate(definition: str, tmp_path: Path) -> subprocess.CompletedProcess:
    assert VALIDATOR.exists(), "node_modules/.bin/asl-validator missing: run scripts/bootstrap.sh"
    path = tmp_path / "definition.json"
    path.write_text(definition)
    return subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, check=False
    )


def all_states(definition: dict) -> dict[str, dict]:
    """Every state, including those inside Map item processors."""
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update({f"{name}/{k}": v for k, v in all_states(processor).items()})
    return found


@pytest.mark.parametrize("name", NAMES)
def test_rendered_definition_is_valid_asl(name, tmp_path):
    result = validate(render_file(name, DUMMY_VALUES), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_rejects_a_broken_definition(tmp_path):
    definition = json.loads(render_file("classify_image.asl.json", DUMMY_VALUES))
    definition["States"]["SerializeImage"]["Next"] = "NoSuchState"
    assert validate(json.dumps(definition), tmp_path).returncode != 0


@pytest.mark.parametrize("name", NAMES)
def test_template_uses_only_documented_placeholders(name):
    template = (TEMPLATES / name).read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", (TEMPLATES / "README.md").read_text(), re.M))
    assert placeholders(template) <= documented
    assert "%{" not in template
    assert template.count("${") == len(re.findall(r"\$\{[a-z_]+\}", template))
    assert not re.search(r"\d{12}", template), "no account ids in templates"
    assert "$LATEST" not in template


def test_render_refuses_missing_and_unknown_values():
    with pytest.raises(TemplateError):
        render('{"a": "${x}"}', {})
    with pytest.raises(TemplateError):
        render('{"a": "${x}"}', {"x": "1", "y": "2"})
    assert json.loads(render('{"a": "${x}", "n": ${n}}', {"x": 'q"uote', "n": 3})) == {
        "a": 'q"uote',
        "n": 3,
    }


def _ends_after(states: dict[str, dict], scope: str, name: str, seen: frozenset = frozenset()):
    """The terminal states a Catch target leads to. On the way only Pass and Choice states, or a
    Task that is never retried (the timeout metric); revisiting a state is a loop."""
    assert name not in seen, f"{name} loops"
    state = states[scope + name]
    if state.get("End"):
        return [state]
    if state["Type"] == "Task":
        assert not state.get("Retry"), f"a Catch leads to the retried Task {name}"
    else:
        assert state["Type"] in {"Pass", "Choice"}, f"a Catch leads to the {state['Type']} {name}"
    following = [choice["Next"] for choice in state.get("Choices", [])]
    following += [catcher["Next"] for catcher in state.get("Catch", [])]
    following += [state[key] for key in ("Next", "Default") if key in state]
    return [end for step in following for end in _ends_after(states, scope, step, seen | {name})]


@pytest.mark.parametrize("name", NAMES)
def test_every_catch_ends_in_a_terminal_state(name):
    """A Catch goes to an outcome, through Pass/Choice states only (the label record's Catch
    goes on to the decision's outcome), so no Catch can reach a Task again."""
    definition = json.loads(render_file(name, DUMMY_VALUES))
    states = all_states(definition)
    for path, state in states.items():
        scope = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
        for catcher in state.get("Catch", []):
            for end in _ends_after(states, scope, catcher["Next"]):
                outcome = {"outcome", "outcome.$"} & set(end["Parameters"])
                assert end["Type"] == "Pass" and outcome, (path, catcher)


@pytest.mark.parametrize("name", NAMES)
def test_lambda_tasks_retry_transient_errors_with_jitter(name):
    definition = json.loads(render_file(name, DUMMY_VALUES))
    tasks = {
        path: state
        for path, state in all_states(definition).items()
        if state.get("Resource") == "arn:aws:states:::lambda:invoke"
    }
    assert len(tasks) == LAMBDA_TASKS[name]
    for path, state in tasks.items():
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert retried >= LAMBDA_TRANSIENT, path
        for retrier in state["Retry"]:
            assert retrier["JitterStrategy"] == "FULL"
            assert retrier["MaxDelaySeconds"] == DUMMY_VALUES["retry_max_delay_seconds"]
            assert retrier["BackoffRate"] > 1


def test_error_names_in_the_definitions_are_raised_by_the_handlers():
    definition = json.loads(render_file("classify_image.asl.json", DUMMY_VALUES))
    review = json.loads(render_file("review.asl.json", DUMMY_VALUES))
    named = {
        error
        for state in [*definition["States"].values(), *review["States"].values()]
        for rule in state.get("Retry", []) + state.get("Catch", [])
        for error in rule["ErrorEquals"]
        if not error.startswith(("Lambda.", "States.", "StepFunctions.", "SQS."))
    }
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.WorkflowError)
    }
    assert named <= defined
    retried = {
        error
        for state in definition["States"].values()
        for rule in state.get("Retry", [])
        for error in rule["ErrorEquals"]
    }
    assert set(errors.RETRYABLE_ERRORS) <= retried
    assert not retried & {"ModelError", "InvalidImage", "ImageNotFound", "InvalidEvent"}


def test_review_waits_with_a_task_token_no_longer_than_the_stage_allows():
    values = {**DUMMY_VALUES, "review_timeout_seconds": 3600}
    ask = json.loads(render_file("review.asl.json", values))["States"]["AskReviewer"]
    assert ask["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    assert ask["Parameters"]["MessageBody"]["task_token.$"] == "$$.Task.Token"
    assert ask["TimeoutSeconds"] == 3600
    assert ask["Parameters"]["MessageBody"]["timeout_seconds"] == 3600
    # A timeout is an outcome, never a reason to ask again.
    assert all("States.Timeout" not in r["ErrorEquals"] for r in ask["Retry"])
    assert all("States.ALL" not in r["ErrorEquals"] for r in ask["Retry"])
    assert ask["Catch"][0] == {
        "ErrorEquals": ["States.Timeout"],
        "ResultPath": "$.error",
        "Next": "CountTimeout",
    }


def test_an_answered_review_is_two_billed_transitions():
    """AskReviewer, then one record_label step that routes, records and returns the outcome
    (its output is the execution's); it fails only to `Failed`, never silently."""
    states = json.loads(render_file("review.asl.json", DUMMY_VALUES))["States"]
    ask, apply = states["AskReviewer"], states["ApplyAnswer"]
    assert ask["Next"] == "ApplyAnswer" and apply["End"] is True
    assert apply["Parameters"]["FunctionName"] == DUMMY_VALUES["record_label_function_arn"]
    assert set(apply["ResultSelector"]) == {f"{field}.$" for field in REVIEW_OUTCOME_FIELDS}
    assert "ResultPath" not in apply and "OutputPath" not in apply
    assert apply["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}
    ]
    # S3 is retried inside the function: a state retry would bill a transition per attempt.
    assert {e for r in apply["Retry"] for e in r["ErrorEquals"]} == LAMBDA_TRANSIENT
    invoked = {
        state["Parameters"]["FunctionName"]
        for state in states.values()
        if state.get("Resource") == "arn:aws:states:::lambda:invoke"
    }
    assert invoked == {DUMMY_VALUES["record_label_function_arn"]}


def test_classify_machines_start_the_review_machine_without_waiting():
    """The automatic path runs as Express, which can neither wait for a task token nor for
    another execution (`.sync`): it starts the review (named by the inference id, so a second
    start is refused as ExecutionAlreadyExists and counts as sent) and ends `SentToReview`. The
    emulator would run either in an Express machine, so this is checked here."""
    for name in ("classify_image.asl.json", "classify_batch.asl.json"):
        states = all_states(json.loads(render_file(name, DUMMY_VALUES)))
        resources = [s.get("Resource", "") for s in states.values()]
        assert not [r for r in resources if r.endswith((".sync", ".sync:2", ".waitForTaskToken"))]
        by_name = {path.split("/")[-1]: state for path, state in states.items()}
        review = by_name["Review"]
        assert review["Resource"] == "arn:aws:states:::states:startExecution"
        assert review["Parameters"]["StateMachineArn"] == DUMMY_VALUES["review_state_machine_arn"]
        assert review["Parameters"]["Name.$"] == "$.classified.classification.inference_id"
        assert review["Catch"][0] == {
            "ErrorEquals": ["StepFunctions.ExecutionAlreadyExistsException"],
            "ResultPath": "$.review_start_error",
            "Next": "ReviewAlreadyStarted",
        }
        assert by_name["ReviewAlreadyStarted"]["Next"] == review["Next"] == "SentToReview"
        assert by_name["SentToReview"]["Parameters"]["outcome"] == "SentToReview"


# Terraform renders every template with the same values (inference_workflow's
# template_variables; no machine passes its own). Here each placeholder gets a value no other
# placeholder or literal has, so a state that names another placeholder (or a literal where the
# other file has a placeholder) differs after rendering, as it could in a stage.
DISTINCT_VALUES = {
    name: (f"<{name}>" if isinstance(value, str) else 90001 + index)
    for index, (name, value) in enumerate(sorted(DUMMY_VALUES.items()))
}
# Fields of a shared state the batch's item processor may set otherwise than classify_image,
# by state, each with why. None today: an item ends exactly as one image does (the outcome
# documents are what the Map's ResultWriter collects). Add an entry only with its reason.
INTENDED_BATCH_DIFFERENCES: dict[str, dict[str, str]] = {}


def _processor_and_single() -> tuple[dict, dict]:
    single = json.loads(render_file("classify_image.asl.json", DISTINCT_VALUES))
    batch = json.loads(render_file("classify_batch.asl.json", DISTINCT_VALUES))
    return batch["States"]["ClassifyAll"]["ItemProcessor"], single


def _differences(single: dict, processor: dict) -> set[tuple[str, str]]:
    """(state, field) pairs that differ; a missing state is ("<name>", "<state>")."""
    found = set()
    for name in single["States"].keys() | processor["States"].keys():
        one, item = single["States"].get(name), processor["States"].get(name)
        if one is None or item is None:
            found.add((name, "<state>"))
            continue
        found |= {(name, key) for key in one.keys() | item.keys() if one.get(key) != item.get(key)}
    return found


def test_batch_items_run_the_single_image_states():
    """A change to one template is a change to both: every state of classify_image is in the
    batch's item processor, field for field, apart from INTENDED_BATCH_DIFFERENCES."""
    processor, single = _processor_and_single()
    assert processor["StartAt"] == single["StartAt"]
    allowed = {(state, key) for state, keys in INTENDED_BATCH_DIFFERENCES.items() for key in keys}
    differences = _differences(single, processor)
    assert differences - allowed == set(), "edit both templates (stepfunctions/README.md: Batch)"
    assert allowed - differences == set(), "an intended difference is gone: drop it from the list"


def test_the_comparison_names_a_state_changed_in_one_template_only():
    processor, single = _processor_and_single()
    processor["States"]["ClassifyImage"]["Retry"][0]["MaxAttempts"] += 1
    processor["States"]["Routed"]["Parameters"]["extra"] = 1
    del processor["States"]["ModelError"]
    assert _differences(single, processor) == {
        ("ClassifyImage", "Retry"),
        ("Routed", "Parameters"),
        ("ModelError", "<state>"),
    }
