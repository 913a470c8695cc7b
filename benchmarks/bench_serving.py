"""Time of the serving path: image preparation, then the model through the serving handlers.

    .venv/bin/python -m benchmarks.bench_serving [--repeats 5] [--model model.tar.gz]
        [--requests 200] [--threads 1,2] [--concurrency 1,2,4] [--seconds 20] [--levers]
        [--only preparation|model]

Image preparation:

For a 32x32 PNG (a staged CIFAR image from ../shared/data when present, else generated) and
generated phone JPEGs of 12, 24 and 48 MP (`devkit.photos`), per size:

- gate: what serialize_image does with the upload (header checks, decode with JPEG DCT scaling,
  EXIF, colours, crop + LANCZOS to 32x32, PNG encode: `lambdas.shared.images.prepare_upload`);
- endpoint: what the endpoint's `input_fn` does with the prepared PNG the workflow sends it;
- endpoint, upload as is: `input_fn` on the upload itself (a client calling the endpoint
  directly; the same `contract.images` preparation, so the same pixels);
- full decode: Pillow decoding the upload at full size and converting it to RGB, for scale
  (what every step paid before draft mode).

Median wall and CPU milliseconds over the repeats (this machine, whatever else runs on it), and
the upload's and the prepared PNG's sizes. Last, the whole path's cost per stage, per month and
per million images at the throughput and p50 measured here (`benchmarks.bench_costs`; `--no-costs`
or `--only` skips it).

The model (`--model`, else an untrained model of the default recipe's shape: the time does not
depend on the weights' values), one 32x32 PNG per request through `input_fn` -> `predict_fn` ->
`output_fn` (bytes in, JSON out):

- runtime: `--runtime auto` (the default, as the endpoint: ONNX Runtime on the archive's
  model.onnx where onnxruntime is installed), `torch` (TorchScript) or `both`, one after the
  other on the same machine;
- latency: p50 and p99 at 1 and 2 threads, each request followed by the issue-18
  reference network (`model_timing.ReferenceNet`) on the same image, so both see the same load;
  the ratio of the p50s is the goal's measure (<= 2);
- throughput per instance: N worker processes (the serving container's workers) sharing this
  machine's cores, requests back to back for `--seconds`, at each concurrency N; with each
  worker's cold start (`model_fn` in a fresh process) and first request;
- `--levers`: p50 of variants of the served model at 1 thread (heads zeroed where their inputs
  change: timing only), each beside the reference.

The machine's load average is printed before and after: on a shared machine, compare ratios.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from benchmarks import bench_costs
from benchmarks.model_timing import latency, lever_variants, model_dir_of, throughput
from contract import DEFAULT_LIMITS
from contract.cli import CliParser
from devkit.photos import phone_jpeg
from lambdas.shared.images import prepare_upload
from serving.inference import (
    ONNX_FILE,
    RUNTIME_SETTING,
    WEIGHTS_FILE,
    input_fn,
    load_checkpoint,
    model_fn,
)
from serving.network import PretrainedLinear, build_network
from training.model import make_checkpoint
from training.trainer import Recipe

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"


def small_png(folder: Path) -> bytes:
    found = sorted(folder.glob("*/*.png"))[:1]
    if found:
        return found[0].read_bytes()
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def timed(step: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU time is what a busy machine distorts least)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def full_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.convert("RGB")


def preparation(images: Path, repeats: int) -> None:
    uploads = {"32x32 PNG": small_png(images)}
    for megapixels in (12, 24, 48):
        uploads[f"{megapixels} MP JPEG"] = phone_jpeg(megapixels, seed=megapixels)
    print(f"{'upload':<12} {'bytes':>10} {'prepared':>8}   median ms: wall / CPU")
    for name, data in uploads.items():
        prepared = prepare_upload(data, DEFAULT_LIMITS).png
        content_type = "image/png" if name.endswith("PNG") else "image/jpeg"
        steps: dict[str, Callable[[], object]] = {
            "gate": partial(prepare_upload, data, DEFAULT_LIMITS),
            "endpoint": partial(input_fn, prepared, "image/png"),
            "endpoint, upload as is": partial(input_fn, data, content_type),
            "full decode (for scale)": partial(full_decode, data),
        }
        print(f"{name:<12} {len(data):>10,} {len(prepared):>8,}")
        for step, run in steps.items():
            wall, cpu = timed(run, repeats)
            print(f"  {step:<26} {wall:8.1f} / {cpu:8.1f}")


def default_recipe_checkpoint() -> dict[str, Any]:
    """An untrained model of the default recipe's shape (random weights: the same time)."""
    recipe = Recipe()
    torch.manual_seed(0)
    members = [build_network(recipe.arch()).state_dict() for _ in range(recipe.ensemble)]
    pretrained = None
    if recipe.pretrained:
        network = PretrainedLinear(recipe.backbones(), recipe.pretrained_resolution)
        pretrained = {
            "backbones": recipe.backbones(),
            "resolution": recipe.pretrained_resolution,
            "state": network.state_dict(),
        }
    return make_checkpoint(members, recipe.arch(), recipe.tta_hflip, pretrained)


def archive_checkpoint(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive, "r:*") as tar, tempfile.TemporaryDirectory() as folder:
        tar.extract(WEIGHTS_FILE, folder, filter="data")
        return load_checkpoint(str(Path(folder) / WEIGHTS_FILE))


def serving(args: argparse.Namespace) -> list[str]:
    """Print the model's figures; return the measured ones as `bench_costs` options (those of
    the last runtime timed: the endpoint's, with the default `--runtime auto`)."""
    measured: dict[str, float] = {}
    checkpoint = archive_checkpoint(args.model) if args.model else default_recipe_checkpoint()
    print(f"\nmodel: {args.model or 'untrained, default recipe shape'}; load {_load()}")
    with model_dir_of(checkpoint) as folder:
        for runtime in ("torch", "auto") if args.runtime == "both" else (args.runtime,):
            os.environ[RUNTIME_SETTING] = runtime  # (the throughput workers inherit it)
            measured = serving_runtime(args, Path(folder), checkpoint)
    print(f"load average at the end: {_load()}")
    per_vcpu = measured.get("per_s", 0.0) / (os.cpu_count() or 1)
    options = (
        ["--endpoint-ms", f"{measured['endpoint_ms']:.1f}"] if "endpoint_ms" in measured else []
    )
    return options + (["--images-per-second-per-vcpu", f"{per_vcpu:.3f}"] if per_vcpu else [])


def serving_runtime(
    args: argparse.Namespace, folder: Path, checkpoint: dict[str, Any]
) -> dict[str, float]:
    """The model's figures with the runtime `SERVING_RUNTIME` picks."""
    body = small_png(args.images)
    measured: dict[str, float] = {}
    model = model_fn(str(folder))
    print(f"runtime: {model.runtime} ({RUNTIME_SETTING}={os.environ[RUNTIME_SETTING]})")
    print("per request through the handlers (bytes in, JSON out), ms:")
    for threads in args.threads:
        if model.runtime == "onnxruntime":  # its session's threads are fixed when loaded
            model.serve_onnx(str(folder / ONNX_FILE), threads)
        row = latency(model, body, args.requests, threads)
        print(
            f"  {threads} thread(s): wall p50 {row['p50']:6.1f} p99 {row['p99']:6.1f}, CPU p50 "
            f"{row['cpu_p50']:6.1f} | reference network wall p50 {row['reference_p50']:5.1f}, "
            f"CPU p50 {row['reference_cpu_p50']:5.1f} | ratio wall {row['ratio']:4.1f}x, CPU "
            f"{row['cpu_ratio']:4.1f}x (goal <= 2)"
        )
        measured["endpoint_ms"] = row["p50"]
    if args.levers:
        print("levers, 1 thread, p50 ms wall / CPU (ratio to the reference timed beside it):")
        for name, build in lever_variants(checkpoint).items():
            row = latency(build(), body, max(20, args.requests // 4), threads=1)
            print(
                f"  {name:<34} {row['p50']:6.1f} / {row['cpu_p50']:6.1f}  "
                f"({row['ratio']:4.1f}x / {row['cpu_ratio']:4.1f}x)",
                flush=True,
            )
    print(f"throughput per instance ({os.cpu_count()} cores), {args.seconds:.0f} s each:")
    for concurrency in args.concurrency:
        row = throughput(Path(folder), body, concurrency, args.seconds)
        print(
            f"  concurrency {concurrency} ({row['threads']} thread(s) each): "
            f"{row['per_s']:6.1f} requests/s, p50 {row['p50']:6.1f} ms | cold start: "
            f"model_fn {row['load_s']:.2f} s, first request {row['first_s'] * 1000:.0f} ms",
            flush=True,
        )
        measured["per_s"] = max(measured.get("per_s", 0.0), row["per_s"])
    return measured


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg()) + " (1/5/15 min)"


def _counts(text: str) -> list[int]:
    values = [int(v) for v in text.split(",")]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("need positive integers, comma-separated")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=Path, default=SHARED_IMAGES, help="<label>/*.png")
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: untrained)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per setting")
    parser.add_argument("--threads", type=_counts, default=[1, 2], help="torch threads")
    parser.add_argument("--concurrency", type=_counts, default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=20.0, help="per concurrency")
    parser.add_argument("--levers", action="store_true", help="time variants of the model")
    parser.add_argument("--runtime", choices=("auto", "torch", "both"), default="auto")
    parser.add_argument("--only", choices=("preparation", "model"))
    parser.add_argument("--no-costs", action="store_true", help="skip the cost per stage")
    args = parser.parse_args(argv)
    if args.only != "model":
        preparation(args.images, args.repeats)
    measured = serving(args) if args.only != "preparation" else []
    if not (args.no_costs or args.only):
        bench_costs.main(measured)  # the cost per stage at the throughput measured here
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
