"""Make an emulated SageMaker endpoint serve our real model and capture its traffic.

moto's SageMaker runtime answers InvokeEndpoint with canned results and never writes data
capture. For the local stage we want the whole path to be real: when the endpoint exists in the
emulator and its model's `ModelDataUrl` points at one of our `model.tar.gz` archives in emulated
S3, this patch runs the archive's inference code (the same code the PyTorch serving container
runs) and, when the endpoint config enables data capture, writes SageMaker's JSON Lines capture
records under `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, with the call's
`InferenceId` as `eventMetadata.inferenceId` like SageMaker (labels join to captures by it).

Anything else (no such endpoint, no archive, an archive that is not ours) falls through to
moto's own canned behaviour, so tests that queue canned results are unaffected.
"""

from __future__ import annotations

import base64
import json
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_MARKER = "_vehicle_classifier_serving"
_lock = threading.Lock()
# (model data URL, S3 etag) -> predictor; an archive is loaded once per version.
_predictors: dict[tuple[str, str], Any] = {}


def _split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _s3_backend(account_id: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account_id]["aws"]


def _endpoint_variant(account_id: str, region: str, endpoint_name: str) -> tuple[Any, Any] | None:
    """(endpoint config, production variant) of an emulated endpoint, or None."""
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[account_id][region]
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        return None
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    if config is None or not config.production_variants:
        return None
    # Weighted routing is not emulated: the first variant answers.
    return config, config.production_variants[0]


def _model_data_url(account_id: str, region: str, model_name: str) -> str | None:
    from moto.sagemaker.models import sagemaker_backends

    model = sagemaker_backends[account_id][region]._models.get(model_name)
    if model is None:
        return None
    containers = [model.primary_container, *(model.containers or [])]
    for container in containers:
        if container and container.get("ModelDataUrl"):
            return str(container["ModelDataUrl"])
    return None


def _predictor(account_id: str, model_url: str) -> Any | None:
    bucket, key = _split_s3_uri(model_url)
    try:
        stored = _s3_backend(account_id).get_object(bucket, key)
    except Exception:
        return None
    if stored is None:
        return None
    cache_key = (model_url, str(stored.etag))
    with _lock:
        if cache_key in _predictors:
            return _predictors[cache_key]
        try:
            from training.predict import Predictor
        except ImportError:  # torch extra not installed: keep moto's canned answers
            return None
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "model.tar.gz"
            archive.write_bytes(stored.value)
            try:
                predictor = Predictor.from_archive(archive)
            except Exception:
                predictor = None  # not one of our archives
        _predictors[cache_key] = predictor
        return predictor


def _capture(
    account_id: str,
    config: Any,
    *,
    endpoint_name: str,
    variant_name: str,
    request: tuple[bytes, str],
    response: tuple[str, str],
    inference_id: str | None = None,
) -> None:
    capture = config.data_capture_config or {}
    if not capture.get("EnableCapture") or not capture.get("DestinationS3Uri"):
        return
    modes = {option.get("CaptureMode") for option in capture.get("CaptureOptions", [])}
    headers = capture.get("CaptureContentTypeHeader") or {}
    json_types = set(headers.get("JsonContentTypes") or [])
    csv_types = set(headers.get("CsvContentTypes") or [])

    def encode(body: bytes, content_type: str) -> tuple[str, str]:
        if content_type in json_types:
            return body.decode("utf-8", "replace"), "JSON"
        if content_type in csv_types:
            return body.decode("utf-8", "replace"), "CSV"
        return base64.b64encode(body).decode("ascii"), "BASE64"

    now = datetime.now(UTC)
    record: dict[str, Any] = {"captureData": {}}
    if "Input" in modes or not modes:
        data, encoding = encode(*request)
        record["captureData"]["endpointInput"] = {
            "observedContentType": request[1],
            "mode": "INPUT",
            "data": data,
            "encoding": encoding,
        }
    if "Output" in modes or not modes:
        data, encoding = encode(response[0].encode(), response[1])
        record["captureData"]["endpointOutput"] = {
            "observedContentType": response[1],
            "mode": "OUTPUT",
            "data": data,
            "encoding": encoding,
        }
    event_id = str(uuid.uuid4())
    record["eventMetadata"] = {
        "eventId": event_id,
        "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if inference_id:
        record["eventMetadata"]["inferenceId"] = inference_id
    record["eventVersion"] = "0"
    bucket, prefix = _split_s3_uri(str(capture["DestinationS3Uri"]).rstrip("/"))
    key = (
        f"{prefix}/{endpoint_name}/{variant_name}/{now:%Y/%m/%d/%H}/{now:%M-%S-%f}-{event_id}.jsonl"
    ).lstrip("/")
    _s3_backend(account_id).put_object(bucket, key, (json.dumps(record) + "\n").encode())


def serve(
    account_id: str,
    region: str,
    endpoint_name: str,
    body: bytes,
    content_type: str,
    *,
    inference_id: str | None = None,
) -> tuple[int, dict[str, str], str] | None:
    """Answer an InvokeEndpoint with the endpoint's real model, or None to fall through."""
    found = _endpoint_variant(account_id, region, endpoint_name)
    if found is None:
        return None
    config, variant = found
    model_url = _model_data_url(account_id, region, variant.get("ModelName", ""))
    if model_url is None:
        return None
    predictor = _predictor(account_id, model_url)
    if predictor is None:
        return None
    variant_name = str(variant.get("VariantName", "AllTraffic"))
    try:
        probabilities = predictor.predict_bytes(body, content_type)
    except Exception as error:
        # What the real runtime does when the container answers 4xx: a ModelError (424).
        message = f'Received client error (400) from primary with message "{error}"'
        headers = {
            "x-amzn-ErrorType": "ModelError",
            "Content-Type": "application/json",
            "status": "424",  # moto's dispatcher takes the HTTP status from this header
        }
        payload = {"message": message, "OriginalStatusCode": 400, "OriginalMessage": str(error)}
        return 424, headers, json.dumps(payload)
    answer = json.dumps([float(p) for p in probabilities])
    _capture(
        account_id,
        config,
        endpoint_name=endpoint_name,
        variant_name=variant_name,
        request=(body, content_type),
        response=(answer, "application/json"),
        inference_id=inference_id,
    )
    headers = {
        "Content-Type": "application/json",
        "x-Amzn-Invoked-Production-Variant": variant_name,
    }
    return 200, headers, answer


def apply() -> None:
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    original = SageMakerRuntimeResponse.invoke_endpoint
    if getattr(original, _MARKER, False):
        return

    def invoke_endpoint(self: Any) -> Any:
        endpoint_name = self.path.split("/")[2]
        # sagemaker_runtime.py makes moto keep the raw (binary) body.
        raw = getattr(self, "raw_body", None) or self.body
        body = raw if isinstance(raw, bytes) else str(raw or "").encode()
        content_type = str(self.headers.get("Content-Type") or "application/octet-stream")
        inference_id = self.headers.get("X-Amzn-SageMaker-Inference-Id") or None
        served = serve(
            self.current_account,
            self.region,
            endpoint_name,
            body,
            content_type,
            inference_id=inference_id,
        )
        if served is None:
            return original(self)
        return served

    setattr(invoke_endpoint, _MARKER, True)
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
