"""Fuzz the entry points with the hostile families of issue 19; print cases per second.

    .venv/bin/python -m benchmarks.bench_fuzz [--seconds 2] [--seed 0]

Each family runs for `--seconds` against its entry point, with inputs drawn from a seeded
generator (the same families as the hypothesis strategies in tests/hostile.py): JSON documents
(deep, big integers, bad bytes, NaN, truncated) through the bounded parser; capture lines through
the drift job's parse and window summary; endpoint answers through classify_image; events
through the three Lambdas; windows; and the launcher's and trainer's command lines. Every case
must end in a result or the entry point's typed error: the table counts both, and any other
exception is a crash (printed, exit status 1).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from PIL import Image

from contract.cli import CliParser
from lambdas.classify_image import core as classify_core
from lambdas.filter_inferences import core as filter_core
from lambdas.serialize_image import core as serialize_core
from lambdas.shared import bounded_json
from lambdas.shared.errors import WorkflowError
from monitoring import capture
from monitoring.accumulate import WindowSummary
from monitoring.baseline import Baseline, NumericReference
from monitoring.features import IMAGE_NUMERIC
from training import launch
from training.hyperparameters import recipe_from

WORDS = ["[", "]", "{", "}", '"a":', "1", "-", "0" * 30, "NaN", "1e400", ",", '"\\', "\xff", "null"]
TIMES = [
    "2026-01-01T10:30:00Z",
    "2026-01-01T10:00:00 UTC",
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00+14:00",
    "",
    "yesterday",
]


def hostile_json(rng: random.Random) -> str | bytes:
    family = rng.randrange(7)
    if family == 0:
        depth = rng.randrange(1, 20_000)
        return "[" * depth + "]" * depth
    if family == 1:
        depth = rng.randrange(1, 3_000)
        return '{"a":' * depth + "0" + "}" * depth
    if family == 2:
        return f"[1{'0' * rng.randrange(1, 6_000)}, 0]"
    if family == 3:
        return rng.randbytes(rng.randrange(0, 40)) + b"[0.5, 0.5]"
    if family == 4:
        return "".join(rng.choice(WORDS) for _ in range(rng.randrange(0, 30)))
    if family == 5:
        return f"[{rng.choice(['NaN', 'Infinity', '1e400', '0.5'])}, {rng.random()}]"
    return json.dumps([rng.random(), rng.random()])


def _png() -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


PNG_B64 = base64.b64encode(_png()).decode()


def capture_line(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        document = hostile_json(rng)
        return document if isinstance(document, bytes) else document.encode()
    output: Any = "[0.25, 0.75]" if rng.random() < 0.5 else hostile_json(rng)
    if isinstance(output, bytes):
        output = output.decode("latin-1")
    record = {
        "captureData": {
            "endpointInput": {"data": PNG_B64, "encoding": "BASE64"},
            "endpointOutput": {"data": output, "encoding": "JSON"},
        },
        "eventMetadata": {"inferenceTime": rng.choice(TIMES)},
    }
    return json.dumps(record).encode()


def _nested(rng: random.Random) -> object:
    value: object = {}
    for _ in range(rng.randrange(1, 3_000)):
        value = [value]
    return value


def event(rng: random.Random) -> dict[str, Any]:
    numbers = [10**5000, float("nan"), float("inf"), 0.97, 0.03, 2**64, True, "0.9"]
    return {
        "s3_bucket": "uploads",
        "s3_key": "a.png",
        "image": {"content_type": "image/png", "s3_bucket": "uploads", "s3_key": "a.png"},
        "classification": {
            "label": rng.choice(["bicycle", "motorcycle", "car"]),
            "probabilities": {"bicycle": rng.choice(numbers), "motorcycle": rng.choice(numbers)},
        },
        "threshold": rng.choice([None, *numbers]),
        "extra": _nested(rng) if rng.random() < 0.3 else None,
    }


def _summary() -> Any:
    reference = NumericReference.from_values(np.linspace(0.0, 300.0, 101))
    baseline = Baseline(numeric=dict.fromkeys((*IMAGE_NUMERIC, "confidence"), reference),
                        categorical={})  # fmt: skip
    return WindowSummary(baseline=baseline, threshold=0.9)


def make_prediction(rng: random.Random) -> bytes:
    document = hostile_json(rng)
    return document if isinstance(document, bytes) else document.encode()


def run_prediction(body: bytes) -> None:
    classify_core.parse_prediction(body, 0.01)


def run_events(case: dict[str, Any]) -> None:
    for parse in (
        classify_core.parse_event,
        serialize_core.parse_event,
        lambda e: filter_core.parse_event(e, 0.9),
    ):
        with contextlib.suppress(WorkflowError):
            parse(case)


def make_window(rng: random.Random) -> tuple[datetime, datetime]:
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 1_000_000))
    return start, start + timedelta(hours=rng.randrange(-100, 2_000))


def run_window(window: tuple[datetime, datetime]) -> None:
    capture.check_window(*window)
    sum(1 for _ in capture.hour_prefixes("r/", capture.Window(*window)))


LAUNCH_TOKENS = ["--max-runtime", "--tag", "--epochs", "--bogus", "--on-demand", "0", "x=1", "nan"]
SETTINGS = [
    "--role-arn", "arn:aws:iam::123456789012:role/r", "--data", "s3://b/d", "--output", "s3://b/m",
    "--kms-key-arn", "alias/k", "--region", "us-east-1",
]  # fmt: skip


def make_launch_argv(rng: random.Random) -> list[str]:
    tokens = [rng.choice(LAUNCH_TOKENS) for _ in range(rng.randrange(0, 5))]
    return ["script", *SETTINGS, *tokens]


def run_launch_cli(argv: list[str]) -> None:
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            args = launch.build_parser().parse_args(argv)
        except SystemExit as exit_:
            if exit_.code != 2:
                raise
            return
    launch.resolve_settings(args)


HYPERPARAMETERS = ["epochs", "lr", "pretrained", "widths", "epocs", "_tuning_objective_metric"]
VALUES = ["0", "3", "-1", "nan", "inf", "true", "maybe", "4,8", "x"]


def make_hps(rng: random.Random) -> dict[str, str]:
    return {rng.choice(HYPERPARAMETERS): rng.choice(VALUES) for _ in range(rng.randrange(4))}


def run_train_hps(overrides: dict[str, str]) -> None:
    recipe_from(argparse.Namespace(), overrides)


TYPED: tuple[type[BaseException], ...] = (
    bounded_json.JsonError,
    WorkflowError,
    capture.WindowError,
    launch.LaunchError,
    ValueError,  # recipe_from's documented error
)


Family = tuple[str, Callable[[random.Random], Any], Callable[[Any], Any]]


def families() -> dict[str, Family]:
    summary = _summary()
    return {
        "json documents": ("bounded_json.loads", hostile_json, bounded_json.loads),
        "capture lines": ("WindowSummary.add_line (parse + count)", capture_line, summary.add_line),
        "endpoint answers": ("classify_image parse_prediction", make_prediction, run_prediction),
        "workflow events": ("3 Lambdas' parse_event", event, run_events),
        "windows": ("check_window + hour_prefixes", make_window, run_window),
        "launch command lines": (
            "training.launch parser + settings",
            make_launch_argv,
            run_launch_cli,
        ),
        "hyperparameters": ("training.hyperparameters recipe_from", make_hps, run_train_hps),
    }


def measure(
    make: Callable[[random.Random], Any], run: Callable[[Any], Any], seconds: float, seed: int
) -> tuple[int, float, int, int, list[str]]:
    """Draw a pool of cases (untimed), then run the entry point over it for `seconds`."""
    rng = random.Random(seed)
    pool = [make(rng) for _ in range(500)]
    for case in pool:  # warm-up, untimed: first imports (torch), numba's compile, caches
        with contextlib.suppress(Exception):
            run(case)
    cases = typed = crashes = 0
    examples: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        case = pool[cases % len(pool)]
        cases += 1
        try:
            run(case)
        except TYPED:
            typed += 1
        except Exception as error:  # a crash: what this benchmark exists to find
            crashes += 1
            if len(examples) < 3:
                examples.append(f"{type(error).__name__}: {str(error)[:200]}")
    return cases, time.perf_counter() - started, typed, crashes, examples


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Fuzz the entry points; print cases/s.")
    parser.add_argument("--seconds", type=float, default=2.0, help="per family")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{'family':22} {'entry point':40} {'cases':>7} {'cases/s':>9} {'typed':>7} {'crash':>6}")
    total_cases = total_crashes = 0
    total_seconds = 0.0
    for name, (entry, make, run) in families().items():
        cases, elapsed, typed, crashes, examples = measure(make, run, args.seconds, args.seed)
        total_cases += cases
        total_crashes += crashes
        total_seconds += elapsed
        print(f"{name:22} {entry:40} {cases:7d} {cases / elapsed:9.0f} {typed:7d} {crashes:6d}")
        for example in examples:
            print(f"    crash: {example}")
    rate = total_cases / total_seconds
    print(f"{'all':22} {'':40} {total_cases:7d} {rate:9.0f} {'':7} {total_crashes:6d}")
    print(f"families covered: {len(families())}; every case a result or a typed error")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
