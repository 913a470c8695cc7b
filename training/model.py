"""The model and its `model.tar.gz` (SageMaker layout: `model.pth`, `model.onnx` + `code/`).

The network itself lives in `serving/network.py` because it ships inside the archive.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from contract import CLASS_NAMES, source_files
from serving import inference
from serving.network import SmallResNet, build_network
from training import serving_wheels
from training.decision import DECISION_FILE

__all__ = ["SmallResNet", "build_network", "make_checkpoint", "write_archive", "write_model_dir"]

SERVING_DIR = Path(inference.__file__).resolve().parent
# Shipped as `code/`: the handlers, the network and the contract package they import.
SERVING_FILES = ("inference.py", "network.py")


def code_files() -> list[tuple[str, bytes]]:
    """The archive's `code/` directory as (path under code/, content) pairs: the serving code,
    and ONNX Runtime's wheels with the `requirements.txt` that installs them (when fetched)."""
    serving = [(name, (SERVING_DIR / name).read_bytes()) for name in SERVING_FILES]
    return serving + source_files() + serving_wheels.archive_files()


def make_checkpoint(
    members: Sequence[dict[str, torch.Tensor]],
    arch: dict[str, Any],
    tta_hflip: bool = True,
    pretrained: dict[str, Any] | None = None,
    temperature: float = 1.0,
) -> dict[str, Any]:
    """The `model.pth` payload, plain values and tensors loadable with `weights_only=True`.

    `members`: each from-scratch network's state dict; `pretrained`: the pretrained member's
    `{"backbones", "resolution", "state"}`, if any; `temperature`: the calibration.
    """
    checkpoint = {
        "format": inference.ARCHIVE_FORMAT,
        "format_version": inference.ARCHIVE_FORMAT_VERSION,
        "class_names": list(CLASS_NAMES),
        "arch": dict(arch),
        "tta_hflip": tta_hflip,
        "calibration": {"method": "temperature", "temperature": float(temperature)},
        "members": [
            {key: value.detach().cpu().clone() for key, value in state.items()} for state in members
        ],
    }
    if pretrained is not None:
        checkpoint["pretrained"] = {
            "backbones": list(pretrained["backbones"]),
            "resolution": int(pretrained["resolution"]),
            "state": {k: v.detach().cpu().clone() for k, v in pretrained["state"].items()},
        }
    return checkpoint


# ONNX opset of the export: 17 holds every operator the networks use, and ONNX Runtime 1.16+
# (any serving container's) runs it.
ONNX_OPSET = 17


def export_onnx(checkpoint: dict[str, Any]) -> bytes | None:
    """The served one-image answer (`inference.CalibratedAnswer`, batch norms folded) as ONNX
    bytes, for `model.onnx`; None, with a warning, where this torch cannot export it (the
    archive then serves through TorchScript: slower, the same answers)."""
    model = inference.model_from_checkpoint(checkpoint)
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
            torch.onnx.export(
                inference.CalibratedAnswer(model).eval(),
                (torch.zeros(inference.SINGLE_IMAGE),),
                buffer,  # type: ignore[arg-type]  # (the TorchScript exporter takes a file object)
                opset_version=ONNX_OPSET,
                input_names=["image"],
                output_names=["probabilities"],
                dynamo=False,
            )
    except Exception as error:  # whatever the exporter raises, the archive still serves
        logging.getLogger(__name__).warning("no %s: export failed: %s", inference.ONNX_FILE, error)
        return None
    return buffer.getvalue()


def write_model_dir(
    checkpoint: dict[str, Any], model_dir: Path, decision: dict[str, Any] | None = None
) -> None:
    """Write `model.pth`, `model.onnx`, `decision.json` and `code/` into `model_dir` (what
    SageMaker tars from SM_MODEL_DIR)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, model_dir / inference.WEIGHTS_FILE)
    exported = export_onnx(checkpoint)
    if exported is not None:
        (model_dir / inference.ONNX_FILE).write_bytes(exported)
    if decision is not None:
        (model_dir / DECISION_FILE).write_text(_decision_json(decision))
    for name, content in code_files():
        destination = model_dir / "code" / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(content)


def write_archive(
    checkpoint: dict[str, Any], archive: Path, decision: dict[str, Any] | None = None
) -> None:
    """Write `model.tar.gz` with `model.pth`, `model.onnx`, `decision.json` and `code/` at its
    root."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    with tarfile.open(archive, "w:gz") as tar:
        # First: promotion streams the archive only until it finds decision.json.
        if decision is not None:
            _add_bytes(tar, DECISION_FILE, _decision_json(decision).encode())
        _add_bytes(tar, inference.WEIGHTS_FILE, buffer.getvalue())
        exported = export_onnx(checkpoint)
        if exported is not None:
            _add_bytes(tar, inference.ONNX_FILE, exported)
        for name, content in code_files():
            _add_bytes(tar, f"code/{name}", content)


def _decision_json(decision: dict[str, Any]) -> str:
    return json.dumps(decision, indent=2, allow_nan=False) + "\n"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
