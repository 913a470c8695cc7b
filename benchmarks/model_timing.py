"""The served model's time, for `bench_serving`: per-request latency through the serving handlers
(bytes in, JSON out) beside a reference network timed in the same loop, cold start, throughput
per instance at a few concurrencies, and the levers (variants of the served model).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from serving import inference
from serving.network import PretrainedLinear
from training.model import write_model_dir


class ReferenceNet(nn.Module):
    """Issue 18's yardstick: four stages of two 3x3 conv + BN + ReLU (64/128/256/512 channels,
    stride 2 between stages), global pool, linear; about 0.6 GMAC for a 32x32 image."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for stage, width in enumerate((64, 128, 256, 512)):
            for index in range(2):
                stride = 2 if stage and not index else 1
                layers += [
                    nn.Conv2d(channels, width, 3, stride, 1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def serve_once(model: Any, body: bytes) -> str:
    """One request through the endpoint's handlers: bytes in, JSON out."""
    tensor = inference.input_fn(body, "image/png")
    return inference.output_fn(inference.predict_fn(tensor, model), "application/json")


def latency(
    model: Any, body: bytes, requests: int, threads: int, warmup: int = 5
) -> dict[str, float]:
    """Wall p50/p99 and CPU p50 (all threads) of the model through the handlers and of the
    reference network, interleaved request by request so that whatever else loads the machine
    weighs on both alike. On a shared machine the CPU times are the steadier measure."""
    torch.set_num_threads(threads)
    reference = ReferenceNet().eval()
    image = inference.input_fn(body, "image/png")
    served: dict[str, list[float]] = {"wall": [], "cpu": []}
    yardstick: dict[str, list[float]] = {"wall": [], "cpu": []}
    with torch.inference_mode():
        for index in range(warmup + requests):
            for samples, run in ((served, lambda: serve_once(model, body)), (yardstick, None)):
                wall, cpu = time.perf_counter(), time.process_time()
                if run is None:
                    reference(image)
                else:
                    run()
                if index >= warmup:
                    samples["wall"].append((time.perf_counter() - wall) * 1000)
                    samples["cpu"].append((time.process_time() - cpu) * 1000)
    row = {
        "p50": percentile(served["wall"], 50),
        "p99": percentile(served["wall"], 99),
        "cpu_p50": percentile(served["cpu"], 50),
        "reference_p50": percentile(yardstick["wall"], 50),
        "reference_cpu_p50": percentile(yardstick["cpu"], 50),
    }
    row["ratio"] = row["p50"] / row["reference_p50"]
    row["cpu_ratio"] = row["cpu_p50"] / row["reference_cpu_p50"]
    return row


def _worker(model_dir: str, body: bytes, threads: int, seconds: float, go: Any, out: Any) -> None:
    """One serving worker in a fresh process: cold start, then requests back to back."""
    # As the container tells each worker how many share the cores (`serving_threads`).
    os.environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(max(1, (os.cpu_count() or 1) // threads))
    began = time.perf_counter()
    loaded = inference.model_fn(model_dir)
    load_s = time.perf_counter() - began
    torch.set_num_threads(threads)
    first = time.perf_counter()
    serve_once(loaded, body)
    first_s = time.perf_counter() - first
    go.wait()  # every worker loaded: start together
    start = time.perf_counter()
    times: list[float] = []
    while time.perf_counter() - start < seconds:
        began = time.perf_counter()
        serve_once(loaded, body)
        times.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - start
    out.put({"load_s": load_s, "first_s": first_s, "times": times, "elapsed": elapsed})


def throughput(model_dir: Path, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    """Requests per second of `concurrency` worker processes sharing this machine's cores (as
    the serving container's workers share an instance's vCPUs), and their cold start."""
    context = multiprocessing.get_context("spawn")
    go, out = context.Barrier(concurrency), context.Queue()
    threads = max(1, (os.cpu_count() or 1) // concurrency)
    workers = [
        context.Process(target=_worker, args=(str(model_dir), body, threads, seconds, go, out))
        for _ in range(concurrency)
    ]
    for worker in workers:
        worker.start()
    rows = [out.get(timeout=900) for _ in workers]
    for worker in workers:
        worker.join()
    times = [t for row in rows for t in row["times"]]
    return {
        "threads": threads,
        # each worker's requests over the time it took them (the last one may overrun `seconds`)
        "per_s": sum(len(row["times"]) / row["elapsed"] for row in rows),
        "p50": percentile(times, 50),
        "load_s": statistics.median(row["load_s"] for row in rows),
        "first_s": statistics.median(row["first_s"] for row in rows),
    }


def model_dir_of(checkpoint: dict[str, Any]) -> tempfile.TemporaryDirectory[str]:
    """A temporary model directory (what SageMaker extracts) holding `checkpoint`."""
    folder = tempfile.TemporaryDirectory(prefix="bench-serving-")
    write_model_dir(checkpoint, Path(folder.name))
    return folder


def lever_variants(checkpoint: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Variants of the served model (traced for one image, as `model_fn` does), for timing
    only: heads whose inputs change are zeros."""
    variants: dict[str, Callable[[], Any]] = {
        "as served": partial(_served, checkpoint),
        "eager (no TorchScript)": partial(inference.model_from_checkpoint, checkpoint),
        "no mirror pass": partial(_served, {**checkpoint, "tta_hflip": False}),
    }
    if checkpoint.get("members"):
        variants["from-scratch members only"] = partial(_served, {**checkpoint, "pretrained": None})
    entry = checkpoint.get("pretrained")
    if entry:
        variants["pretrained member only"] = partial(_served, {**checkpoint, "members": []})
        for resolution in (160, 128, 96):
            variants[f"trunks at {resolution} px"] = partial(
                _with_pretrained, checkpoint, resolution=resolution
            )
        for backbone in entry["backbones"]:
            variants[f"{backbone} trunk only"] = partial(
                _with_pretrained, checkpoint, backbones=[backbone]
            )
    return variants


def _served(checkpoint: dict[str, Any]) -> Any:
    return inference.model_from_checkpoint(checkpoint).trace_single_image()


def _with_pretrained(checkpoint: dict[str, Any], **changes: Any) -> Any:
    """The served model with its pretrained member changed (resolution, backbones)."""
    entry = {**checkpoint["pretrained"], **changes}
    network = PretrainedLinear(entry["backbones"], entry["resolution"])
    state = network.state_dict()
    kept = {k: v for k, v in checkpoint["pretrained"]["state"].items() if k in state}
    state.update({k: v for k, v in kept.items() if v.shape == state[k].shape})
    return _served({**checkpoint, "pretrained": {**entry, "state": state}})
