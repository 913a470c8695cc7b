"""Quality benchmark of the local recipe: repeated stratified k-fold cross-validation.

    .venv/bin/python -m benchmarks.bench_train_quality [--data DIR] [--folds 5] [--repeats 1]
        [--first-repeat 0] [--jobs 2] [--set key=value ...]

On the 1000 real CIFAR-100 images (../shared/data/cifar_bikes/train) each fold trains the
default recipe exactly as `training.train` does (validation carved from the training part) and
scores the held-out fold, which plays the unseen CIFAR-100 test images. Prints accuracy per fold,
mean, standard deviation and range, calibration error, and training time both as wall-clock
and as CPU seconds (one thread per fold; on a busy shared machine the CPU seconds are the
honest measure of what an idle 2-core machine needs). Each fold trains on (k-1)/k of the data,
so the estimate is slightly pessimistic for a model trained on all 1000 images. Repeat r
partitions the data with seed 1000 + r; `--first-repeat` gives partitions not used to choose the
recipe. Besides the whole model, it scores the from-scratch members alone (the first k of them)
and the pretrained member alone.
Goal: mean held-out accuracy >= 0.95 with training under 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from training.dataset import ImageSet, load_folder, stratified_folds, stratified_split
from training.train import Recipe

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"


def run_fold(data: ImageSet, held_out: np.ndarray, recipe: Recipe, seed: int) -> dict[str, Any]:
    """Train on everything but `held_out` (carving validation as train.py does); score it."""
    import torch

    from training.evaluate import classification_report
    from training.serving.inference import arrays_to_tensor, model_from_checkpoint
    from training.train import fit

    torch.set_num_threads(recipe.threads or 1)
    rest = np.setdiff1d(np.arange(len(data)), held_out)
    part = data.subset(rest)
    kept, carved = stratified_split(part.labels, recipe.validation_fraction, seed)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit(part.subset(kept), part.subset(carved), recipe, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    test = data.subset(held_out)
    images = arrays_to_tensor(test.images)
    checkpoint = result.checkpoint
    report = classification_report(test.labels, model_from_checkpoint(checkpoint)(images).numpy())
    # Each from-scratch member once; the mean of the first k is the k-member ensemble's answer,
    # so the table shows what every added member is worth.
    alone = {**checkpoint, "pretrained": None}
    per_member = np.stack(
        [model_from_checkpoint({**alone, "members": [m]})(images).numpy() for m in alone["members"]]
    )
    sizes = np.arange(1, len(per_member) + 1)
    prefix_means = np.cumsum(per_member, axis=0) / sizes[:, None, None]
    by_size = {
        int(size): float((means.argmax(1) == test.labels).mean())
        for size, means in zip(sizes, prefix_means, strict=True)
    }
    pretrained_alone = None
    if checkpoint.get("pretrained"):
        answer = model_from_checkpoint({**checkpoint, "members": []})(images).numpy()
        pretrained_alone = float((answer.argmax(1) == test.labels).mean())
    return {
        "train": len(kept),
        "validation": len(carved),
        "test": len(test),
        "accuracy": report["accuracy"],
        "ece": report["ece"],
        "validation_accuracy": result.validation["accuracy"],
        "accuracy_by_members": by_size,
        "pretrained_alone": pretrained_alone,
        "wall_s": wall,
        "cpu_s": cpu,
        "load": os.getloadavg()[0],
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def parse_recipe(overrides: list[str]) -> Recipe:
    recipe = Recipe(threads=1, workers=1)  # folds run in parallel; members one by one
    for item in overrides:
        key, value = item.split("=", 1)
        current = getattr(recipe, key)
        if isinstance(current, list):
            setattr(recipe, key, [int(v) for v in value.split(",")])
        elif isinstance(current, bool):
            setattr(recipe, key, value.lower() in {"1", "true"})
        else:
            setattr(recipe, key, type(current)(value))
    return recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--first-repeat", type=int, default=0, help="partition seed 1000 + this")
    parser.add_argument("--jobs", type=int, default=2, help="folds trained in parallel")
    parser.add_argument("--set", action="append", default=[], help="recipe override key=value")
    args = parser.parse_args()
    recipe = parse_recipe(args.set)
    data = load_folder(args.data)
    print(f"data: {len(data)} images {data.class_counts()} from {args.data}")
    print(f"recipe: {json.dumps(recipe.__dict__)}")
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}", flush=True)
    tasks = []
    for repeat in range(args.first_repeat, args.first_repeat + args.repeats):
        for index, held_out in enumerate(stratified_folds(data.labels, args.folds, 1000 + repeat)):
            seed = repeat * args.folds + index
            fold_recipe = Recipe(**{**recipe.__dict__, "seed": recipe.seed + seed})
            tasks.append((repeat, index, held_out, fold_recipe, seed))
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = [
            (repeat, index, pool.submit(run_fold, data, held_out, fold_recipe, seed))
            for repeat, index, held_out, fold_recipe, seed in tasks
        ]
        results = []
        for repeat, index, future in futures:
            row = future.result()
            results.append(row)
            print(
                f"repeat {repeat} fold {index}: train {row['train']} val {row['validation']} "
                f"test {row['test']} | held-out accuracy {row['accuracy']:.4f} "
                f"ece {row['ece']:.4f} | carved-validation accuracy "
                f"{row['validation_accuracy']:.4f} | first k from-scratch members "
                + "/".join(f"{v:.3f}" for v in row["accuracy_by_members"].values())
                + f" | pretrained alone {_fmt(row['pretrained_alone'])}"
                + f" | wall {row['wall_s']:.0f} s "
                f"cpu {row['cpu_s']:.0f} s | load {row['load']:.1f}",
                flush=True,
            )
    accuracies = [row["accuracy"] for row in results]
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    print(
        f"\nheld-out accuracy over {len(accuracies)} folds: mean {statistics.mean(accuracies):.4f}"
        f" std {spread:.4f} min {min(accuracies):.4f} max {max(accuracies):.4f}"
    )
    for size in results[0]["accuracy_by_members"]:
        by_size = [row["accuracy_by_members"][size] for row in results]
        print(
            f"  first {size} from-scratch member(s) alone: mean {statistics.mean(by_size):.4f}"
            f" std {statistics.stdev(by_size) if len(by_size) > 1 else 0.0:.4f}"
        )
    pretrained = [row["pretrained_alone"] for row in results if row["pretrained_alone"] is not None]
    if pretrained:
        print(f"  pretrained member alone: mean {statistics.mean(pretrained):.4f}")
    print(f"ECE mean {statistics.mean(row['ece'] for row in results):.4f}")
    cpu = [row["cpu_s"] for row in results]
    wall = [row["wall_s"] for row in results]
    print(
        f"training per fold ({results[0]['train']} images, 1 thread): "
        f"cpu mean {statistics.mean(cpu):.0f} s max {max(cpu):.0f} s; "
        f"wall mean {statistics.mean(wall):.0f} s max {max(wall):.0f} s"
    )
    print(f"benchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
