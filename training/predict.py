"""Predict with a model archive through the endpoint's own inference code.

    python -m training.predict --model model.tar.gz IMAGE...

prints one JSON line per image: `{"image": ..., "probabilities": [p_bicycle, p_motorcycle],
"label": ...}` (or `"error"` for an image that cannot be read). `Predictor` is the Python API
(the drift baseline uses it).
"""

from __future__ import annotations

import json
import pickle
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from contract import CLASS_NAMES
from contract.cli import CliParser
from serving import inference
from serving.inference import (
    InferenceError,
    InvalidImageError,
    ModelArchiveError,
    UnsupportedContentTypeError,
)

__all__ = [
    "InferenceError",
    "InvalidImageError",
    "ModelArchiveError",
    "Predictor",
    "UnsupportedContentTypeError",
]

REQUIRED_MEMBERS = (inference.WEIGHTS_FILE, "code/inference.py")
MAX_ARCHIVE_MEMBER_BYTES = 512 * 1024 * 1024


class Predictor:
    """The model of one `model.tar.gz`, answering like the endpoint does."""

    def __init__(self, model: inference.Ensemble) -> None:
        self._model = model

    @classmethod
    def from_archive(cls, path: str | Path) -> Predictor:
        """Load `model.tar.gz` written by `training.train`; `ModelArchiveError` otherwise."""
        path = Path(path)
        try:
            with tarfile.open(path, "r:*") as tar, tempfile.TemporaryDirectory() as workdir:
                names = set(tar.getnames())
                missing = [m for m in REQUIRED_MEMBERS if m not in names]
                if missing:
                    raise ModelArchiveError(
                        f"{path} is not one of our model archives: no {missing}"
                    )
                # The weights, and the export where the archive has one (`model_fn` reads both).
                for name in (inference.WEIGHTS_FILE, inference.ONNX_FILE):
                    if name not in names:
                        continue
                    member = tar.getmember(name)
                    if not member.isfile() or member.size > MAX_ARCHIVE_MEMBER_BYTES:
                        raise ModelArchiveError(f"{path}: {name} is not a sane file")
                    # The "data" filter refuses absolute paths, links out of the tree and devices.
                    tar.extract(member, workdir, filter="data")
                return cls(inference.model_fn(workdir))
        except ModelArchiveError:
            raise
        except (OSError, tarfile.TarError, EOFError, zlib.error) as error:
            # (a truncated or corrupt gzip stream is EOFError or zlib.error, not OSError)
            reason = " ".join(str(error).split())  # (tarfile lists each method on a line)
            raise ModelArchiveError(f"cannot read model archive {path}: {reason}") from error
        except (RuntimeError, ValueError, pickle.UnpicklingError) as error:  # torch.load's
            raise ModelArchiveError(f"{path}: the weights do not load: {error}") from error

    def predict_bytes(self, body: bytes, content_type: str) -> list[float]:
        """One encoded image -> `[p_bicycle, p_motorcycle]`, exactly the endpoint's answer."""
        tensor = inference.input_fn(body, content_type)
        prediction = inference.predict_fn(tensor, self._model)
        answer = json.loads(inference.output_fn(prediction, "application/json"))
        return [float(p) for p in answer]

    def predict_encoded(self, bodies: Sequence[bytes]) -> np.ndarray:
        """Encoded images -> probabilities (n, 2), each prepared exactly as the endpoint does
        (`InvalidImageError` for one it would refuse)."""
        if not bodies:
            return np.zeros((0, len(CLASS_NAMES)), dtype=np.float64)
        images = [inference.decode_image(body) for body in bodies]
        return self.predict_arrays(np.stack([inference.image_to_array(i) for i in images]))

    def predict_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Decoded PIL images -> probabilities of shape (n, 2)."""
        for image in images:
            if not isinstance(image, Image.Image) or 0 in image.size:
                raise InvalidImageError(f"not a non-empty PIL image: {image!r}")
        if not images:
            return np.zeros((0, len(CLASS_NAMES)), dtype=np.float64)
        return self.predict_arrays(np.stack([inference.image_to_array(i) for i in images]))

    def predict_arrays(self, arrays: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 arrays (n, 3, 32, 32) as made by `image_to_array` -> probabilities (n, 2)."""
        parts = [
            inference.predict_fn(
                inference.arrays_to_tensor(arrays[i : i + batch_size]), self._model
            )
            for i in range(0, len(arrays), batch_size)
        ]
        if not parts:
            return np.zeros((0, len(CLASS_NAMES)), dtype=np.float64)
        return np.concatenate(parts).astype(np.float64)


CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(description="Classify images with a model.tar.gz.")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("images", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        predictor = Predictor.from_archive(args.model)
    except ModelArchiveError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failures = 0
    for path in args.images:
        line: dict[str, object] = {"image": str(path)}
        try:
            content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/x-image")
            probabilities = predictor.predict_bytes(path.read_bytes(), content_type)
            line["probabilities"] = probabilities
            line["label"] = CLASS_NAMES[int(np.argmax(probabilities))]
        except (InferenceError, OSError) as error:
            line["error"] = f"{type(error).__name__}: {error}"
            failures += 1
        print(json.dumps(line), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
