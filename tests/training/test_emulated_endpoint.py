"""The emulator's endpoint serves our real model archive and writes real data capture.

Glue under test: devkit/moto_patches/sagemaker_serving.py (moto only answers canned results and
never captures). The local stage and the end-to-end run depend on it.
"""

from __future__ import annotations

import json

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from monitoring.capture import parse_line
from tests import images
from tests.training.tiny import synthetic_image

pytestmark = pytest.mark.integration

BUCKET = "models"


def _deploy(archive_bytes: bytes | None, endpoint: str, capture: bool = True) -> None:
    s3 = boto3.client("s3")
    sagemaker = boto3.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    container = {"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.5"}
    if archive_bytes is not None:
        s3.put_object(Bucket=BUCKET, Key=f"{endpoint}/model.tar.gz", Body=archive_bytes)
        container["ModelDataUrl"] = f"s3://{BUCKET}/{endpoint}/model.tar.gz"
    sagemaker.create_model(
        ModelName=f"{endpoint}-model",
        PrimaryContainer=container,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
    )
    config: dict = {
        "EndpointConfigName": f"{endpoint}-config",
        "ProductionVariants": [
            {
                "VariantName": "blue",
                "ModelName": f"{endpoint}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    }
    if capture:
        config["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        }
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")


def test_endpoint_answers_with_the_archive_and_captures(aws, trained_archive, predictor):
    _deploy(trained_archive.read_bytes(), "served")
    image = images.encode(synthetic_image(1, np.random.default_rng(7)))
    runtime = boto3.client("sagemaker-runtime")
    response = runtime.invoke_endpoint(
        EndpointName="served", ContentType="image/png", Body=image, InferenceId="inf-123"
    )
    answer = json.loads(response["Body"].read())
    assert answer == pytest.approx(predictor.predict_bytes(image, "image/png"))
    assert response["InvokedProductionVariant"] == "blue"

    keys = [
        item["Key"]
        for item in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="capture/")["Contents"]
    ]
    assert len(keys) == 1
    parts = keys[0].split("/")
    assert parts[1:3] == ["served", "blue"] and len(parts) == 8  # .../yyyy/mm/dd/hh/file
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    # Like SageMaker: the call's InferenceId in the capture, so label records join to it.
    assert json.loads(body)["eventMetadata"]["inferenceId"] == "inf-123"
    record = parse_line(body.decode().strip())
    assert record.probabilities == pytest.approx(answer)
    assert record.image_bytes == image
    assert record.content_type == "image/png" and not record.problems


def test_non_image_is_a_model_error(aws, trained_archive):
    _deploy(trained_archive.read_bytes(), "strict", capture=False)
    runtime = boto3.client("sagemaker-runtime")
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="strict", ContentType="image/png", Body=b"not a png")
    assert raised.value.response["Error"]["Code"] == "ModelError"


def test_endpoint_without_our_archive_keeps_moto_canned_answers(aws):
    _deploy(b"not a tarball", "canned", capture=False)
    aws.set_sagemaker_results(
        [{"Body": "[0.5, 0.5]", "ContentType": "application/json", "InvokedProductionVariant": "x"}]
    )
    runtime = boto3.client("sagemaker-runtime")
    response = runtime.invoke_endpoint(
        EndpointName="canned", ContentType="image/png", Body=b"canned-probe"
    )
    assert json.loads(response["Body"].read()) == [0.5, 0.5]
