"""Build a drift baseline by hand, from images and, optionally, a model's predictions.

    python -m training.baseline --images DIR [--model model.tar.gz [--threshold X]] \
        --out baseline.json

DIR is a `<label>/*.png` folder or a staged folder (`train/`, `validation/`, `test/` splits, each
`<label>/*.png`). Image statistics come from the training images (the whole folder when it has no
splits); with `--model`, the model's predictions on the validation split (the whole folder when
there is none; such a model may have trained on those images and look over-confident, which
the baseline records in `source.prediction_images`).

With `--model`, `below_threshold` is counted at the model's own threshold (the archive's
decision.json, as promotion deploys it; `model.decision_threshold` records it); `--threshold`
replaces it for a stage that pins its own. The drift job refuses a baseline whose `threshold`
differs from the stage's (monitoring/README.md). A deployed stage's baseline comes from the
release step (`training.release`), which uses the same builder.

The artifact (`monitoring.baseline.Baseline`, what the drift job reads) carries `model.sha256` of
the model archive, so a drift run can tell that a baseline belongs to another model. Store it
beside the model (`.../model.tar.gz` -> `.../baseline.json`); `--out` also takes an `s3://` URI.
It lives here rather than in `monitoring/` because it needs the model (torch, the training
package), which the drift job's zip does not carry.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from contract import CLASS_NAMES
from contract.cli import CliParser
from monitoring.baseline import (
    Baseline,
    BaselineError,
    Predict,
    build_baseline,
    discover,
    file_sha256,
    save_baseline,
)
from training.decision_file import DecisionFileError, read_decision


def archive_threshold(model_path: Path) -> float | None:
    """The model's routing threshold from its archive's decision.json (None: it has none)."""
    try:
        decision = read_decision(model_path)
    except DecisionFileError as error:
        raise BaselineError(str(error)) from error
    return None if decision is None else decision.decision_threshold


def model_predict(model_path: Path) -> Predict:
    """`training.predict.Predictor` on image files, in batches, each image prepared from its
    bytes exactly as the endpoint prepares a request (`contract.images.prepare_image`)."""
    from training.predict import Predictor

    predictor = Predictor.from_archive(model_path)

    def predict(paths: Sequence[Path]) -> np.ndarray:
        parts = []
        for start in tqdm(range(0, len(paths), 256), desc="baseline predictions", disable=None):
            bodies = [path.read_bytes() for path in paths[start : start + 256]]
            parts.append(predictor.predict_encoded(bodies))
        return np.concatenate(parts) if parts else np.zeros((0, len(CLASS_NAMES)))

    return predict


def folder_baseline(
    images: Path,
    predict: Predict | None,
    *,
    threshold: float | None,
    model: dict[str, Any] | None,
) -> Baseline:
    """The baseline of a `<label>/*.png` or staged folder: statistics of its training images
    and, with `predict`, predictions on its validation images (all of them without splits)."""
    stats_images, prediction_images, layout = discover(images)
    return build_baseline(
        stats_images,
        prediction_images,
        predict,
        threshold=threshold,
        model=model,
        source={
            "images": str(images),
            "layout": layout,
            "prediction_images": "validation" if layout == "staged" else "all",
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(description="Build the drift baseline from training images.")
    parser.add_argument("--images", type=Path, required=True, help="<label>/*.png or staged dir")
    parser.add_argument("--model", type=Path, help="model.tar.gz: add its predictions")
    parser.add_argument("--out", required=True, help="baseline.json path or s3:// URI")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="count below_threshold at this threshold instead of the model's decision.json "
        "(a stage that pins its own)",
    )
    args = parser.parse_args(argv)
    try:
        predict = None
        model = None
        threshold = args.threshold
        if args.model is not None:
            if not args.model.is_file():
                raise BaselineError(f"model archive not found: {args.model}")
            model_threshold = archive_threshold(args.model)
            if threshold is None and model_threshold is None:
                raise BaselineError(
                    f"{args.model} has no decision.json: give --threshold (the stage's)"
                )
            threshold = model_threshold if threshold is None else threshold
            predict = model_predict(args.model)
            model = {
                "sha256": file_sha256(args.model),
                "path": str(args.model),
                "decision_threshold": model_threshold,
            }
        baseline = folder_baseline(args.images, predict, threshold=threshold, model=model)
        save_baseline(baseline, args.out)
    except BaselineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # model archive errors from training.predict and the like
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "out": str(args.out),
                "images": baseline.source["image_count"],
                "predictions": baseline.source.get("prediction_count", 0),
                "threshold": baseline.threshold,
                "content_sha256": baseline.to_dict()["content_sha256"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
