"""Quality benchmark of the local recipe: repeated stratified k-fold cross-validation.

    .venv/bin/python -m benchmarks.bench_train_quality [--data DIR] [--folds 5] [--repeats 1]

On the 1000 real CIFAR-100 images (../shared/data/cifar_bikes/train) each fold trains the
default recipe exactly as `training.train` does (validation carved from the training part) and
scores the held-out fold, which plays the unseen test images. Prints accuracy per fold, mean,
standard deviation and range, calibration error and training time. Each fold trains on
(k-1)/k of the data, so the estimate is slightly pessimistic for a model trained on all of it.
Goal: mean accuracy >= 0.95 with training under 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from training.dataset import load_folder, stratified_folds, stratified_split
from training.evaluate import classification_report
from training.serving.inference import model_from_checkpoint
from training.train import Recipe, fit

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only-folds", type=int, default=0, help="stop after N folds (quick look)")
    parser.add_argument("--set", action="append", default=[], help="recipe override key=value")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    recipe = Recipe()
    for key, value in overrides.items():
        current = getattr(recipe, key)
        if isinstance(current, list):
            setattr(recipe, key, [int(v) for v in value.split(",")])
        elif isinstance(current, bool):
            setattr(recipe, key, value.lower() in {"1", "true"})
        else:
            setattr(recipe, key, type(current)(value))
    data = load_folder(args.data)
    print(f"data: {len(data)} images {data.class_counts()} from {args.data}")
    print(f"recipe: {json.dumps(recipe.__dict__)}")
    print(f"cpu cores visible: {os.cpu_count()}, load average: {os.getloadavg()}")
    accuracies, eces, seconds = [], [], []
    done = 0
    for repeat in range(args.repeats):
        folds = stratified_folds(data.labels, args.folds, seed=1000 + repeat)
        for index, held_out in enumerate(folds):
            if args.only_folds and done >= args.only_folds:
                break
            rest = np.setdiff1d(np.arange(len(data)), held_out)
            part = data.subset(rest)
            fold_recipe = Recipe(**{**recipe.__dict__, "seed": recipe.seed + 17 * done})
            kept, carved = stratified_split(part.labels, fold_recipe.validation_fraction, done)
            started = time.perf_counter()
            result = fit(part.subset(kept), part.subset(carved), fold_recipe, progress=False)
            elapsed = time.perf_counter() - started
            test = data.subset(held_out)
            model = model_from_checkpoint(result.checkpoint)
            from training.serving.inference import arrays_to_tensor

            report = classification_report(
                test.labels, model(arrays_to_tensor(test.images)).numpy()
            )
            accuracies.append(report["accuracy"])
            eces.append(report["ece"])
            seconds.append(elapsed)
            done += 1
            print(
                f"repeat {repeat} fold {index}: train {len(kept)} val {len(carved)} "
                f"test {len(test)} | test accuracy {report['accuracy']:.4f} "
                f"ece {report['ece']:.4f} | validation accuracy "
                f"{result.validation['accuracy']:.4f} | train {elapsed:.0f} s "
                f"| load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    print(
        f"\nheld-out accuracy over {len(accuracies)} folds: mean {statistics.mean(accuracies):.4f}"
        f" std {spread:.4f} min {min(accuracies):.4f} max {max(accuracies):.4f}"
    )
    print(f"ECE mean {statistics.mean(eces):.4f}")
    print(f"training seconds per fold: mean {statistics.mean(seconds):.0f} max {max(seconds):.0f}")


if __name__ == "__main__":
    main()
