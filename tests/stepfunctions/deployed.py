"""Deploy the real workflow into the emulator: built zips, shared layer, review queue, ASL.

Lambda tasks run our handler code from the deployed zips (devkit/moto_patches/lambda_inprocess),
InvokeEndpoint answers come from moto's canned results or injected faults
(devkit/moto_patches/sagemaker_runtime). The fixtures are registered by the conftest.py of
tests/stepfunctions and tests/review, which import them from here.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from devkit.moto_patches import sagemaker_runtime
from devkit.stepfunctions_local import (
    render_file,
    review_execution_arn,
    sync_client,
    wait_for_execution,
)
from lambdas import build
from lambdas.shared.label_record import LabelRecord

# The stage threshold the filter Lambda is deployed with (Terraform sets it from the promoted
# model's decision.json); any value in (0, 1) would do.
DEPLOYED_THRESHOLD = 0.9
# What a review execution's outcome carries once the reviewer answered.
REVIEW_OUTCOME_FIELDS = {
    "outcome",
    "execution_id",
    "request",
    "classification",
    "decision",
    "review",
    "label_record",
}

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@pytest.fixture(scope="session")
def lambda_zips(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("lambda-build")
    return {artifact.name: Path(artifact.path).read_bytes() for artifact in build.build(out)}


# Test defaults: no audit sample (a test that wants one sets AUDIT_SAMPLE_RATE), a review
# timeout long enough for a test to answer.
DEFAULT_ENV = {"filter_inferences": {"AUDIT_SAMPLE_RATE": "0"}}
REVIEW_TIMEOUT_SECONDS = 60
# As deployed (terraform/modules/system): the automatic path Express, the machines that wait
# (for a person, for a Distributed Map) Standard.
STATE_MACHINE_TYPES = {
    "classify_image": "EXPRESS",
    "classify_batch": "STANDARD",
    "review": "STANDARD",
}


@dataclass
class Workflow:
    state_machine_arn: str
    batch_state_machine_arn: str
    review_state_machine_arn: str
    queue_url: str
    endpoint_name: str
    bucket: str
    results_bucket: str
    labels_bucket: str
    function_names: dict[str, str]
    emulator: Any
    sfn: Any = field(repr=False)
    s3: Any = field(repr=False)

    def put_image(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def answer(self, *probabilities: list[float]) -> None:
        """Queue the endpoint's next answers (one per distinct image)."""
        self.emulator.set_sagemaker_results(
            [
                {
                    "Body": json.dumps(list(p)),
                    "ContentType": "application/json",
                    "InvokedProductionVariant": "AllTraffic",
                }
                for p in probabilities
            ]
        )

    def fail_endpoint(self, status: int, code: str, times: int) -> None:
        sagemaker_runtime.inject_fault(self.endpoint_name, status, code, times)

    def start(self, request: dict[str, Any], batch: bool = False) -> str:
        arn = self.batch_state_machine_arn if batch else self.state_machine_arn
        started = self.sfn.start_execution(
            stateMachineArn=arn, name=f"t-{uuid.uuid4().hex[:12]}", input=json.dumps(request)
        )
        return str(started["executionArn"])

    def submit(self, key: str, image: bytes, probabilities: list[float]) -> str:
        """Upload one image, queue the endpoint's answer for it and start the classify machine on
        it: the execution's ARN."""
        self.put_image(key, image)
        self.answer(probabilities)
        return self.start({"s3_bucket": self.bucket, "s3_key": key})

    def finish(self, execution_arn: str) -> dict[str, Any]:
        described = wait_for_execution(self.sfn, execution_arn, timeout_s=180)
        assert described["status"] == "SUCCEEDED", described
        return dict(json.loads(described["output"]))

    def run(self, request: dict[str, Any], batch: bool = False) -> tuple[dict[str, Any], str]:
        execution_arn = self.start(request, batch)
        return self.finish(execution_arn), execution_arn

    def run_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        """StartSyncExecution on the Express classify machine: the answer carries the outcome."""
        return dict(
            sync_client().start_sync_execution(
                stateMachineArn=self.state_machine_arn, input=json.dumps(request)
            )
        )

    def review_outcome(self, sent: dict[str, Any]) -> dict[str, Any]:
        """Wait for the review execution a `SentToReview` outcome started; its output."""
        assert sent["outcome"] == "SentToReview", sent
        return self.finish(review_execution_arn(sent))

    def next_review(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """The next review message (deleted from the queue, as a reviewer tool would)."""
        sqs = boto3.client("sqs")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            received = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            )
            for message in received.get("Messages", []):
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                return dict(json.loads(message["Body"]))
        raise TimeoutError(f"no review message within {timeout_s} s")

    def answer_review(self, message: dict[str, Any], label: str, reviewer: str = "rev-1") -> None:
        """What a reviewer does: SendTaskSuccess with the label and the reviewer's identity."""
        self.sfn.send_task_success(
            taskToken=message["task_token"],
            output=json.dumps({"label": label, "reviewer": reviewer}),
        )

    def label_records(self) -> dict[str, dict[str, Any]]:
        """Every label record under labels/, by key (each object is one JSON line), read with
        the schema's class: a record the machines wrote that breaks it fails the test."""
        listed = self.s3.list_objects_v2(Bucket=self.labels_bucket, Prefix="labels/")
        records = {}
        for entry in listed.get("Contents", []):
            body = self.s3.get_object(Bucket=self.labels_bucket, Key=entry["Key"])["Body"].read()
            [line] = body.decode().splitlines()
            records[entry["Key"]] = LabelRecord.from_line(line).to_dict()
        return records

    def reviewed_by(self) -> tuple[str, str, str]:
        """(decision, label, reviewer) of the one label record written."""
        [record] = self.label_records().values()
        return record["decision"], record["label"], record["reviewer"]

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    def failed_attempts(self, execution_arn: str, state: str) -> list[str]:
        """Error names of the failed task attempts of one state, in order."""
        errors, current = [], None
        for event in self.history(execution_arn):
            if event["type"] == "TaskStateEntered":
                current = event["stateEnteredEventDetails"]["name"]
            if event["type"] == "TaskFailed" and current == state:
                errors.append(event["taskFailedEventDetails"]["error"])
        return errors

    def batch_results(self, output: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The child outputs a batch execution's Distributed Map wrote, by image key."""
        written = self.s3.get_object(
            Bucket=self.results_bucket, Key=output["map_run"]["ResultWriterDetails"]["Key"]
        )
        manifest = json.loads(written["Body"].read())
        results = {}
        for result_file in manifest["ResultFiles"]["SUCCEEDED"]:
            body = self.s3.get_object(Bucket=self.results_bucket, Key=result_file["Key"])
            for entry in json.loads(body["Body"].read()):
                child = json.loads(entry["Output"])
                results[child["request"]["s3_key"]] = child
        return results

    def review_messages(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        received = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in received.get("Messages", [])]


def deploy(
    emulator,
    zips: dict[str, bytes],
    env: dict[str, dict[str, str]],
    review_timeout_seconds: int = REVIEW_TIMEOUT_SECONDS,
) -> Workflow:
    iam, lam, sfn, s3, sqs = (
        boto3.client(name) for name in ("iam", "lambda", "stepfunctions", "s3", "sqs")
    )
    # Unique names instead of an emulator reset: a reset makes IAM reload its managed-policy
    # catalogue (seconds), and each test still gets resources nobody else touches.
    suffix = uuid.uuid4().hex[:8]
    role_arn = iam.create_role(RoleName=f"workflow-{suffix}", AssumeRolePolicyDocument=ROLE_POLICY)[
        "Role"
    ]["Arn"]
    layer = lam.publish_layer_version(
        LayerName=f"shared-{suffix}", Content={"ZipFile": zips[build.SHARED_LAYER]}
    )["LayerVersionArn"]
    endpoint_name = f"classifier-{suffix}"
    bucket, results_bucket = f"uploads-{suffix}", f"batch-results-{suffix}"
    labels_bucket = f"labels-{suffix}"
    arns, function_names = {}, {}
    for name in build.FUNCTIONS:
        function_names[name] = function_name = f"{name}-{suffix}"
        variables = {
            "POWERTOOLS_METRICS_NAMESPACE": "VehicleClassifierTest",
            **DEFAULT_ENV.get(name, {}),
            **env.get(name, {}),
        }
        if name == "classify_image":
            variables.setdefault("ENDPOINT_NAME", endpoint_name)
            variables.setdefault("MODEL_VERSION", "model-v7")
        if name == "filter_inferences":
            variables.setdefault("CONFIDENCE_THRESHOLD", str(DEPLOYED_THRESHOLD))
        if name == "record_label":
            variables.setdefault("LABELS_BUCKET", labels_bucket)
        lam.create_function(
            FunctionName=function_name,
            Runtime=build.RUNTIME,
            Role=role_arn,
            Handler=build.handler_of(name),
            Code={"ZipFile": zips[name]},
            Layers=[layer],
            Timeout=30,
            Environment={"Variables": variables},
        )
        version = lam.publish_version(FunctionName=function_name)["Version"]
        arns[name] = lam.create_alias(
            FunctionName=function_name, Name="live", FunctionVersion=version
        )["AliasArn"]
    queue_url = sqs.create_queue(QueueName=f"review-{suffix}")["QueueUrl"]
    for name in (bucket, results_bucket, labels_bucket):
        s3.create_bucket(Bucket=name)
    values: dict[str, object] = {
        "serialize_image_function_arn": arns["serialize_image"],
        "classify_image_function_arn": arns["classify_image"],
        "filter_inferences_function_arn": arns["filter_inferences"],
        "record_label_function_arn": arns["record_label"],
        "review_queue_url": queue_url,
        "review_timeout_seconds": review_timeout_seconds,
        "metrics_namespace": "VehicleClassifierTest",
        "retry_interval_seconds": 1,
        "retry_max_delay_seconds": 1,
        "batch_results_bucket": results_bucket,
        "batch_results_prefix": "results/",
        "batch_max_concurrency": 4,
    }
    machines = {}
    for name in ("review", "classify_image", "classify_batch"):
        machines[name] = sfn.create_state_machine(
            name=f"{name}-{suffix}",
            definition=render_file(f"{name}.asl.json", values),
            roleArn=role_arn,
            type=STATE_MACHINE_TYPES[name],
        )["stateMachineArn"]
        values["review_state_machine_arn"] = machines["review"]
    return Workflow(
        state_machine_arn=machines["classify_image"],
        batch_state_machine_arn=machines["classify_batch"],
        review_state_machine_arn=machines["review"],
        queue_url=queue_url,
        endpoint_name=endpoint_name,
        bucket=bucket,
        results_bucket=results_bucket,
        labels_bucket=labels_bucket,
        function_names=function_names,
        emulator=emulator,
        sfn=sfn,
        s3=s3,
    )


@pytest.fixture
def deploy_workflow(emulator, lambda_zips):
    """Call with per-function environment overrides (and a review timeout); returns the
    deployed Workflow."""
    sagemaker_runtime.reset_endpoints(emulator.region)
    yield lambda env=None, **options: deploy(emulator, lambda_zips, env or {}, **options)
    sagemaker_runtime.reset_endpoints(emulator.region)


# The stage's routing rules, as Terraform gives them to both deciders: filter_inferences (the
# model's decisions) and record_label (a reviewer's answer, the review machine's one step).
ROUTING_RULES = json.dumps(
    {
        "bicycle": {"loading_bay": "bay-7", "order_radius_km": 2.5},
        "motorcycle": {"loading_bay": "bay-12", "order_radius_km": 20},
    }
)


@pytest.fixture
def workflow(deploy_workflow) -> Workflow:
    return deploy_workflow(
        {name: {"ROUTING_RULES": ROUTING_RULES} for name in ("filter_inferences", "record_label")}
    )
