"""The local stage applied for real against the emulator: apply, a promotion, an empty re-plan,
destroy.

The whole system (terraform/stages/local -> modules/system) goes through the real AWS provider;
only the endpoint is the emulator. What the emulator lacks is patched on its side
(devkit/moto_patches/terraform_*.py), never in the modules.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import replace

import boto3
import pytest
from PIL import Image

from devkit.local_stage import LocalStage, LocalStageError
from devkit.moto_patches import sagemaker_runtime
from devkit.stepfunctions_local import review_execution_arn, wait_for_execution
from devkit.verify_rollout import Deployed, RolloutError, smoke_request
from review.cli import main as review_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def _assert_deployed(system: dict[str, object]) -> None:
    s3 = boto3.client("s3")
    keys = set()
    for bucket in (system["data_bucket"], system["capture_bucket"], system["reports_bucket"]):
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ][0]["ApplyServerSideEncryptionByDefault"]
        assert rule["SSEAlgorithm"] == "aws:kms"
        keys.add(rule["KMSMasterKeyID"])
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert any(
            s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s.get("Condition", {}))
            for s in policy["Statement"]
        )

    sagemaker = boto3.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=system["endpoint_name"])
    assert endpoint["EndpointStatus"] == "InService"
    rollback = endpoint["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert {a["AlarmName"] for a in rollback} == {
        f"{system['name']}-endpoint-5xx",
        f"{system['name']}-endpoint-latency",
    }
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["EndpointConfigName"].startswith(f"{system['name']}-")
    capture = config["DataCaptureConfig"]
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert capture["CaptureContentTypeHeader"]["JsonContentTypes"] == ["application/json"]
    assert capture["DestinationS3Uri"].startswith(f"s3://{system['capture_bucket']}/")
    assert capture["KmsKeyId"]

    scaling = boto3.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in scaling] == [(1, 2)]

    (stage_key,) = keys  # one customer key per stage, the state machines' too
    sfn = boto3.client("stepfunctions")
    for name, arn in system["state_machine_arns"].items():
        machine = sfn.describe_state_machine(stateMachineArn=arn)
        # The automatic path Express; the machines that wait (a person, a Distributed Map) Standard.
        assert machine["type"] == ("EXPRESS" if name == "classify_image" else "STANDARD")
        assert machine["tracingConfiguration"]["enabled"] is True
        assert machine["loggingConfiguration"]["level"] == "ALL"
        assert machine["loggingConfiguration"].get("includeExecutionData", False) is False
        assert "$LATEST" not in machine["definition"]
        assert machine["encryptionConfiguration"] == {
            "type": "CUSTOMER_MANAGED_KMS_KEY",
            "kmsKeyId": stage_key,
            "kmsDataKeyReusePeriodSeconds": 300,
        }

    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=system["name"])
    actions = {a["AlarmName"]: a["AlarmActions"] for a in alarms["MetricAlarms"]}
    # 22 of monitoring, 2 of the endpoint, ReviewTimedOut, the upload backlog, LiveMisrouteRate
    assert len(actions) == 27
    assert f"{system['name']}-upload-backlog" in actions
    assert f"{system['name']}-review-timed-out" in actions
    live = next(a for a in alarms["MetricAlarms"] if a["AlarmName"].endswith("-live-misroute-rate"))
    queries = {q["Id"]: q for q in live["Metrics"]}
    assert queries["z2"]["Expression"].startswith("IF(audited >= 200, ")
    assert queries["audited"]["MetricStat"]["Metric"]["MetricName"] == "AuditReviewed"
    assert all(v == [system["oncall_topic_arn"]] for v in actions.values())

    schedule = boto3.client("scheduler").get_schedule(Name=f"{system['name']}-drift-job")
    assert schedule["ScheduleExpression"] == "cron(5 * * * ? *)"


def _start_on_the_deployed_workflow(
    aws, system: dict[str, object], key: str, colour: tuple[int, int, int], answer: list[float]
) -> str:
    """Upload a real PNG to the data bucket, queue the endpoint's answer and start the deployed
    classify_image state machine on it; its execution ARN."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, "PNG")
    boto3.client("s3").put_object(Bucket=system["data_bucket"], Key=key, Body=buffer.getvalue())
    aws.set_sagemaker_results(
        [
            {
                "Body": json.dumps(answer),
                "ContentType": "application/json",
                "InvokedProductionVariant": "AllTraffic",
            }
        ]
    )
    started = boto3.client("stepfunctions").start_execution(
        stateMachineArn=system["state_machine_arns"]["classify_image"],
        name=key.rsplit("/", 1)[-1].replace(".", "-"),  # the emulator names unnamed ones alike
        input=json.dumps({"s3_bucket": system["data_bucket"], "s3_key": key}),
    )
    return str(started["executionArn"])


def _classify_through_the_deployed_workflow(aws, system: dict[str, object]) -> dict[str, object]:
    """Run the deployed classify_image state machine on a real PNG uploaded to the data bucket."""
    execution_arn = _start_on_the_deployed_workflow(
        aws, system, "incoming/terraform-smoke.png", (200, 30, 30), [0.02, 0.98]
    )
    described = wait_for_execution(boto3.client("stepfunctions"), execution_arn, timeout_s=180)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def _answer_a_review_with_the_reviewer_tool(aws, system: dict[str, object], work_dir) -> None:
    """A low-confidence image waits for a reviewer; `python -m review --stage local` (the stage's
    own Terraform outputs) lists and answers it, and the driver is routed by that answer."""
    key = "incoming/terraform-review.png"
    execution_arn = _start_on_the_deployed_workflow(aws, system, key, (30, 30, 200), [0.55, 0.45])
    sfn = boto3.client("stepfunctions")
    target = ["--stage", "local", "--endpoint-url", aws.endpoint_url, "--work-dir", str(work_dir)]
    deadline = time.monotonic() + 120
    listed: list[dict[str, object]] = []
    while not listed and time.monotonic() < deadline:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert review_cli([*target, "list", "--json"]) == 0
        listed = [json.loads(line) for line in out.getvalue().splitlines()]
    [review] = listed
    assert review["image"] == f"s3://{system['data_bucket']}/{key}"
    with contextlib.redirect_stdout(io.StringIO()):
        assert review_cli([*target, "answer", str(review["id"]), "bicycle", "--reviewer", "r"]) == 0
    sent = json.loads(wait_for_execution(sfn, execution_arn, timeout_s=180)["output"])
    assert sent["outcome"] == "SentToReview", sent
    described = wait_for_execution(sfn, review_execution_arn(sent), timeout_s=180)
    output = json.loads(described["output"])
    assert output["outcome"] == "RoutedByReviewer", output
    assert (output["decision"]["label"], output["decision"]["reviewer"]) == ("bicycle", "r")


def _provider_and_sagemaker_disagree(stage: LocalStage, applied_config: str) -> None:
    """SageMaker serves another config than the one in Terraform's state (what a silently
    rolled-back blue/green update leaves): the verification fails and says so; then the
    endpoint is put back."""
    sagemaker = boto3.client("sagemaker")
    endpoint = stage.outputs()["system"]["endpoint_name"]  # type: ignore[index]
    applied = sagemaker.describe_endpoint_config(EndpointConfigName=applied_config)
    model = sagemaker.describe_model(ModelName=applied["ProductionVariants"][0]["ModelName"])
    sagemaker.create_model(
        ModelName="rolled-back",
        ExecutionRoleArn=model["ExecutionRoleArn"],
        PrimaryContainer={
            "Image": model["PrimaryContainer"]["Image"],
            "ModelDataUrl": "s3://vehicle-classifier-local-artifacts/models/v1/model.tar.gz",
        },
    )
    variant = {**applied["ProductionVariants"][0], "ModelName": "rolled-back"}
    sagemaker.create_endpoint_config(EndpointConfigName="rolled-back", ProductionVariants=[variant])
    # Updates keep the blue/green deployment config, as SageMaker's own rollback does.
    deployment = sagemaker.describe_endpoint(EndpointName=endpoint)["LastDeploymentConfig"]
    sagemaker.update_endpoint(
        EndpointName=endpoint, EndpointConfigName="rolled-back", DeploymentConfig=deployment
    )
    with pytest.raises(RolloutError) as failed:
        stage.verify(smoke=False)
    assert str(failed.value) == (
        f"endpoint {endpoint} serves endpoint config rolled-back, but Terraform applied "
        f"{applied_config} (update rolled back or never finished)"
    )
    sagemaker.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=applied_config, DeploymentConfig=deployment
    )
    sagemaker.delete_endpoint_config(EndpointConfigName="rolled-back")
    sagemaker.delete_model(ModelName="rolled-back")


def test_local_stage_applies_replans_empty_and_destroys(aws, tmp_path):
    stage = LocalStage(aws.endpoint_url, tmp_path / "stage")

    system = stage.apply()["system"]
    assert isinstance(system, dict)
    _assert_deployed(system)
    # The deployed functions, aliases, layer, environment and ASL work together.
    output = _classify_through_the_deployed_workflow(aws, system)
    assert output["outcome"] == "Routed", output
    assert output["decision"]["label"] == "motorcycle"
    _answer_a_review_with_the_reviewer_tool(aws, system, tmp_path / "stage")
    assert stage.outputs()["reviewer_policy_arn"], "the stage outputs the reviewer policy"
    # What the deploy job checks after every apply: the endpoint serves the promoted model and
    # a smoke request through the workflow reaches the filter, which refuses the smoke's lower
    # threshold and names the deployed one, the stage's (its upload is removed again).
    verified = stage.verify()
    assert verified.smoke_outcome == "ThresholdBelowDeployed"
    # ... and a filter deployed with another threshold than the stage's is caught.
    other = replace(Deployed.from_outputs(stage.outputs()), decision_threshold=0.5)
    with pytest.raises(RolloutError, match=r"routes at threshold 0\.9, .* is 0\.5"):
        smoke_request(boto3.client("s3"), boto3.client("stepfunctions"), other, timeout_s=120)
    assert verified.models and verified.endpoint_config_name.startswith(f"{system['name']}-")
    # The promoted model is served but fails on images: the smoke request says so.
    sagemaker_runtime.inject_fault(str(system["endpoint_name"]), 424, "ModelError", times=100)
    try:
        with pytest.raises(RolloutError, match=r"^smoke request ended ModelError"):
            stage.verify()
    finally:
        sagemaker_runtime.clear_faults()

    # A promotion: a new artifact makes a new model and endpoint config (name_prefix +
    # create_before_destroy) and the endpoint switches over in place.
    sagemaker = boto3.client("sagemaker")
    before = sagemaker.describe_endpoint(EndpointName=system["endpoint_name"])
    stage.variables["model_data_url"] = (
        "s3://vehicle-classifier-local-artifacts/models/v2/model.tar.gz"
    )
    stage.apply()
    after = sagemaker.describe_endpoint(EndpointName=system["endpoint_name"])
    assert after["EndpointArn"] == before["EndpointArn"]
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    configs = [
        c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
    ]
    assert configs == [after["EndpointConfigName"]], "the old endpoint config is cleaned up"
    model = sagemaker.describe_endpoint_config(EndpointConfigName=after["EndpointConfigName"])[
        "ProductionVariants"
    ][0]["ModelName"]
    container = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    assert container["ModelDataUrl"].endswith("/models/v2/model.tar.gz")
    assert stage.verify(smoke=False).endpoint_config_name == after["EndpointConfigName"]
    _provider_and_sagemaker_disagree(stage, after["EndpointConfigName"])

    assert not stage.plan_has_changes(), (tmp_path / "stage" / "plan.log").read_text()[-4000:]

    stage.destroy()
    assert stage.state_resources() == []
    names = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert system["data_bucket"] not in names
    assert boto3.client("sagemaker").list_endpoints()["Endpoints"] == []
    print("local stage timings (s):", stage.timings)


def test_local_stage_refuses_anything_but_a_loopback_endpoint(tmp_path):
    stage = LocalStage("https://sagemaker.us-east-1.amazonaws.com", tmp_path / "stage")
    with pytest.raises(LocalStageError, match="must be a loopback URL"):
        stage.plan_has_changes()
