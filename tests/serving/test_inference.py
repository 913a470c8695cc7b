"""The serving handlers on bad input (typed errors with their HTTP status, never a stray
exception) and the serving-time transforms of the network: batch norms folded, threads shared."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from contract import DEFAULT_LIMITS
from contract.images import ImageRejected, read_header
from serving import inference
from serving.inference import InferenceError, InvalidImageError, UnsupportedContentTypeError
from serving.network import EfficientNetLite, SmallResNet
from tests import images

SAMPLE = images.seeded("serving-sample", noise=True)  # a real, textured 32x32 PNG


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/x-image",
                                          "IMAGE/PNG; charset=binary"])  # fmt: skip
def test_supported_content_types(content_type: str) -> None:
    tensor = inference.input_fn(SAMPLE, content_type)
    assert tensor.shape == (1, 3, 32, 32)
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", "", "image/gif"])
def test_unsupported_content_type(content_type: str) -> None:
    with pytest.raises(UnsupportedContentTypeError) as raised:
        inference.input_fn(SAMPLE, content_type)
    assert raised.value.status_code == 415


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"hello, I am not an image", "not a PNG or JPEG"),
        (SAMPLE[:40], "not a readable"),  # truncated PNG
        (images.png_declaring(0, 16), "no pixels|not a readable"),  # zero width
        (images.png_declaring(16, 0), "no pixels|not a readable"),  # zero height
        (images.png_declaring(9000, 9000), "pixel limit"),  # decompression bomb: before decoding
        (images.png_declaring(5000, 5000), "pixels per byte"),  # 25 MP in a few bytes: a bomb
        (b"\x89PNG" + b"\x00" * (DEFAULT_LIMITS.max_bytes + 1), "above the limit"),
        (_gif(), "GIF"),
    ],
)
def test_bad_images_raise_invalid_image(body: bytes, message: str) -> None:
    with pytest.raises(InvalidImageError, match=message) as raised:
        inference.input_fn(body, "image/png")
    assert raised.value.status_code == 400


def test_text_body_is_refused() -> None:
    with pytest.raises(InvalidImageError):
        inference.input_fn("not bytes", "image/png")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzzed_bodies_give_a_tensor_or_a_typed_error(body: bytes) -> None:
    try:
        tensor = inference.input_fn(body, "application/x-image")
    except InvalidImageError:
        return
    assert tensor.shape == (1, 3, 32, 32)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 20), st.integers(0, len(SAMPLE) - 1), st.integers(0, 255))
def test_fuzzed_corruptions_of_a_real_png(extra: int, position: int, value: int) -> None:
    body = bytearray(SAMPLE)
    body[position] = value
    body += b"\x00" * extra
    try:
        tensor = inference.input_fn(bytes(body), "image/png")
    except InvalidImageError:
        return
    assert tensor.shape == (1, 3, 32, 32)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 96),
    st.integers(1, 96),
    st.sampled_from(["RGB", "RGBA", "L", "P", "LA", "I;16"]),
    st.sampled_from(["PNG", "JPEG"]),
)
def test_any_real_image_mode_is_accepted_within_the_contract_limits(
    width, height, mode, image_format
) -> None:
    """Inside the limits every mode gives a tensor; outside, the gate's own refusal (the endpoint
    and the gate share `contract.images`)."""
    image = Image.new(mode, (width, height))
    if image_format == "JPEG" and mode not in {"RGB", "L"}:
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    body = buffer.getvalue()
    try:
        read_header(body)
    except ImageRejected as refusal:
        with pytest.raises(InvalidImageError, match=re.escape(str(refusal))):
            inference.input_fn(body, "application/x-image")
        return
    assert inference.input_fn(body, "application/x-image").shape == (1, 3, 32, 32)


def test_output_is_the_builtin_algorithms_json() -> None:
    assert json.loads(inference.output_fn(np.array([[0.25, 0.75]]), "application/json")) == [
        0.25,
        0.75,
    ]
    with pytest.raises(InferenceError) as raised:
        inference.output_fn(np.array([[0.5, 0.5]]), "text/csv")
    assert raised.value.status_code == 406


@pytest.mark.parametrize("network", ["small_resnet", "lite0"])
def test_folding_batch_norms_keeps_the_answers(network: str) -> None:
    """Serving folds every batch norm into its convolution: none is left, same answers."""
    torch.manual_seed(0)
    model = SmallResNet() if network == "small_resnet" else EfficientNetLite("lite0")
    for norm in model.modules():  # statistics and affine terms far from the identity
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.normal_(0, 0.5)
            norm.running_var.uniform_(0.2, 3.0)
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.normal_(0, 0.3)
    model.eval()
    images = torch.rand(3, 3, 32, 32) if network == "small_resnet" else torch.rand(2, 3, 96, 96)
    with torch.inference_mode():
        expected = model(images)
        folded = inference.fold_batch_norms(model)
        answer = folded(images)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(answer, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [(2, None, 2), (2, "2", 1), (8, "2", 4), (16, "2", 4), (8, "3", 2), (2, "4", 1),
     (4, "0", 4), (4, "many", 4), (1, None, 1)],
)  # fmt: skip
def test_each_serving_worker_takes_its_share_of_the_cores(
    cores: int, workers: str | None, threads: int
) -> None:
    environ = {} if workers is None else {"SAGEMAKER_MODEL_SERVER_WORKERS": workers}
    assert inference.serving_threads(cores, environ) == threads
