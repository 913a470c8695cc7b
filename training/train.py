"""Train the classifier: `--backend local` on this CPU (or inside a SageMaker PyTorch container),
`--backend builtin|script` to launch SageMaker training jobs.

    python -m training.train --backend local --data DIR --output DIR [--epochs N] [--seed S]
        [--max-misroute-rate 0.01]

writes `DIR/model.tar.gz` (SageMaker layout, with the calibration and `decision.json`: the
routing threshold the model earned on validation), `metrics.json` and `training_curves.png`.
Inside a SageMaker training container the SM_* environment supplies the data, model and output
directories and the hyperparameters, so the same entry point runs there unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from contract.cli import CliParser

log = logging.getLogger("training.train")


@dataclass
class Recipe:
    """The local training recipe; the defaults are the ones the quality benchmark measures."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 0.08
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1])
    ensemble: int = 2  # from-scratch members
    # The pretrained member: frozen ImageNet EfficientNet-Lite trunks (comma-separated) on the
    # image upscaled to `pretrained_resolution`, and an L2-regularised linear head on their
    # features (C = `pretrained_inverse_l2`).
    pretrained: bool = True
    pretrained_backbones: str = "lite0,lite2"
    pretrained_resolution: int = 192
    pretrained_inverse_l2: float = 0.05

    def backbones(self) -> list[str]:
        return [name.strip() for name in self.pretrained_backbones.split(",") if name.strip()]

    crop_padding: int = 4
    colour_jitter: float = 0.2
    tta_hflip: bool = True
    validation_fraction: float = 0.1
    # Stacking's calibration points beyond validation: the pretrained head refitted this many
    # times on the training part's features, each answering the images it left out (0: none).
    calibration_splits: int = 5
    # "temperature" (one T on the groups' average, fitted on validation) or "stacking"
    # (training.calibration: per-group temperatures on every held-out answer, then a logistic
    # combination on validation). README "Quality" has both measured.
    calibration: str = "temperature"
    # The routing threshold the model earns on validation (training.decision): the misroute
    # rate among routed images certified <= max_misroute_rate at this confidence level.
    max_misroute_rate: float = 0.01
    decision_confidence: float = 0.95
    seed: int = 0
    workers: int = 0  # processes training members at once; 0: one per core (at most `ensemble`)
    threads: int = 0  # torch threads per process; 0: the cores shared out among the workers

    def arch(self) -> dict[str, Any]:
        return {"widths": list(self.widths), "blocks": list(self.blocks), "num_classes": 2}


@dataclass
class TrainResult:
    checkpoint: dict[str, Any]
    history: list[dict[str, float]]
    validation: dict[str, Any]  # of the calibrated model
    seconds: float
    decision: dict[str, Any]  # decision.json: the threshold and the calibration
    calibration: dict[str, Any]  # what calibration did on validation (ECE, log loss)
    # Held-out answers beyond validation it was fitted on: (labels, {group: probabilities}).
    extra: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)


def augment(images: Any, padding: int, jitter: float, generator: Any) -> Any:
    """Random crop from a reflect-padded image, horizontal flip, brightness/contrast jitter."""
    import torch
    import torch.nn.functional as F

    n, _, height, width = images.shape
    if padding:
        padded = F.pad(images, (padding,) * 4, mode="reflect")
        top = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        left = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        rows = (top[:, None] + torch.arange(height))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width))[:, None, None, :]
        images = padded[
            torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols
        ]
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    if jitter:
        brightness = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * jitter
        contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * jitter
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = ((images - mean) * contrast + mean) * brightness
    return images.clamp_(0.0, 1.0).contiguous(memory_format=torch.channels_last)


def _lr_at(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 15% of steps, then cosine decay to zero."""
    warmup = max(1, int(0.15 * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def _evaluate_member(network: Any, images: Any, labels: Any, criterion: Any) -> tuple[float, float]:
    import torch

    network.eval()
    with torch.inference_mode():
        logits = network(images)
        loss = float(criterion(logits, labels))
        accuracy = float((logits.argmax(1) == labels).float().mean())
    network.train()
    return loss, accuracy


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_workers(recipe: Recipe) -> tuple[int, int]:
    """(processes, threads each): members train in parallel, one process per core by default.

    Small convolutions scale poorly over threads, so two members on two single-threaded
    processes train almost twice as fast as one after the other on two threads.
    """
    cores = _cores()
    workers = min(recipe.ensemble, recipe.workers or cores)
    threads = recipe.threads or max(1, cores // workers)
    return workers, threads


# Set in each worker process by `_start_worker`; the parent reads epoch rows from it.
_EVENTS: Any = None


def _start_worker(threads: int, events: Any) -> None:
    import torch

    global _EVENTS
    torch.set_num_threads(threads)
    _EVENTS = events


def train_member(
    train: Any, validation: Any, recipe: Recipe, member_index: int, on_epoch: Any = None
) -> dict[str, Any]:
    """Train one ensemble member; return its weights (a state dict of CPU tensors)."""
    import torch

    from serving.inference import arrays_to_tensor
    from training.model import build_network

    report = on_epoch if on_epoch is not None else (_EVENTS.put if _EVENTS else None)
    x_train = arrays_to_tensor(train.channels_first)
    y_train = torch.from_numpy(train.labels)
    x_val = arrays_to_tensor(validation.channels_first).contiguous(
        memory_format=torch.channels_last
    )
    y_val = torch.from_numpy(validation.labels)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    steps_per_epoch = max(1, len(x_train) // recipe.batch_size)  # drop the ragged last batch
    total_steps = steps_per_epoch * recipe.epochs
    seed = recipe.seed * 1000 + member_index
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = build_network(recipe.arch()).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay: list[Any] = [p for p in network.parameters() if p.ndim > 1]
    no_decay = [p for p in network.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=True,
    )
    network.train()
    step = 0
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(x_train), generator=generator)
        running_loss, running_correct, seen = 0.0, 0, 0
        for batch in range(steps_per_epoch):
            index = order[batch * recipe.batch_size : (batch + 1) * recipe.batch_size]
            images = augment(x_train[index], recipe.crop_padding, recipe.colour_jitter, generator)
            labels = y_train[index]
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, total_steps, recipe.lr)
            logits = network(images)
            loss = criterion(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            running_loss += float(loss.detach()) * len(index)
            running_correct += int((logits.argmax(1) == labels).sum())
            seen += len(index)
        val_loss, val_accuracy = _evaluate_member(network, x_val, y_val, criterion)
        row = {
            "model": member_index,
            "epoch": epoch + 1,
            "train_loss": running_loss / seen,
            "train_accuracy": running_correct / seen,
            "validation_loss": val_loss,
            "validation_accuracy": val_accuracy,
        }
        if report is not None:
            report(row)
    return network.state_dict()  # make_checkpoint copies it


class _EpochLog:
    """Collects every member's epoch rows and shows them: a tqdm bar, or log lines."""

    def __init__(self, recipe: Recipe, progress: bool) -> None:
        self.history: list[dict[str, float]] = []
        self.bar = None
        if progress:
            try:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=recipe.epochs * recipe.ensemble,
                    desc=f"training {recipe.ensemble} model(s)",
                    unit="epoch",
                    file=sys.stderr,
                )
            except ImportError:  # a bare training container
                pass

    def __call__(self, row: dict[str, float]) -> None:
        self.history.append(row)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(
                model=int(row["model"]) + 1,
                loss=f"{row['train_loss']:.3f}",
                val_acc=f"{row['validation_accuracy']:.3f}",
            )
        else:  # plain lines for CloudWatch (SageMaker) and CI logs
            log.info(
                " ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                )
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.history.sort(key=lambda row: (row["model"], row["epoch"]))


def _train_in_parallel(
    train: Any, validation: Any, recipe: Recipe, epochs: _EpochLog, *, workers: int, threads: int
) -> list[dict[str, Any]]:
    """Members in `workers` spawned processes; their epoch rows stream back through a queue."""
    import multiprocessing
    import queue
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # fork after torch threads start can hang
    events = context.Queue()
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(threads, events)
    ) as pool:
        futures = [
            pool.submit(train_member, train, validation, recipe, index)
            for index in range(recipe.ensemble)
        ]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a failed member fails the run now, not at the end
            with contextlib.suppress(queue.Empty):
                while True:
                    epochs(events.get_nowait())
        states = [future.result() for future in futures]
    # Rows a member sent just before it returned may still be in the queue's pipe.
    while len(epochs.history) < recipe.ensemble * recipe.epochs:
        epochs(events.get(timeout=60))
    return states


def fit(train: Any, validation: Any, recipe: Recipe, progress: bool = True) -> TrainResult:
    """Train `recipe.ensemble` networks on `train` (an ImageSet); score them on `validation`."""
    import torch

    from serving.inference import arrays_to_tensor, model_from_checkpoint
    from training.model import make_checkpoint

    started = time.perf_counter()
    workers, threads = plan_workers(recipe)
    pretrained = None
    if recipe.pretrained:  # first, on all the planned cores; then the members get them
        from training.pretrained import fit_pretrained_member

        torch.set_num_threads(workers * threads)
        pretrained = fit_pretrained_member(
            arrays_to_tensor(train.channels_first),
            torch.from_numpy(train.labels),
            backbones=recipe.backbones(),
            resolution=recipe.pretrained_resolution,
            inverse_l2=recipe.pretrained_inverse_l2,
            progress=progress,
            # Only stacking uses them (one more trunk pass over the training images).
            out_of_fold_splits=recipe.calibration_splits if recipe.calibration == "stacking" else 0,
            mirror=recipe.tta_hflip,
        )
        log.info(
            "pretrained member (%s) fitted in %.0f s",
            recipe.pretrained_backbones,
            time.perf_counter() - started,
        )
    epochs = _EpochLog(recipe, progress)
    try:
        if workers > 1:
            states = _train_in_parallel(
                train, validation, recipe, epochs, workers=workers, threads=threads
            )
        else:
            torch.set_num_threads(threads)
            states = [
                train_member(train, validation, recipe, index, epochs)
                for index in range(recipe.ensemble)
            ]
    finally:
        epochs.close()
    checkpoint = make_checkpoint(states, recipe.arch(), recipe.tta_hflip, pretrained)
    groups = model_from_checkpoint(checkpoint).member_probabilities(
        arrays_to_tensor(validation.channels_first)
    )
    extra: list[tuple[Any, dict[str, Any]]] = []
    if pretrained is not None and "out_of_fold" in pretrained:
        extra.append((train.labels, {"pretrained": pretrained["out_of_fold"]}))
    decision, calibration, report = calibrate_and_choose(
        validation.labels, {name: p.numpy() for name, p in groups.items()}, recipe, extra
    )
    checkpoint["calibration"] = dict(decision["calibration"])
    log.info(
        "calibration: %s, validation ECE %.4f -> %.4f; decision threshold %.4f (certified "
        "%s: %d of %d validation images routed, %d misrouted, %.0f%% upper bound %.4f, "
        "target %.4f)",
        json.dumps(decision["calibration"]),
        calibration["ece_before"],
        calibration["ece_after"],
        decision["decision_threshold"],
        decision["certified"],
        decision["routed_validation_images"],
        decision["validation_images"],
        decision["validation_misroutes"],
        100 * decision["confidence"],
        decision["misroute_upper_bound"],
        decision["max_misroute_rate"],
    )
    if not decision["certified"]:
        log.warning(
            "%d validation images cannot certify a misroute rate <= %g at %g confidence (that "
            "needs >= %d routed images): threshold %.4f is the fallback, certified: false",
            decision["validation_images"],
            recipe.max_misroute_rate,
            recipe.decision_confidence,
            decision["images_needed_to_certify"],
            decision["decision_threshold"],
        )
    return TrainResult(
        checkpoint,
        epochs.history,
        report,
        time.perf_counter() - started,
        decision,
        calibration,
        extra,
    )


def calibrate_and_choose(
    labels: Any,
    groups: dict[str, Any],
    recipe: Recipe,
    extra: Sequence[tuple[Any, dict[str, Any]]] = (),
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(decision.json, calibration figures, calibrated validation report) from each member
    group's uncalibrated validation probabilities and `extra` held-out answers (labels and
    some groups' probabilities, e.g. the pretrained member's out-of-fold answers): stacking
    (training.calibration), then the threshold on the validation set as served."""
    import numpy as np
    import torch

    from serving.inference import Calibration
    from training.calibration import HeldOut, fit_stacking
    from training.decision import choose_threshold, decision_document, fit_temperature
    from training.evaluate import classification_report

    validation = HeldOut(np.asarray(labels), {k: np.asarray(v) for k, v in groups.items()})
    uncalibrated = np.mean(list(validation.groups.values()), axis=0)
    before = classification_report(labels, uncalibrated)
    entry: dict[str, Any]
    if recipe.calibration == "temperature":
        temperature = fit_temperature(validation.labels, uncalibrated)
        entry = {"method": "temperature", "temperature": temperature}
        served = Calibration(temperature)
    else:
        stacking = fit_stacking(validation, tuple(HeldOut(np.asarray(y), g) for y, g in extra))
        entry = stacking.as_checkpoint_entry()
        served = Calibration(weights=entry["weights"], bias=entry["bias"])
    # In float32 through the serving code: the threshold is chosen on what the endpoint answers.
    as_served = {k: torch.from_numpy(v.astype(np.float32)) for k, v in validation.groups.items()}
    calibrated = served(as_served).numpy().astype(np.float64)
    report = classification_report(labels, calibrated)
    choice = choose_threshold(
        labels, calibrated, recipe.max_misroute_rate, recipe.decision_confidence
    )
    document = decision_document(choice, entry)
    calibration = {
        **entry,
        "ece_before": before["ece"],
        "ece_after": report["ece"],
        "log_loss_before": before["log_loss"],
        "log_loss_after": report["log_loss"],
        "fitted_on": "validation"
        + (", and out-of-fold answers" if extra and entry["method"] == "stacking" else ""),
    }
    return document, calibration, report


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
    from training.dataset import load_training_data
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
    from training.dataset import IMAGE_SUFFIXES

    return any(
        path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
        for path in folder.glob("*/*")
    )


def evaluate_split(checkpoint: dict[str, Any], folder: Path, threshold: float) -> dict[str, Any]:
    """The calibrated model's report on `folder`, its uncalibrated ECE, and routing at
    `threshold` (coverage, routed accuracy)."""
    from serving.inference import arrays_to_tensor, model_from_checkpoint
    from training.dataset import load_folder
    from training.decision import routing_at
    from training.evaluate import classification_report, expected_calibration_error

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


def _sagemaker_hyperparameters() -> dict[str, Any]:
    """Hyperparameters SageMaker passes in SM_HPS (JSON), when running in its container."""
    raw = os.environ.get("SM_HPS")
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError):
        values = None
    if not isinstance(values, dict):
        raise ValueError("SM_HPS is not a JSON object of hyperparameters")
    return values


# Entries SageMaker itself adds to the hyperparameters (a tuning job's
# `_tuning_objective_metric`, framework containers' `sagemaker_program`, ...): not the recipe's.
_PLATFORM_PREFIXES = ("_", "sagemaker_")


def extra_hyperparameters(tokens: Sequence[str]) -> dict[str, str]:
    """`--name value` / `--name=value` pairs after the known flags (how SageMaker passes
    hyperparameters on the command line); ValueError for anything else."""
    values: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("--") or len(token) == 2:
            raise ValueError(f"unrecognized argument {token!r}")
        name, separator, value = token[2:].partition("=")
        if not separator:
            if index + 1 >= len(tokens):
                raise ValueError(f"hyperparameter --{name} has no value")
            index += 1
            value = tokens[index]
        values[name] = value
        index += 1
    return values


def _hyperparameter_value(name: str, current: object, value: object) -> object:
    """`value` (a string from SageMaker or the command line) as the recipe field's type."""
    text = str(value).strip()
    try:
        if isinstance(current, list):
            return [int(v) for v in text.strip("[]").split(",") if v.strip()]
        if isinstance(current, bool):
            if text.lower() not in {"1", "true", "yes", "0", "false", "no"}:
                raise ValueError
            return text.lower() in {"1", "true", "yes"}
        converted = type(current)(text)  # type: ignore[call-arg]
    except ValueError:
        kind = "a boolean" if isinstance(current, bool) else type(current).__name__
        raise ValueError(f"hyperparameter {name}={text[:100]!r} is not {kind}") from None
    if isinstance(converted, float) and not math.isfinite(converted):
        raise ValueError(f"hyperparameter {name}={text!r} is not a finite number")
    return converted


def recipe_from(args: argparse.Namespace, overrides: dict[str, Any]) -> Recipe:
    """Defaults, then SageMaker hyperparameters, then explicit command-line values."""
    recipe = Recipe()
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(
        name
        for name in overrides
        if name.replace("-", "_") not in known and not name.startswith(_PLATFORM_PREFIXES)
    )
    if unknown:  # a typo (`--epocs 3`) must not train with the default silently
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; "
            f"the recipe has {', '.join(sorted(known))}"
        )
    for name, value in overrides.items():
        key = name.replace("-", "_")
        if key in known:
            setattr(recipe, key, _hyperparameter_value(name, getattr(recipe, key), value))
    for key in ("epochs", "seed", "ensemble", "lr", "batch_size", "max_misroute_rate"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(recipe, key, value)
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.ensemble < 1:
        raise ValueError("epochs, batch_size and ensemble must be positive")
    if not (recipe.lr > 0 and recipe.weight_decay >= 0 and 0 <= recipe.label_smoothing < 1):
        raise ValueError("need lr > 0, weight_decay >= 0 and 0 <= label_smoothing < 1")
    if not 0 < recipe.validation_fraction < 1 or min(recipe.workers, recipe.threads) < 0:
        raise ValueError("need 0 < validation_fraction < 1 and workers, threads >= 0")
    if not 0 < recipe.max_misroute_rate < 1 or not 0 < recipe.decision_confidence < 1:
        raise ValueError("max_misroute_rate and decision_confidence must lie in (0, 1)")
    if recipe.calibration not in {"stacking", "temperature"} or recipe.calibration_splits < 0:
        raise ValueError("calibration must be stacking or temperature, calibration_splits >= 0")
    if recipe.calibration_splits == 1:
        raise ValueError("calibration_splits must be 0 (validation only) or at least 2")
    if not 32 <= recipe.pretrained_resolution <= 512 or recipe.pretrained_inverse_l2 <= 0:
        raise ValueError("pretrained_resolution must be 32-512 and pretrained_inverse_l2 > 0")
    from serving.network import LITE_VARIANTS

    if recipe.pretrained and not set(recipe.backbones()) <= set(LITE_VARIANTS):
        raise ValueError(
            f"pretrained_backbones must be a comma-separated subset of {','.join(LITE_VARIANTS)}"
        )
    return recipe


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    explicit = {"epochs", "seed", "ensemble", "lr", "batch_size", "max_misroute_rate"}
    knobs = ", ".join(f"--{f.name}" for f in fields(Recipe) if f.name not in explicit)
    parser = CliParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        # The recipe's other fields come through parse_known_args, as SageMaker hyperparameters do.
        epilog=f"The recipe's other fields are accepted as `--name value` too: {knobs} "
        "(e.g. --pretrained false trains the from-scratch members only).",
        # allow_abbrev=False: an abbreviation must not swallow a hyperparameter's name
        allow_abbrev=False,
    )
    parser.add_argument("--backend", choices=("local", "builtin", "script"), default="local")
    parser.add_argument(
        "--data",
        type=Path,
        default=env.get("SM_CHANNEL_TRAIN"),
        help="local: staged dir (<split>/<label>/*.png) or a <label>/*.png folder; "
        "SageMaker backends: the staged data's s3:// prefix",
    )
    parser.add_argument("--validation", type=Path, default=env.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--output", type=Path, default=env.get("SM_OUTPUT_DATA_DIR"))
    parser.add_argument("--model-dir", type=Path, default=env.get("SM_MODEL_DIR"))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--ensemble", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument(
        "--max-misroute-rate",
        type=float,
        help="target misroute rate among routed images the threshold must certify (0.01)",
    )
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.backend != "local":
        from training import launch

        return launch.main([args.backend, *(argv if argv is not None else sys.argv[1:])])
    if args.data is None or args.output is None:
        parser.error("--data and --output are required (or SM_CHANNEL_TRAIN/SM_OUTPUT_DATA_DIR)")
    from training.dataset import DatasetError
    from training.pretrained import PretrainedWeightsError

    try:
        # SageMaker passes hyperparameters as `--name value` too; SM_HPS holds them all.
        overrides = _sagemaker_hyperparameters() | extra_hyperparameters(extra)
        recipe = recipe_from(args, overrides)
        metrics = run_local(
            args.data,
            args.output,
            recipe,
            validation_dir=args.validation,
            model_dir=args.model_dir,
            progress=not args.no_progress,
        )
    except (DatasetError, ValueError, PretrainedWeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    log.info(
        "validation %s; decision threshold %.4f (certified: %s)",
        json.dumps({k: metrics["validation"][k] for k in ("accuracy", "ece")}),
        metrics["decision_threshold"],
        metrics["decision"]["certified"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
