"""SageMaker PyTorch serving handlers: `model_fn`, `input_fn`, `predict_fn`, `output_fn`.

The same functions serve on the endpoint (this file is `code/inference.py` in `model.tar.gz`)
and locally through `training.predict`. Contract, shared with the built-in algorithm: request
body is one PNG or JPEG image (`image/png`, `image/jpeg`, `application/x-image`), the answer is
JSON `[p_bicycle, p_motorcycle]`. Bad requests raise an `InferenceError` subclass whose
`status_code` says which HTTP status fits. Nothing here needs more than torch, numpy and Pillow;
ONNX Runtime, where the container has it (the archive's `code/requirements.txt`), answers the
one-image request from the archive's `model.onnx` (see `model_fn`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image
from torch.nn.utils.fusion import fuse_conv_bn_eval

# `contract` ships beside this file in `code/` (and is a top-level package everywhere else).
from contract import CLASS_NAMES, DEFAULT_LIMITS
from contract.images import ImageRejected, fit_to_model, prepare_image

try:  # imported as part of the `training` package (local prediction, tests)
    from .network import PretrainedLinear, SmallResNet, build_network
except ImportError:  # the serving container puts `code/` itself on sys.path
    from network import PretrainedLinear, SmallResNet, build_network  # type: ignore[no-redef]

ARCHIVE_FORMAT = "vehicle-classifier/small-resnet"
# 2 added the optional pretrained member, 3 the calibration (temperature) fitted on validation,
# 4 the stacking calibration of the member groups; versions 1 and 2 still load, served
# uncalibrated (temperature 1), and 3 with its temperature.
ARCHIVE_FORMAT_VERSION = 4
READABLE_FORMAT_VERSIONS = frozenset({1, 2, 3, 4})
SINGLE_IMAGE = (1, 3, 32, 32)  # one request's input, as `input_fn` makes it
# The pretrained member upscales each image, so a large batch is scored in slices.
PRETRAINED_BATCH = 64
WEIGHTS_FILE = "model.pth"
# The served answer for one image, exported by training (training.model); optional.
ONNX_FILE = "model.onnx"
# Which runtime answers the one-image request: `auto` (ONNX Runtime when the archive has
# model.onnx and onnxruntime imports, else TorchScript), `onnx` (refuse to start without it) or
# `torch`. The endpoint's `SERVING_RUNTIME` environment variable.
RUNTIME_SETTING = "SERVING_RUNTIME"
RUNTIMES = ("auto", "onnx", "torch")
# How far ONNX Runtime's answer may lie from the eager model's on the probe image before the
# archive's model.onnx is refused as not this model (float32 rounding is ~1e-6).
ONNX_TOLERANCE = 1e-4
SUPPORTED_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "application/x-image"})
JSON_ACCEPT = frozenset({"", "*/*", "application/json"})


try:  # In the serving container the inference toolkit answers its own errors with their status
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # anywhere else (local prediction, tests)
    _ToolkitError = Exception


class ServingSettingError(Exception):
    """An endpoint environment setting this code does not know (the container does not start)."""


class InferenceError(ValueError, _ToolkitError):
    """A request the model cannot answer; `status_code` is the fitting HTTP status.

    The serving toolkit turns an exception into a 500 unless it is one of its own errors, which
    it answers with their `status_code`, `message` and `phrase`: so a bad image gets a 4xx.
    """

    status_code = 400

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.phrase = message


class UnsupportedContentTypeError(InferenceError):
    status_code = 415


class InvalidImageError(InferenceError):
    status_code = 400


class UnsupportedAcceptError(InferenceError):
    status_code = 406


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


class ModelArchiveError(RuntimeError):
    """The model directory or archive was not written by `training.train`."""


class Ensemble(torch.nn.Module):
    """Averages class probabilities over the mirrored image, per member group: the from-scratch
    members (`scratch`) and the pretrained member (`pretrained`). The groups' answers are then
    combined and calibrated by `calibration` (see `Calibration`)."""

    def __init__(
        self,
        members: list[SmallResNet],
        tta_hflip: bool,
        pretrained: PretrainedLinear | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.tta_hflip = tta_hflip
        self.pretrained = pretrained
        self.calibration = calibration if calibration is not None else Calibration()
        # The endpoint's one-image request, traced and frozen (`trace_single_image`); kept out
        # of the module tree, so state_dict and eval() see only the ensemble itself.
        self.__dict__["single_image"] = None

    @property
    def temperature(self) -> float:
        return self.calibration.temperature

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        single = self.__dict__["single_image"]
        if single is not None and tuple(images.shape) == SINGLE_IMAGE:
            return single(images)
        return self.calibrated(images)

    def calibrated(self, images: torch.Tensor) -> torch.Tensor:
        """The served answer, computed eagerly (what `trace_single_image` traces)."""
        return self.calibration(self._member_probabilities(images))

    @torch.inference_mode()
    def uncalibrated(self, images: torch.Tensor) -> torch.Tensor:
        """The groups' probabilities averaged, half each (what archives before format 4 served
        before their temperature)."""
        return torch.stack(list(self.member_probabilities(images).values())).mean(dim=0)

    @torch.inference_mode()
    def member_probabilities(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each member group's probabilities, averaged over its networks and the views."""
        return self._member_probabilities(images)

    def _member_probabilities(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        views = [images, torch.flip(images, dims=[3])] if self.tta_hflip else [images]
        groups = {}
        if len(self.members):
            groups["scratch"] = _mean_softmax(list(self.members), views, len(views) * len(images))
        if self.pretrained is not None:
            groups["pretrained"] = _mean_softmax([self.pretrained], views, PRETRAINED_BATCH)
        return groups

    def trace_single_image(self) -> Ensemble:
        """Trace and freeze (TorchScript) the answer for one 32x32 image, the endpoint's
        request: the same answers, less Python per request. Other batch sizes stay eager (the
        trace fixes how a batch is sliced), and so does everything if tracing fails (torch
        2.13 deprecates torch.jit): slower, never a different answer."""
        try:
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.filterwarnings("ignore", "`torch.jit.*` is deprecated", DeprecationWarning)
                traced = torch.jit.trace(
                    CalibratedAnswer(self), torch.rand(SINGLE_IMAGE), check_trace=False
                )
                frozen = torch.jit.freeze(traced.eval())
            with torch.inference_mode():
                for _ in range(2):  # TorchScript optimises on its first calls: not on a request
                    frozen(torch.zeros(SINGLE_IMAGE))
        except Exception as error:  # whatever the failure, the eager model serves
            logging.getLogger(__name__).warning("serving eager, tracing failed: %s", error)
            return self
        self.__dict__["single_image"] = frozen
        return self

    def serve_onnx(self, path: str, threads: int) -> Ensemble:
        """Answer the one-image request with ONNX Runtime on the exported `path` (the eager
        model stays for other batch sizes). `ModelArchiveError` when the file does not load or
        does not answer the probe image as this model does."""
        single = OnnxSingleImage(path, threads)
        probe = torch.rand(SINGLE_IMAGE, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            expected = self.calibrated(probe)
        answer = single(probe)
        if answer.shape != expected.shape or not torch.allclose(
            answer, expected, rtol=0, atol=ONNX_TOLERANCE
        ):
            raise ModelArchiveError(
                f"{ONNX_FILE} does not answer as {WEIGHTS_FILE} does "
                f"({answer.tolist()} against {expected.tolist()} on the probe image)"
            )
        self.__dict__["single_image"] = single
        return self

    @property
    def runtime(self) -> str:
        """What answers the one-image request: `onnxruntime`, `torchscript` or `eager`."""
        single = self.__dict__["single_image"]
        if single is None:
            return "eager"
        return "onnxruntime" if isinstance(single, OnnxSingleImage) else "torchscript"


class OnnxSingleImage:
    """An ONNX Runtime session on the exported one-image answer: float (1, 3, 32, 32) in [0, 1]
    -> calibrated probabilities (1, 2)."""

    def __init__(self, path: str, threads: int) -> None:
        # Optional: only where the archive's code/requirements.txt installed it.
        import onnxruntime  # noqa: PLC0415

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: the server's other workers need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises its own types, not importable everywhere
            raise ModelArchiveError(f"{ONNX_FILE} does not load: {error}") from error
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape) != list(SINGLE_IMAGE):
            raise ModelArchiveError(
                f"{ONNX_FILE} takes {[(i.name, i.shape) for i in inputs]}, not one {SINGLE_IMAGE}"
            )
        self.input_name = inputs[0].name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        (probabilities,) = self.session.run(None, {self.input_name: images.numpy()})
        return torch.from_numpy(probabilities)


class CalibratedAnswer(torch.nn.Module):
    """`Ensemble.calibrated` as a module's forward, to trace."""

    def __init__(self, ensemble: Ensemble) -> None:
        super().__init__()
        self.ensemble = ensemble

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.ensemble.calibrated(images)


def _mean_softmax(
    networks: list[torch.nn.Module], views: list[torch.Tensor], batch: int
) -> torch.Tensor:
    """Mean class probabilities over networks and views, `batch` images at a time. The views go
    through each network as one batch: one pass over the weights instead of one per view."""
    stacked = torch.cat(views)
    probabilities = [
        torch.cat([torch.softmax(network(part), dim=1) for part in stacked.split(max(1, batch))])
        for network in networks
    ]
    per_view = torch.stack(probabilities).unflatten(1, (len(views), -1))  # (nets, views, n, k)
    return per_view.mean(dim=(0, 1))


def calibrate(probabilities: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature scaling of probabilities: softmax(log p / T); T = 1 changes nothing."""
    if temperature == 1.0:
        return probabilities
    return torch.softmax(torch.log(probabilities.clamp_min(1e-12)) / temperature, dim=1)


class Calibration:
    """How the member groups' probabilities become the served ones.

    - `temperature` (archives of format 3; T = 1 for older ones): the groups averaged, half
      each, then softmax(log p / T).
    - `stacking` (format 4): softmax(sum over groups of weight_g * log p_g + bias), a logistic
      regression on the groups' log-probabilities fitted by training (training.calibration).
      A weight of 1/T on a single group is that group's temperature scaling.
    """

    def __init__(
        self,
        temperature: float = 1.0,
        weights: dict[str, float] | None = None,
        bias: list[float] | None = None,
    ) -> None:
        self.temperature = temperature
        self.weights = weights
        self.bias = bias

    def __call__(self, groups: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.weights is None:
            return calibrate(torch.stack(list(groups.values())).mean(dim=0), self.temperature)
        logits = sum(
            weight * torch.log(groups[name].double().clamp_min(1e-12))
            for name, weight in self.weights.items()
        )
        bias = torch.tensor(self.bias or [0.0] * len(CLASS_NAMES), dtype=torch.float64)
        return torch.softmax(logits + bias, dim=1).float()

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> Calibration:
        """The checkpoint's calibration; temperature 1 for archives written before it."""
        calibration = checkpoint.get("calibration")
        if calibration is None:
            return cls()
        try:
            method = calibration["method"]
            if method == "temperature":
                temperature = float(calibration["temperature"])
                if not 0.0 < temperature < float("inf"):
                    raise ValueError("need a positive temperature")
                return cls(temperature)
            if method == "stacking":
                weights = {str(k): float(v) for k, v in calibration["weights"].items()}
                bias = [float(b) for b in calibration["bias"]]
                numbers = [*weights.values(), *bias]
                if (
                    not weights
                    or len(bias) != len(CLASS_NAMES)
                    or not all(abs(x) < float("inf") for x in numbers)
                ):
                    raise ValueError("need finite group weights and one bias per class")
                return cls(weights=weights, bias=bias)
            raise ValueError(f"unknown method {method!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelArchiveError(f"bad calibration {calibration!r}: {error}") from error


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read and check `model.pth` (tensors and plain values only: `weights_only`)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ModelArchiveError(f"no {WEIGHTS_FILE} in the model directory") from error
    except Exception as error:
        raise ModelArchiveError(f"{WEIGHTS_FILE} is not a checkpoint of ours: {error}") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != ARCHIVE_FORMAT:
        raise ModelArchiveError(f"{WEIGHTS_FILE} was not written by training.train")
    if checkpoint.get("format_version") not in READABLE_FORMAT_VERSIONS:
        raise ModelArchiveError(f"unsupported format_version {checkpoint.get('format_version')}")
    if tuple(checkpoint.get("class_names", ())) != CLASS_NAMES:
        raise ModelArchiveError(f"class names {checkpoint.get('class_names')} != {CLASS_NAMES}")
    if not checkpoint.get("members") and not checkpoint.get("pretrained"):
        raise ModelArchiveError("the checkpoint holds no model weights")
    return checkpoint


def _load(network: torch.nn.Module, state: Any) -> None:
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise ModelArchiveError(f"weights do not fit the architecture: {error}") from error


def model_from_checkpoint(checkpoint: dict[str, Any]) -> Ensemble:
    members = []
    for state in checkpoint.get("members") or []:
        network = build_network(checkpoint["arch"])
        _load(network, state)
        members.append(network.eval())
    pretrained = None
    if checkpoint.get("pretrained"):
        entry = checkpoint["pretrained"]
        try:
            pretrained = PretrainedLinear(list(entry["backbones"]), int(entry["resolution"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ModelArchiveError(f"bad pretrained member: {error}") from error
        _load(pretrained, entry.get("state"))
        pretrained.eval()
    tta_hflip = bool(checkpoint.get("tta_hflip", True))
    calibration = Calibration.from_checkpoint(checkpoint)
    groups = {"scratch"} if members else set()
    groups |= {"pretrained"} if pretrained is not None else set()
    if calibration.weights is not None and not set(calibration.weights) <= groups:
        raise ModelArchiveError(
            f"bad calibration: it weighs member groups {sorted(calibration.weights)}, "
            f"the model has {sorted(groups)}"
        )
    ensemble = Ensemble(members, tta_hflip, pretrained, calibration).eval()
    return fold_batch_norms(ensemble)


def fold_batch_norms(module: ModuleT) -> ModuleT:
    """Fold each inference-mode batch norm into the convolution before it (in place; the same
    answers to float rounding, one pass over the activations fewer per convolution)."""
    for child in module.children():
        fold_batch_norms(child)
    if isinstance(module, torch.nn.Sequential):
        pairs = [(str(i), str(i + 1)) for i in range(len(module) - 1)]
    else:  # a residual block's own convolution + batch norm pairs (conv1/bn1, conv2/bn2)
        pairs = [(f"conv{i}", f"bn{i}") for i in (1, 2)]
    for conv_name, norm_name in pairs:
        conv = getattr(module, conv_name, None)
        norm = getattr(module, norm_name, None)
        if isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d):
            setattr(module, conv_name, fuse_conv_bn_eval(conv, norm))
            setattr(module, norm_name, torch.nn.Identity())
    return module


def serving_threads(cores: int, environ: Mapping[str, str]) -> int:
    """Torch threads per serving worker: the cores shared out among the model server's worker
    processes (`SAGEMAKER_MODEL_SERVER_WORKERS`; one when unset or not a positive integer), at
    most 4. Threads that wait on each other stall when other processes hold the cores: on the
    loaded 2-core VM two single-threaded workers answered 2.6 requests/s, one worker on two
    threads 0.2 (`benchmarks.bench_serving`)."""
    try:
        workers = max(1, int(environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "1")))
    except ValueError:
        workers = 1
    return max(1, min(4, cores // workers))


def serving_runtime(environ: Mapping[str, str]) -> str:
    """The `SERVING_RUNTIME` setting (`auto` when unset); `ServingSettingError` otherwise."""
    runtime = environ.get(RUNTIME_SETTING, "auto").strip().lower() or "auto"
    if runtime not in RUNTIMES:
        choices = ", ".join(RUNTIMES)
        raise ServingSettingError(f"{RUNTIME_SETTING}={runtime!r}: use one of {choices}")
    return runtime


def onnx_runtime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def model_fn(model_dir: str) -> Ensemble:
    """Load the model from an extracted `model.tar.gz` (SageMaker calls this once), with its
    threads, and its one-image request served by ONNX Runtime from `model.onnx` (1.45x faster
    than TorchScript on CPU, the same answers to float rounding) or, where the archive or the
    container lacks it or `SERVING_RUNTIME=torch`, traced (`Ensemble.trace_single_image`)."""
    runtime = serving_runtime(os.environ)
    threads = serving_threads(os.cpu_count() or 1, os.environ)
    torch.set_num_threads(threads)
    model = model_from_checkpoint(load_checkpoint(os.path.join(model_dir, WEIGHTS_FILE)))
    onnx_path = os.path.join(model_dir, ONNX_FILE)
    servable = os.path.isfile(onnx_path) and onnx_runtime_available()
    if runtime == "onnx" and not servable:
        raise ModelArchiveError(
            f"{RUNTIME_SETTING}=onnx, but the archive has no {ONNX_FILE} or the container no "
            "onnxruntime (the archive's code/requirements.txt installs it)"
        )
    if runtime != "torch" and servable:
        return model.serve_onnx(onnx_path, threads)
    return model.trace_single_image()


def decode_image(body: bytes) -> Image.Image:
    """PNG/JPEG bytes -> the model's input image (`contract.images.prepare_image`: the same
    preparation as staging and the upload gate), or `InvalidImageError` saying why not."""
    try:
        return prepare_image(body, DEFAULT_LIMITS)
    except ImageRejected as error:
        raise InvalidImageError(str(error)) from None


def image_to_array(image: Image.Image) -> np.ndarray:
    """A decoded image -> RGB uint8 array (3, 32, 32) through the contract's geometry."""
    return np.asarray(fit_to_model(image), dtype=np.uint8).transpose(2, 0, 1).copy()


def arrays_to_tensor(arrays: np.ndarray) -> torch.Tensor:
    """uint8 (n, 3, 32, 32) -> float tensor in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(arrays)).float().div_(255.0)


def normalize_content_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def input_fn(request_body: bytes | bytearray | str, request_content_type: str) -> torch.Tensor:
    """Request body -> a (1, 3, 32, 32) float tensor."""
    content_type = normalize_content_type(request_content_type)
    if content_type not in SUPPORTED_CONTENT_TYPES:
        raise UnsupportedContentTypeError(
            f"content type {request_content_type!r} is not one of {sorted(SUPPORTED_CONTENT_TYPES)}"
        )
    if isinstance(request_body, str):
        raise InvalidImageError("an image body must be bytes, not text")
    image = decode_image(bytes(request_body))
    return arrays_to_tensor(image_to_array(image)[None])


def predict_fn(input_data: torch.Tensor, model: Ensemble) -> np.ndarray:
    """Class probabilities (n, 2), columns in CLASS_NAMES order."""
    return model(input_data).numpy()


def output_fn(prediction: np.ndarray, accept: str | None) -> str:
    """JSON `[p_bicycle, p_motorcycle]` for one image (a list of such lists for several)."""
    if normalize_content_type(accept) not in JSON_ACCEPT:
        raise UnsupportedAcceptError(f"accept type {accept!r}: only application/json")
    rows = [[float(p) for p in row] for row in np.asarray(prediction, dtype=np.float64)]
    return json.dumps(rows[0] if len(rows) == 1 else rows)
