"""Evaluate a model archive on a `<label>/*.png` folder.

    python -m training.evaluate --model model.tar.gz --data FOLDER [--plot confusion_matrix.png]
        [--risk-plot risk_coverage.png] [--threshold T] [--against deployed/model.tar.gz]

prints JSON (accuracy, per-class precision/recall, confusion matrix, expected calibration error,
and routing at the archive's decision threshold: coverage, routed accuracy, a risk-coverage
table) and writes a confusion-matrix PNG and a risk-coverage PNG. With `--against`, the same for
another archive (the deployed model) on the same images, and the comparison a person approving
the new model reads. The metric functions need only numpy.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contract.cli import CliParser
from training.dataset import DatasetError, load_folder
from training.decision import (
    DEFAULT_MAX_MISROUTE_RATE,
    mcnemar_p,
    plot_risk_coverage,
    risk_coverage_table,
    routing_at,
)
from training.decision_file import DecisionFileError, read_decision
from training.labels import CLASS_NAMES

ECE_BINS = 15


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 2) -> np.ndarray:
    """matrix[true, predicted] = count."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(
        matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1
    )
    return matrix


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| * weight."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 joins bin 0.
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def classification_report(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/support, confusion matrix, ECE, log loss."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(labels) == 0 or probabilities.shape != (len(labels), len(CLASS_NAMES)):
        raise ValueError(f"need probabilities of shape ({len(labels)}, {len(CLASS_NAMES)})")
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, len(CLASS_NAMES))
    per_class = {}
    for index, name in enumerate(CLASS_NAMES):
        true_positive = int(matrix[index, index])
        predicted_count = int(matrix[:, index].sum())
        support = int(matrix[index, :].sum())
        per_class[name] = {
            # None where undefined (no predictions / no examples of the class), never a fake 0.
            "precision": true_positive / predicted_count if predicted_count else None,
            "recall": true_positive / support if support else None,
            "support": support,
        }
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return {
        "accuracy": float((predicted == labels).mean()),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_axes": "rows: true class, columns: predicted class",
        "ece": expected_calibration_error(labels, probabilities),
        "log_loss": float(-np.log(picked).mean()),
        "count": len(labels),
        "class_names": list(CLASS_NAMES),
    }


def plot_confusion_matrix(matrix: np.ndarray, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    axis.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    axis.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _answers(model: Path, images: Any) -> tuple[np.ndarray, dict[str, Any] | None]:
    """The archive's probabilities on `images`, and its decision.json fields (None if absent)."""
    from training.predict import Predictor

    predictor = Predictor.from_archive(model)  # first: it names an archive that is not ours
    found = read_decision(model)  # the reader promotion uses
    probabilities = predictor.predict_arrays(images.channels_first)
    return probabilities, dict(found.fields) if found is not None else None


def compare(
    labels: np.ndarray,
    candidate: np.ndarray,
    deployed: np.ndarray,
    thresholds: tuple[float | None, float | None],
    max_misroute_rate: float = DEFAULT_MAX_MISROUTE_RATE,
) -> dict[str, Any]:
    """Two models on the same images, each routing at its own threshold: what changes if the
    candidate replaces the deployed model. `verdict` is advice; the approval is a person's."""
    right_new = candidate.argmax(axis=1) == labels
    right_old = deployed.argmax(axis=1) == labels
    fixed, broken = int((right_new & ~right_old).sum()), int((~right_new & right_old).sum())
    routing = [
        routing_at(labels, answers, threshold) if threshold is not None else None
        for answers, threshold in zip((candidate, deployed), thresholds, strict=True)
    ]
    new, old = routing
    verdict = "no threshold to compare routing at"
    if new is not None and old is not None:
        rate_new = new["misrouted"] / new["routed"] if new["routed"] else 0.0
        rate_old = old["misrouted"] / old["routed"] if old["routed"] else 0.0
        if rate_new > max(rate_old, max_misroute_rate):
            verdict = "candidate misroutes more"
        elif new["coverage"] >= old["coverage"]:
            verdict = "candidate routes as much or more, misrouting no more"
        else:
            verdict = "candidate routes less"
    return {
        "images": len(labels),
        "accuracy": {
            "candidate": float(right_new.mean()),
            "deployed": float(right_old.mean()),
        },
        "routing": {"candidate": new, "deployed": old},
        "fixed": fixed,  # the deployed model wrong, the candidate right
        "broken": broken,  # the other way round
        "mcnemar_p": mcnemar_p(fixed, broken),
        "max_misroute_rate": max_misroute_rate,
        "verdict": verdict,
    }


def evaluate(
    model: Path,
    data: Path,
    plot: Path | None,
    risk_plot: Path | None = None,
    threshold: float | None = None,
    *,
    against: Path | None = None,
) -> dict[str, Any]:
    """The report, plus routing at `threshold` (default: the archive's `decision.json`; an
    archive older than it has none, and then only the risk-coverage table is given). With
    `against`, `comparison`: that archive (the deployed model) on the same images."""
    images = load_folder(data, require_all_classes=False)
    probabilities, decision = _answers(model, images)
    source = "--threshold" if threshold is not None else None
    if threshold is None and decision is not None:
        threshold, source = float(decision["decision_threshold"]), "decision.json"
    report = classification_report(images.labels, probabilities)
    at = routing_at(images.labels, probabilities, threshold) if threshold is not None else {}
    report["threshold"] = threshold
    report["threshold_source"] = source
    report["coverage"] = at.get("coverage")
    report["routed_accuracy"] = at.get("routed_accuracy")
    report["misrouted"] = at.get("misrouted")
    report["decision"] = decision
    extra = (threshold,) if threshold is not None else ()
    report["risk_coverage"] = risk_coverage_table(images.labels, probabilities, extra)
    if plot is not None:
        plot_confusion_matrix(np.asarray(report["confusion_matrix"]), plot, f"{data.name}")
        report["confusion_matrix_png"] = str(plot)
    if risk_plot is not None:
        plot_risk_coverage(images.labels, probabilities, risk_plot, threshold)
        report["risk_coverage_png"] = str(risk_plot)
    if against is not None:
        deployed, deployed_decision = _answers(against, images)
        deployed_threshold = (
            float(deployed_decision["decision_threshold"]) if deployed_decision else None
        )
        target = float((decision or {}).get("max_misroute_rate", DEFAULT_MAX_MISROUTE_RATE))
        report["comparison"] = {
            "against": str(against),
            **compare(
                images.labels, probabilities, deployed, (threshold, deployed_threshold), target
            ),
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(description="Evaluate model.tar.gz on a labelled folder.")
    parser.add_argument("--model", type=Path, required=True, help="model.tar.gz from training")
    parser.add_argument("--data", type=Path, required=True, help="folder of <label>/*.png")
    parser.add_argument(
        "--plot",
        type=Path,
        help="confusion-matrix PNG (default: confusion_matrix.png beside the model)",
    )
    parser.add_argument(
        "--risk-plot",
        type=Path,
        help="risk-coverage PNG (default: risk_coverage.png beside the model)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="route at this threshold instead of the archive's decision_threshold",
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="another model.tar.gz (the deployed one): compare both on the same images",
    )
    args = parser.parse_args(argv)
    from training.predict import ModelArchiveError

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        parser.error(f"--threshold {args.threshold} is not in [0, 1]")
    plot = args.plot or args.model.resolve().parent / "confusion_matrix.png"
    risk_plot = args.risk_plot or args.model.resolve().parent / "risk_coverage.png"
    try:
        report = evaluate(
            args.model, args.data, plot, risk_plot, args.threshold, against=args.against
        )
    except (DatasetError, ModelArchiveError, DecisionFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
