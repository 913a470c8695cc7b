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

import numpy as np

from training.dataset import IMAGE_SUFFIXES, load_folder, load_training_data
from training.decision import risk_coverage_curve, routing_at
from training.evaluate import classification_report, expected_calibration_error
from training.trainer import Recipe, fit

log = logging.getLogger("training.train")


def plot_curves(
    history: list[dict[str, float]],
    path: Path,
    held_out: tuple[Any, Any, Any] | None = None,
    threshold: float | None = None,
) -> None:
    """Loss and accuracy per epoch, one line per from-scratch member; then, when the fit has
    them, its held-out answers: reliability before and after calibration, and the risk
    (misroute rate among routed) at each coverage with the chosen threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (2 if history else 0) + (2 if held_out is not None else 0)
    figure, axes = plt.subplots(1, max(panels, 1), figsize=(5 * max(panels, 1), 4), squeeze=False)
    axes_left = list(axes[0])
    if history:
        loss_axis, accuracy_axis = axes_left.pop(0), axes_left.pop(0)
        _plot_epochs(history, loss_axis, accuracy_axis)
    if held_out is not None:
        _plot_held_out(
            *held_out,
            threshold=threshold,
            reliability_axis=axes_left.pop(0),
            risk_axis=axes_left.pop(0),
        )
    elif not history:
        axes_left[0].set_axis_off()
        axes_left[0].text(0.5, 0.5, "nothing to plot", ha="center")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_epochs(history: list[dict[str, float]], loss_axis: Any, accuracy_axis: Any) -> None:
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


def _plot_held_out(
    labels: Any,
    uncalibrated: Any,
    calibrated: Any,
    *,
    threshold: float | None,
    reliability_axis: Any,
    risk_axis: Any,
) -> None:
    edges = np.linspace(0.5, 1.0, 11)
    for name, probabilities in (("before", uncalibrated), ("calibrated", calibrated)):
        top = np.asarray(probabilities).max(axis=1)
        right = np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)
        bins = np.clip(np.digitize(top, edges) - 1, 0, len(edges) - 2)
        filled = [b for b in range(len(edges) - 1) if (bins == b).any()]
        reliability_axis.plot(
            [top[bins == b].mean() for b in filled],
            [right[bins == b].mean() for b in filled],
            "o-",
            label=f"{name} (ECE {expected_calibration_error(labels, probabilities):.3f})",
        )
    reliability_axis.plot([0.5, 1], [0.5, 1], ":", color="grey")
    reliability_axis.set(
        title=f"held-out answers ({len(labels)}): reliability",
        xlabel="confidence",
        ylabel="accuracy",
    )
    reliability_axis.legend(fontsize="small")
    coverage, risk = risk_coverage_curve(labels, calibrated)
    risk_axis.plot(coverage, risk, drawstyle="steps-post", label="misroute rate among routed")
    if threshold is not None:
        point = routing_at(labels, calibrated, threshold)
        if point["routed"]:
            risk_axis.plot(
                point["coverage"],
                point["misrouted"] / point["routed"],
                "o",
                label=f"threshold {threshold:.3f}: {point['coverage']:.0%} routed",
            )
    risk_axis.set(title="risk-coverage", xlabel="coverage (share routed)", xlim=(0, 1))
    risk_axis.legend(fontsize="small")


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
            plot_curves(
                result.history,
                staging / "training_curves.png",
                result.held_out,
                result.decision["decision_threshold"],
            )
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
