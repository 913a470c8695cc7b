"""The trainer: fit the model, calibrate it and choose its routing threshold on held-out answers
(`fit`). By default the model is the pretrained member alone, cross-fitted: its head is fitted
on every labelled image (train and validation), and the calibration and the threshold on each
image's out-of-fold answer. With from-scratch members (`ensemble` > 0, trained in parallel
processes) the ensemble is calibrated on the validation split. Torch is imported where it is
used, so the CLI answers `--help` without it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.calibration import HeldOut, fit_stacking
from training.decision import choose_threshold, decision_document, fit_temperature
from training.evaluate import classification_report

try:  # progress bars; a bare training container has no tqdm
    import tqdm
except ImportError:
    tqdm = None  # type: ignore[assignment]

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
    # From-scratch ResNets averaged with the pretrained member. 0 (the default): the pretrained
    # member alone, cross-fitted (README "Quality": the ResNets add half a point of accuracy
    # but blur the ranking the routing threshold needs, and cost 4.5 of 5.5 training minutes).
    ensemble: int = 0
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
    # The pretrained head refitted this many times, each fit answering the images it left out:
    # the held-out answers the pretrained member alone is calibrated and thresholded on (all
    # labelled images), or stacking's points beyond validation (the training part; 0: none).
    calibration_splits: int = 5
    # "temperature" (one T on the groups' average, fitted on validation) or "stacking"
    # (training.calibration: per-group temperatures on every held-out answer, then a logistic
    # combination on validation). README "Quality" has both measured.
    calibration: str = "temperature"
    # The routing threshold the model earns on held-out answers (training.decision): the
    # misroute rate among routed images bounded <= max_misroute_rate by Clopper-Pearson at this
    # confidence. 0.5 on ~1000 out-of-fold answers: README "Quality" measures 0.5-0.95.
    max_misroute_rate: float = 0.01
    decision_confidence: float = 0.5
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
    # What the calibration and the threshold were fitted on, for the plot: labels and the
    # uncalibrated and calibrated (n, 2) probabilities.
    held_out: tuple[Any, Any, Any] | None = None


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
        if progress and tqdm is not None:
            self.bar = tqdm.tqdm(
                total=recipe.epochs * recipe.ensemble,
                desc=f"training {recipe.ensemble} model(s)",
                unit="epoch",
                file=sys.stderr,
            )

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
    """Fit the model on `train` (an ImageSet), calibrate it and choose its threshold: on the
    out-of-fold answers of train and `validation` for the pretrained member alone
    (`ensemble` 0), on `validation` for an ensemble with from-scratch members."""
    if recipe.ensemble == 0:
        return _fit_pretrained_alone(train, validation, recipe, progress)
    import torch

    from serving.inference import Calibration, arrays_to_tensor, model_from_checkpoint
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
    _log_decision(decision, calibration, recipe)
    uncalibrated = np.mean([p.numpy() for p in groups.values()], axis=0)
    calibrated = Calibration.from_checkpoint(checkpoint)(groups).numpy()
    return TrainResult(
        checkpoint,
        epochs.history,
        report,
        time.perf_counter() - started,
        decision,
        calibration,
        extra,
        held_out=(validation.labels, uncalibrated, calibrated.astype(np.float64)),
    )


def _fit_pretrained_alone(
    train: Any, validation: Any, recipe: Recipe, progress: bool
) -> TrainResult:
    """The pretrained member alone, cross-fitted. Its head is fitted on train and validation
    together; each image's held-out answer comes from the head refitted `calibration_splits`
    times without it (seconds: the trunks' features are computed once), averaged over the
    image and its mirror as served. The calibration and the threshold are fitted on those
    answers: about 1000 points, where a carved validation split gives 100, and no image is
    taken away from the head (README "Quality" measures both)."""
    import torch

    from serving.inference import Calibration, arrays_to_tensor
    from training.model import make_checkpoint
    from training.pretrained import fit_pretrained_member

    started = time.perf_counter()
    images = np.concatenate([train.channels_first, validation.channels_first])
    labels = np.concatenate([train.labels, validation.labels])
    torch.set_num_threads(recipe.threads or _cores())
    pretrained = fit_pretrained_member(
        arrays_to_tensor(images),
        torch.from_numpy(labels),
        backbones=recipe.backbones(),
        resolution=recipe.pretrained_resolution,
        inverse_l2=recipe.pretrained_inverse_l2,
        progress=progress,
        out_of_fold_splits=recipe.calibration_splits,
        mirror=recipe.tta_hflip,
        seed=recipe.seed,
    )
    held_out = pretrained.pop("out_of_fold")
    checkpoint = make_checkpoint([], recipe.arch(), recipe.tta_hflip, pretrained)
    decision, calibration, report = calibrate_and_choose(labels, {"pretrained": held_out}, recipe)
    calibration["fitted_on"] = (
        f"out-of-fold answers of the {len(labels)} train + validation images "
        f"({recipe.calibration_splits} folds)"
    )
    checkpoint["calibration"] = dict(decision["calibration"])
    calibrated = Calibration.from_checkpoint(checkpoint)(
        {"pretrained": torch.from_numpy(held_out.astype(np.float32))}
    )
    log.info(
        "pretrained member (%s) fitted on %d images in %.0f s",
        recipe.pretrained_backbones,
        len(labels),
        time.perf_counter() - started,
    )
    _log_decision(decision, calibration, recipe)
    return TrainResult(
        checkpoint,
        [],
        report,
        time.perf_counter() - started,
        decision,
        calibration,
        held_out=(labels, held_out, calibrated.numpy().astype(np.float64)),
    )


def _log_decision(decision: dict[str, Any], calibration: dict[str, Any], recipe: Recipe) -> None:
    log.info(
        "calibration: %s, held-out ECE %.4f -> %.4f; decision threshold %.4f (certified "
        "%s: %d of %d held-out answers routed, %d misrouted, %.0f%% upper bound %.4f, "
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
            "%d held-out answers cannot certify a misroute rate <= %g at %g confidence (that "
            "needs >= %d routed images): threshold %.4f is the fallback, certified: false",
            decision["validation_images"],
            recipe.max_misroute_rate,
            recipe.decision_confidence,
            decision["images_needed_to_certify"],
            decision["decision_threshold"],
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
    import torch

    from serving.inference import Calibration

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
