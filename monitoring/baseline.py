"""The drift baseline: feature histograms of the training images and the model's predictions.

`build_baseline` makes one from image files and, optionally, a prediction function over them;
`python -m training.baseline` is the command that builds one by hand (with a model archive's
predictions and threshold: it needs the model, which the drift job's zip does not carry), and
the release step (`training.release`) builds the one a deployed stage reads.

The artifact is versioned JSON: `schema_version`, `created_at`, `content_sha256` (over everything
else, checked on load), and `model.sha256` of the model archive, so a drift run can tell that a
baseline belongs to another model. `load_baseline`/`save_baseline` take a path or an `s3://` URI.
The drift job refuses a baseline whose `threshold` differs from the stage's (monitoring/README.md).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from tqdm import tqdm

from contract import CLASS_NAMES
from lambdas.shared import bounded_json
from monitoring.capture import parse_s3_uri
from monitoring.features import (
    CATEGORICAL_FEATURES,
    IMAGE_NUMERIC,
    ImageBatcher,
    ImageDecodeError,
    decode_image,
)

SCHEMA_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
QUANTILE_STEPS = 100  # fine bins: every 1% of the baseline (KS resolution, see stats.py)
# A baseline is ~30 KB (a dozen features x ~100 bins); anything near this is not one of ours.
MAX_BASELINE_BYTES = 4 * 1024 * 1024

Predict = Callable[[Sequence[Path]], np.ndarray]


class BaselineError(RuntimeError):
    """Missing, unreadable, corrupt or unsupported baseline artifact (or no images to build one)."""


@dataclass
class NumericReference:
    """Counts of the baseline values over bins (-inf, e0), [e0, e1), ..., [e_last, inf)."""

    edges: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_values(cls, values: np.ndarray) -> NumericReference:
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise BaselineError("no finite values to build a reference from")
        quantiles = np.quantile(values, np.linspace(0.0, 1.0, QUANTILE_STEPS + 1))
        # One edge just above the maximum so that larger values get a bin of their own (matters
        # for constant features such as width: 32 vs 64 must land in different bins).
        top = np.nextafter(values.max(), np.inf)
        edges = np.unique(np.concatenate([quantiles, [top]]))
        return cls(edges, bin_counts(edges, values))

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def bin_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


@dataclass
class Baseline:
    numeric: dict[str, NumericReference]
    categorical: dict[str, dict[str, int]]
    threshold: float | None = None  # below_threshold's; None when there are no predictions
    class_names: tuple[str, ...] = CLASS_NAMES
    label_counts: dict[str, int] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION
    content_sha256: str = ""

    @property
    def model_sha256(self) -> str | None:
        return None if self.model is None else str(self.model.get("sha256") or "") or None

    @property
    def has_predictions(self) -> bool:
        return "confidence" in self.numeric

    @property
    def predictions_on_training_images(self) -> bool:
        return self.source.get("prediction_images") == "all"

    def _body(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "created_at": self.created_at,
            "model": self.model,
            "source": self.source,
            "threshold": self.threshold,
            "class_names": list(self.class_names),
            "label_counts": self.label_counts,
            "numeric": {
                name: {"edges": ref.edges.tolist(), "counts": ref.counts.tolist()}
                for name, ref in self.numeric.items()
            },
            "categorical": self.categorical,
        }

    def to_dict(self) -> dict[str, Any]:
        body = self._body()
        return {**body, "content_sha256": content_hash(body)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        if not isinstance(data, dict):
            raise BaselineError("baseline is not a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise BaselineError(f"unsupported baseline schema_version {version!r}")
        body = {key: value for key, value in data.items() if key != "content_sha256"}
        if data.get("content_sha256") != content_hash(body):
            raise BaselineError("baseline content_sha256 does not match: file edited or corrupt")
        try:
            numeric = {
                name: NumericReference(
                    np.asarray(ref["edges"], dtype=np.float64),
                    np.asarray(ref["counts"], dtype=np.int64),
                )
                for name, ref in data["numeric"].items()
            }
            baseline = cls(
                numeric=numeric,
                categorical={
                    k: {str(c): int(n) for c, n in v.items()}
                    for k, v in data["categorical"].items()
                },
                threshold=None if data["threshold"] is None else float(data["threshold"]),
                class_names=tuple(data["class_names"]),
                label_counts={str(k): int(v) for k, v in data.get("label_counts", {}).items()},
                model=data.get("model"),
                source=data.get("source", {}),
                created_at=str(data.get("created_at", "")),
                schema_version=int(version),
                content_sha256=str(data["content_sha256"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            raise BaselineError(f"malformed baseline: {error!r}") from error
        for name, ref in numeric.items():
            check_reference(name, ref)
        missing = [name for name in IMAGE_NUMERIC if name not in numeric]
        if missing:
            raise BaselineError(f"malformed baseline: no reference for {', '.join(missing)}")
        if baseline.threshold is None:
            if baseline.has_predictions:
                raise BaselineError("malformed baseline: predictions without a threshold")
        elif not 0.0 < baseline.threshold < 1.0:
            raise BaselineError(f"malformed baseline: threshold {baseline.threshold} not in (0, 1)")
        if len(baseline.class_names) < 2 or not all(
            isinstance(name, str) for name in baseline.class_names
        ):
            raise BaselineError("malformed baseline: class_names must be two or more names")
        return baseline


def check_reference(name: str, ref: NumericReference) -> None:
    """Refuse at load what would crash a drift run later: counts must match the edges' bins."""
    edges, counts = ref.edges, ref.counts
    if edges.ndim != 1 or edges.size == 0 or not np.isfinite(edges).all():
        raise BaselineError(f"malformed baseline: {name}.edges must be finite numbers")
    if np.any(np.diff(edges) <= 0):
        raise BaselineError(f"malformed baseline: {name}.edges must increase strictly")
    if counts.shape != (edges.size + 1,):
        raise BaselineError(
            f"malformed baseline: {name} has {counts.size} counts for {edges.size} edges "
            f"(want {edges.size + 1})"
        )
    if np.any(counts < 0) or counts.sum() == 0:
        raise BaselineError(f"malformed baseline: {name}.counts must be >= 0 and not all 0")


def content_hash(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_baseline(location: str | Path, s3_client: Any = None) -> Baseline:
    """Read a baseline from a path or s3:// URI; `BaselineError` when missing or invalid."""
    text: bytes
    if str(location).startswith("s3://"):
        if s3_client is None:
            s3_client = boto3.client("s3")
        bucket, key = parse_s3_uri(str(location))
        try:
            text = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as error:  # NoSuchKey / NoSuchBucket / AccessDenied: one clear error
            raise BaselineError(f"baseline not readable at {location}: {error}") from error
    else:
        path = Path(location)
        if not path.is_file():
            raise BaselineError(f"baseline not found: {path}")
        text = path.read_bytes()
    try:  # (bytes: a model.tar.gz given by mistake is "not JSON", not a UnicodeDecodeError)
        data = bounded_json.loads(text, max_bytes=MAX_BASELINE_BYTES, what="baseline")
    except ValueError as error:
        raise BaselineError(f"baseline at {location} is not JSON: {error}") from error
    return Baseline.from_dict(data)


def save_baseline(baseline: Baseline, location: str | Path, s3_client: Any = None) -> None:
    text = baseline.to_json()
    if str(location).startswith("s3://"):
        if s3_client is None:
            s3_client = boto3.client("s3")
        bucket, key = parse_s3_uri(str(location))
        s3_client.put_object(
            Bucket=bucket, Key=key, Body=text.encode(), ContentType="application/json"
        )
    else:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        Path(location).write_text(text)


def labelled_images(folder: Path) -> list[tuple[Path, str]]:
    """`<label>/<image>` files under a folder (labels = subfolder names), sorted; a folder of
    images without label subfolders gives them with an empty label."""
    found = []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(label_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                found.append((path, label_dir.name))
    if not found:
        found = [
            (path, "")
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
        ]
    return found


def discover(folder: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]], str]:
    """(images for statistics, images for predictions, layout) of a plain or staged folder."""
    if not folder.is_dir():
        raise BaselineError(f"image folder not found: {folder}")
    if (folder / "train").is_dir():
        train = labelled_images(folder / "train")
        validation = (
            labelled_images(folder / "validation") if (folder / "validation").is_dir() else []
        )
        return train, validation or train, "staged"
    images = labelled_images(folder)
    return images, images, "labelled"


def image_feature_values(paths: Iterable[Path]) -> tuple[dict[str, np.ndarray], Counter[str], int]:
    """Feature values of image files (same code path as the drift job), formats, failures."""
    batcher = ImageBatcher()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in IMAGE_NUMERIC}
    formats: Counter[str] = Counter()
    failures = 0

    def take(batches: list[dict[str, np.ndarray]]) -> None:
        for batch in batches:
            for name in IMAGE_NUMERIC:
                parts[name].append(batch[name])

    for path in tqdm(list(paths), desc="baseline images", unit="img", disable=None):
        try:
            array, image_format = decode_image(path.read_bytes())
        except (ImageDecodeError, OSError):
            failures += 1
            continue
        formats[image_format] += 1
        take(batcher.add(array))
    take(batcher.flush())
    values = {
        name: np.concatenate(chunks) if chunks else np.zeros(0) for name, chunks in parts.items()
    }
    return values, formats, failures


def build_baseline(
    stats_images: Sequence[tuple[Path, str]],
    prediction_images: Sequence[tuple[Path, str]] = (),
    predict: Predict | None = None,
    *,
    threshold: float | None = None,
    model: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> Baseline:
    """Histograms of image features (+ prediction features when `predict` is given, with
    below_threshold counted at `threshold`, required then)."""
    if not stats_images:
        raise BaselineError("no images to build a baseline from")
    if threshold is not None and not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise BaselineError(f"threshold {threshold} must lie strictly between 0 and 1")
    if predict is not None and prediction_images and threshold is None:
        raise BaselineError("predictions need the routing threshold to count below_threshold")
    values, formats, failures = image_feature_values(path for path, _ in stats_images)
    if values[IMAGE_NUMERIC[0]].size == 0:
        raise BaselineError("none of the baseline images could be decoded")
    numeric = {name: NumericReference.from_values(values[name]) for name in IMAGE_NUMERIC}
    categorical: dict[str, dict[str, int]] = {"format": dict(formats)}
    info = dict(source or {})
    info.update(image_count=len(stats_images), undecodable_images=failures)

    if predict is not None and prediction_images:
        probabilities = np.asarray(predict([path for path, _ in prediction_images]), np.float64)
        if probabilities.ndim != 2 or probabilities.shape[1] != len(CLASS_NAMES):
            raise BaselineError(f"predictions have shape {probabilities.shape}, want (n, 2)")
        confidence = probabilities.max(axis=1)
        predicted = probabilities.argmax(axis=1)
        numeric["confidence"] = NumericReference.from_values(confidence)
        categorical["predicted_class"] = {
            str(index): int((predicted == index).sum()) for index in range(len(CLASS_NAMES))
        }
        assert threshold is not None
        below = int((confidence < threshold).sum())  # routed iff confidence >= threshold
        categorical["below_threshold"] = {"True": below, "False": int(confidence.size - below)}
        info["prediction_count"] = int(confidence.size)
    assert set(categorical) <= set(CATEGORICAL_FEATURES)

    label_counts = Counter(label for _, label in stats_images if label)
    return Baseline(
        numeric=numeric,
        categorical=categorical,
        threshold=threshold,
        label_counts={name: int(label_counts.get(name, 0)) for name in CLASS_NAMES},
        model=model,
        source=info,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
