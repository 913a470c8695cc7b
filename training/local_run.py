"""One training run on this machine (or inside a SageMaker training container): load the data,
`training.trainer.fit`, report the test split, and write the artifacts (`model.tar.gz` or the
unpacked model directory, `metrics.json`, `training_curves.png`), each only once complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.dataset import IMAGE_SUFFIXES, load_folder, load_training_data
from training.decision import routing_at
from training.evaluate import classification_report, expected_calibration_error
from training.trainer import Recipe, fit

log = logging.getLogger("training.train")


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss and accuracy per epoch, one line per ensemble member."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for member in sorted({int(row["model"]) for row in history}):
        rows = [row for row in history if row["model"] == member]
        epochs = [row["epoch"] for row in rows]
        for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
            axis.plot(epochs, [r[f"train_{metric}"] for r in rows], label=f"train {member}")
            axis.plot(
                epochs, [r[f"validation_{metric}"] for r in rows], "--", label=f"val {member}"
            )
    loss_axis.set(title="loss", xlabel="epoch")
    accuracy_axis.set(title="accuracy", xlabel="epoch", ylim=(0.4, 1.01))
    accuracy_axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_local(
    data_dir: Path,
    output_dir: Path,
    recipe: Recipe,
    *,
    validation_dir: Path | None = None,
    model_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and write the artifacts; they appear only once complete (temp dir, then rename).

    With `model_dir` (SageMaker's SM_MODEL_DIR) the model is written there unpacked, since
    SageMaker builds `model.tar.gz` itself; otherwise `output_dir/model.tar.gz`.
    """
    from training.model import write_archive, write_model_dir

    train, validation = load_training_data(
        data_dir, validation_dir, recipe.validation_fraction, recipe.seed
    )
    log.info(
        "training on %d images %s, validating on %d %s",
        len(train),
        train.class_counts(),
        len(validation),
        validation.class_counts(),
    )
    result = fit(train, validation, recipe, progress=progress)
    metrics: dict[str, Any] = {
        "validation": result.validation,
        "calibration": result.calibration,
        "decision_threshold": result.decision["decision_threshold"],
        "decision": result.decision,
        "train_seconds": round(result.seconds, 1),
        "num_train": len(train),
        "num_validation": len(validation),
        "recipe": asdict(recipe),
        "history": result.history,
    }
    # SageMaker metric definitions and tuning read these lines from the log.
    print(f"validation_accuracy={result.validation['accuracy']:.4f}", flush=True)
    print(f"validation_ece={result.validation['ece']:.4f}", flush=True)
    print(f"decision_threshold={result.decision['decision_threshold']:.4f}", flush=True)
    test_dir = data_dir / "test"
    if (data_dir / "train").is_dir() and test_dir.is_dir():
        # A staged directory's test split is never trained or selected on: report it as is.
        # A folder source is staged with an empty test split: there is nothing to report.
        if _holds_images(test_dir):
            threshold = result.decision["decision_threshold"]
            metrics["test"] = evaluate_split(result.checkpoint, test_dir, threshold)
            print(f"test_accuracy={metrics['test']['accuracy']:.4f}", flush=True)
        else:
            metrics["test"] = None
            metrics["test_skipped"] = f"{test_dir} holds no images: no test split to report"
            log.warning("%s", metrics["test_skipped"])
    # Everything is written into temporary directories beside its destination (the same
    # filesystem: SM_MODEL_DIR and SM_OUTPUT_DATA_DIR are different mounts), then renamed.
    if model_dir is not None:
        with _staging(model_dir) as staging:
            write_model_dir(result.checkpoint, staging, result.decision)
            _publish(staging, model_dir)
    with _staging(output_dir) as staging:
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        try:
            plot_curves(result.history, staging / "training_curves.png")
        except ImportError:  # matplotlib may be missing in a bare training container
            log.warning("matplotlib is not installed: no training_curves.png")
        if model_dir is None:
            write_archive(result.checkpoint, staging / "model.tar.gz", result.decision)
        _publish(staging, output_dir)
    return metrics


def _holds_images(folder: Path) -> bool:
    return any(
        path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
        for path in folder.glob("*/*")
    )


def evaluate_split(checkpoint: dict[str, Any], folder: Path, threshold: float) -> dict[str, Any]:
    """The calibrated model's report on `folder`, its uncalibrated ECE, and routing at
    `threshold` (coverage, routed accuracy)."""
    from serving.inference import arrays_to_tensor, model_from_checkpoint

    images = load_folder(folder, require_all_classes=False)
    model = model_from_checkpoint(checkpoint)
    raw = model.uncalibrated(arrays_to_tensor(images.channels_first))
    probabilities = model(arrays_to_tensor(images.channels_first)).numpy()
    report = classification_report(images.labels, probabilities)
    report["ece_uncalibrated"] = expected_calibration_error(images.labels, raw.numpy())
    report["routing"] = routing_at(images.labels, probabilities, threshold)
    return report


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".train-", dir=target))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, target: Path) -> None:
    for item in sorted(staging.iterdir()):
        destination = target / item.name
        if destination.is_dir():
            shutil.rmtree(destination)
        os.replace(item, destination)
