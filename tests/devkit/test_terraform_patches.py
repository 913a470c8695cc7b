"""The emulator-side glue the Terraform stack needs (devkit/moto_patches/terraform_*.py).

Each `*_gap` test fails once moto closes the gap upstream: then delete that patch. The others
check through boto3 against the emulator that the patched behaviour is what AWS does.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from devkit.moto_patches import (
    terraform_applicationautoscaling,
    terraform_s3,
    terraform_sagemaker,
    terraform_sqs,
    terraform_stepfunctions,
)

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/test-role"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def test_stepfunctions_gap_still_upstream():
    assert terraform_stepfunctions.upstream_gaps() == [
        "validate_state_machine_definition",
        "list_state_machine_versions",
    ], "moto implements these Step Functions calls now: delete terraform_stepfunctions.py"


def test_state_machine_definitions_are_validated(aws):
    sfn = boto3.client("stepfunctions")
    assert sfn.validate_state_machine_definition(definition=DEFINITION)["result"] == "OK"
    broken = sfn.validate_state_machine_definition(definition="{not json")
    assert broken["result"] == "FAIL"
    assert broken["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"
    no_states = sfn.validate_state_machine_definition(definition="{}")
    assert no_states["result"] == "FAIL"


def test_state_machine_versions_are_listed(aws):
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name="m", definition=DEFINITION, roleArn=ROLE)["stateMachineArn"]
    assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []
    published = sfn.create_state_machine(
        name="p", definition=DEFINITION, roleArn=ROLE, publish=True
    )["stateMachineArn"]
    versions = sfn.list_state_machine_versions(stateMachineArn=published)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{published}:1"]
    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        sfn.list_state_machine_versions(stateMachineArn=arn.replace(":m", ":missing"))


def test_autoscaling_tag_gap_still_upstream():
    assert terraform_applicationautoscaling.upstream_gaps() == [
        "tag_resource",
        "untag_resource",
        "list_tags_for_resource",
    ], "moto tags scalable targets now: delete terraform_applicationautoscaling.py"


def test_scalable_target_tags_round_trip(aws):
    client = boto3.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/e/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    arn = client.register_scalable_target(
        **target, MinCapacity=1, MaxCapacity=2, Tags={"Stage": "local"}
    )["ScalableTargetARN"]
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"Stage": "local"}
    client.tag_resource(ResourceARN=arn, Tags={"Owner": "ml"})
    client.untag_resource(ResourceARN=arn, TagKeys=["Stage"])
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"Owner": "ml"}
    client.deregister_scalable_target(**target)
    with pytest.raises(ClientError, match="ValidationException"):
        client.list_tags_for_resource(ResourceARN=arn)


def test_sagemaker_model_gap_still_upstream():
    assert terraform_sagemaker.upstream_gap(), (
        "moto keeps EnableNetworkIsolation now: delete the model part of terraform_sagemaker.py"
    )
    assert terraform_sagemaker.endpoint_gaps() == ["DeploymentConfig", "UpdateEndpoint"], (
        "moto keeps DeploymentConfig / has UpdateEndpoint: trim terraform_sagemaker.py"
    )


def _model(sagemaker, name: str) -> None:
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        EnableNetworkIsolation=True,
        PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1",
            "ModelDataUrl": "s3://b/model.tar.gz",
        },
    )


def test_model_keeps_network_isolation_and_no_vpc(aws):
    sagemaker = boto3.client("sagemaker")
    _model(sagemaker, "isolated")
    described = sagemaker.describe_model(ModelName="isolated")
    assert described["EnableNetworkIsolation"] is True
    assert "VpcConfig" not in described


def test_endpoint_keeps_deployment_config_and_updates(aws):
    sagemaker = boto3.client("sagemaker")
    _model(sagemaker, "m1")
    for config in ("c1", "c2"):
        sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "m1",
                    "InitialInstanceCount": 1 if config == "c1" else 2,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    deployment = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "e-5xx"}]},
    }
    sagemaker.create_endpoint(
        EndpointName="e", EndpointConfigName="c1", DeploymentConfig=deployment
    )
    assert sagemaker.describe_endpoint(EndpointName="e")["LastDeploymentConfig"] == deployment
    sagemaker.update_endpoint(
        EndpointName="e", EndpointConfigName="c2", DeploymentConfig=deployment
    )
    described = sagemaker.describe_endpoint(EndpointName="e")
    assert described["EndpointConfigName"] == "c2"
    assert described["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    with pytest.raises(ClientError, match="ValidationException"):
        sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="missing")


def test_s3_gaps_still_upstream():
    assert terraform_s3.tls_policy_gap(), "moto evaluates SecureTransport now: drop that patch"
    assert terraform_s3.eventbridge_gap(), "moto echoes EventBridge now: drop that patch"


def _tls_only(bucket: str, extra: list[dict[str, object]] | None = None) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                *(extra or []),
            ],
        }
    )


def test_tls_only_bucket_serves_objects_but_other_denies_hold(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="tls-only")
    deny_secret = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::tls-only/secret/*",
    }
    s3.put_bucket_policy(Bucket="tls-only", Policy=_tls_only("tls-only", [deny_secret]))
    s3.put_object(Bucket="tls-only", Key="incoming/a.png", Body=b"png")
    assert s3.get_object(Bucket="tls-only", Key="incoming/a.png")["Body"].read() == b"png"
    s3.put_object(Bucket="tls-only", Key="secret/k", Body=b"x")
    with pytest.raises(ClientError, match=r"403|AccessDenied|Forbidden"):
        s3.get_object(Bucket="tls-only", Key="secret/k")


def test_eventbridge_notification_is_echoed(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="events")
    s3.put_bucket_notification_configuration(
        Bucket="events", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    config = s3.get_bucket_notification_configuration(Bucket="events")
    assert config.get("EventBridgeConfiguration") == {}
    s3.create_bucket(Bucket="quiet")
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(
        Bucket="quiet"
    )


def test_sqs_gap_still_upstream():
    assert terraform_sqs.redrive_whitespace_gap(), "moto writes RedrivePolicy compact: drop it"


def test_redrive_policy_reads_back_compact(aws):
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps(
        {"deadLetterTargetArn": arn, "maxReceiveCount": 1000}, separators=(",", ":")
    )
    queue = sqs.create_queue(QueueName="buffer", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    read = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])
    assert read["Attributes"]["RedrivePolicy"] == policy
