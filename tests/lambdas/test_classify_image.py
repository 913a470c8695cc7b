"""classify_image: the image document, the endpoint's answer, error mapping, and the handler."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from contract import DEFAULT_LIMITS
from devkit.moto_patches import sagemaker_runtime
from lambdas.classify_image import handler as classify
from lambdas.classify_image.core import (
    ClassifySettings,
    classification,
    endpoint_error,
    inference_id_for,
    parse_event,
    parse_prediction,
)
from lambdas.shared.aws import client
from lambdas.shared.errors import (
    ConfigurationError,
    EndpointRejected,
    EndpointThrottled,
    EndpointUnavailable,
    InvalidEvent,
    InvalidImage,
    ModelError,
)
from lambdas.shared.images import prepare_upload
from tests import images
from tests.emulated import endpoint_bodies
from tests.lambdas.context import Context


def document(data: bytes, inline: bool = True, **extra) -> dict:
    image = {
        "s3_bucket": "uploads",
        "s3_key": "k.png",
        "content_type": "image/png",
        "sha256": hashlib.sha256(data).hexdigest(),
        **extra,
    }
    if inline:
        image["inline_b64"] = base64.b64encode(data).decode()
    return {"image": image, "execution_id": "arn:aws:states:x"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[0.2, 0.8]", (0.2, 0.8)),
        (b"[[0.995, 0.005]]", (0.995, 0.005)),
        (b"[1, 0]", (1.0, 0.0)),
    ],
)
def test_predictions_are_parsed(body, expected):
    assert parse_prediction(body, 0.01) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b'{"p": [0.5, 0.5]}',
        b"[0.5]",
        b"[0.3, 0.3, 0.4]",
        b"[0.7, 0.7]",
        b'["0.5", "0.5"]',
        b"[true, false]",
        b"[NaN, 1]",
        b"[1.5, -0.5]",
        b"[[0.5, 0.5], [0.5, 0.5]]",
    ],
)
def test_answers_that_are_no_prediction_are_model_errors(body):
    with pytest.raises(ModelError):
        parse_prediction(body, 0.01)


def test_classification_picks_the_top_class():
    result = classification((0.1, 0.9), "ep", "v1")["classification"]
    assert (result["label"], result["class_index"], result["confidence"]) == ("motorcycle", 1, 0.9)
    assert (result["endpoint_name"], result["invoked_variant"]) == ("ep", "v1")


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "InvokeEndpoint",
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("ThrottlingException", 400), EndpointThrottled),
        (client_error("ModelNotReadyException", 429), EndpointThrottled),
        (client_error("ServiceUnavailable", 503), EndpointUnavailable),
        (client_error("InternalFailure", 500), EndpointUnavailable),
        (client_error("ModelError", 424), ModelError),
        (client_error("ValidationError", 400), EndpointRejected),
        (EndpointConnectionError(endpoint_url="http://x"), EndpointUnavailable),
        (ReadTimeoutError(endpoint_url="http://x"), EndpointUnavailable),
        (ParamValidationError(report="bad"), EndpointRejected),
    ],
)
def test_endpoint_errors_map_to_retryable_or_not(error, expected):
    mapped = endpoint_error(error, "ep")
    assert type(mapped) is expected
    assert mapped.retryable == (expected in (EndpointThrottled, EndpointUnavailable))


def test_events_are_validated():
    data = images.solid()
    assert parse_event(document(data)).inline == data
    for bad in (
        {},
        {"image": {}},
        document(data, content_type="image/gif"),
        document(data, inline=False, inline_b64="***"),
        document(data, sha256="0" * 64),
        document(data, prepared="yes"),
        document(data, prepared={**prepared_part(data), "content_type": "image/jpeg"}),
        document(data, prepared={"content_type": "image/png"}),  # no inline_b64
        document(data, prepared={**prepared_part(data), "sha256": "0" * 64}),
    ):
        with pytest.raises(InvalidEvent):
            parse_event(bad)
    assert parse_event(document(data, prepared=prepared_part(b"png"))).prepared == b"png"


def prepared_part(png: bytes) -> dict:
    """The `prepared` part of serialize_image's document, for bytes `png`."""
    return {
        "content_type": "image/png",
        "sha256": hashlib.sha256(png).hexdigest(),
        "inline_b64": base64.b64encode(png).decode(),
    }


@pytest.mark.integration
def test_handler_sends_the_prepared_image_not_the_upload(aws, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "prepared-endpoint")
    upload = images.solid((640, 480), "JPEG", colour=(9, 90, 9))
    png = prepare_upload(upload, DEFAULT_LIMITS).png
    event = document(upload, inline=False, content_type="image/jpeg", prepared=prepared_part(png))
    aws.set_sagemaker_results([{"Body": "[0.2, 0.8]", "ContentType": "application/json"}])
    # no bucket exists: the prepared image travels in the document, nothing is read from S3
    result = classify.handler(event, Context())["classification"]
    assert result["probabilities"] == {"bicycle": 0.2, "motorcycle": 0.8}
    assert endpoint_bodies("prepared-endpoint") == [png]


def test_the_inference_id_is_fixed_by_the_pinned_object_and_the_model():
    """A repeated run of one request (Express runs at least once) gets the same id, hence the
    same review execution name and label record key; another object, version, model or
    threshold override gets another."""
    doc = parse_event(document(b"png-1", etag='"e1"', version_id="v1"))
    first = inference_id_for(doc, "endpoint", "model-v7")
    assert first == inference_id_for(doc, "endpoint", "model-v7")
    assert len(first) == 36
    others = {
        inference_id_for(
            parse_event(document(b"png-2", etag='"e1"', version_id="v1")), "endpoint", "model-v7"
        ),
        inference_id_for(
            parse_event(document(b"png-1", etag='"e2"', version_id="v2")), "endpoint", "model-v7"
        ),
        inference_id_for(
            parse_event(document(b"png-1", etag='"e1"', version_id="v1", s3_key="j.png")),
            "endpoint",
            "model-v7",
        ),
        inference_id_for(doc, "endpoint", "model-v8"),
        inference_id_for(doc, "other-endpoint", "model-v7"),
        inference_id_for(doc, "endpoint", "model-v7", 0.97),  # another threshold: another decision
    }
    assert first not in others and len(others) == 6
    assert inference_id_for(doc, "endpoint", "model-v7", 0.97) == inference_id_for(
        doc, "endpoint", "model-v7", 0.97
    )
    unpinned = dataclasses.replace(doc, version_id=None, etag=None, sha256=None)
    assert inference_id_for(unpinned, "e", "m") != inference_id_for(unpinned, "e", "m")


def test_endpoint_name_is_required_configuration():
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME"):
        ClassifySettings.from_env({})


@pytest.mark.integration
def test_handler_inline_and_by_reference(aws, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "unit-endpoint")
    first, second = images.solid(colour=(1, 1, 1)), images.solid(colour=(2, 2, 2))
    aws.set_sagemaker_results(
        [
            {"Body": "[0.99, 0.01]", "ContentType": "application/json"},
            {"Body": "[0.3, 0.7]", "ContentType": "application/json"},
        ]
    )
    monkeypatch.setenv("MODEL_VERSION", "v12")
    inline = classify.handler(document(first), Context())["classification"]
    assert (inline["label"], inline["endpoint_name"]) == ("bicycle", "unit-endpoint")
    # The InferenceId sent on InvokeEndpoint comes back (one per image), with the model version.
    assert len(inline["inference_id"]) == 36 and inline["model_version"] == "v12"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="uploads")
    etag = s3.put_object(Bucket="uploads", Key="k.png", Body=second)["ETag"]
    referenced = classify.handler(document(second, inline=False, etag=etag), Context())
    assert referenced["classification"]["probabilities"] == {"bicycle": 0.3, "motorcycle": 0.7}
    assert referenced["classification"]["inference_id"] != inline["inference_id"]
    s3.put_object(Bucket="uploads", Key="k.png", Body=first)  # overwritten after validation
    with pytest.raises(InvalidImage, match="changed"):
        classify.handler(document(second, inline=False, etag=etag), Context())


@pytest.mark.integration
def test_handler_surfaces_endpoint_faults(aws, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "faulty-endpoint")
    sagemaker_runtime.inject_fault("faulty-endpoint", 400, "ThrottlingException", times=1)
    sagemaker_runtime.inject_fault("faulty-endpoint", 424, "ModelError", times=1)
    try:
        with pytest.raises(EndpointThrottled):
            classify.handler(document(images.solid(colour=(3, 3, 3))), Context())
        with pytest.raises(ModelError):
            classify.handler(document(images.solid(colour=(3, 3, 3))), Context())
    finally:
        sagemaker_runtime.clear_faults()


def test_handler_error_names_are_what_lambda_reports():
    # Lambda's errorType is the exception class name; the ASL matches exactly these.
    assert json.loads(json.dumps({"errorType": type(ModelError("x")).__name__})) == {
        "errorType": "ModelError"
    }


def test_clients_are_created_once_per_container():
    runtime = client("sagemaker-runtime", max_attempts=1)
    assert runtime is client("sagemaker-runtime", max_attempts=1)
    assert client("s3") is client("s3")
