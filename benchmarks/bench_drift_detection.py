"""Drift detection quality: share of drifted windows detected, false alarms on clean windows.

    .venv/bin/python -m benchmarks.bench_drift_detection [--clean-windows 300] [--drift-windows 20]

Scenario suite from the shared training images (../shared/data/cifar_bikes/train): for every
window a fresh seeded split puts half of the images into the baseline and draws the window from
the other half (>= 200 records, with replacement, capture lines in the real SageMaker format
through devkit.inject), so each window is an independent trial of "baseline vs new traffic".
With `--fixed-split` one split serves every window (windows then share one holdout's luck).
Each drifted
window applies one scenario of devkit.inject.SCENARIOS. Outputs are inject's synthetic
label-based ones (no trained model here), so prediction drift is only visible through the class
mix; image scenarios must be caught from the pixels. Goal: >= 95% detected, <= 1% false alarms.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from contract.cli import CliParser
from devkit import inject
from monitoring.accumulate import WindowSummary
from monitoring.baseline import build_baseline, labelled_images
from monitoring.capture import Window
from monitoring.evaluate import DriftSettings, evaluate

# Any stage's routing threshold: these image-only baselines have no below_threshold reference,
# so it only sets LowConfidenceRate.
STAGE_THRESHOLD = 0.9

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"


def run_window(baseline, lines, settings) -> dict:
    summary = WindowSummary(baseline=baseline, threshold=STAGE_THRESHOLD, window=Window())
    for _, line in lines:
        summary.add_line(line.encode())
    summary.finish()
    return evaluate(summary, settings)


def main() -> None:
    parser = CliParser()
    parser.add_argument("--images", type=Path, default=SHARED)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--clean-windows", type=int, default=300)
    parser.add_argument("--drift-windows", type=int, default=20)
    parser.add_argument("--scenarios", nargs="*", default=None)
    parser.add_argument("--fixed-split", action="store_true")
    parser.add_argument("--mild", action="store_true", help="also the milder scenarios")
    parser.add_argument("--false-alarm-rate", type=float, default=None, help="decision alpha")
    args = parser.parse_args()

    images = labelled_images(args.images)
    splits: dict[int, tuple] = {}

    def split(seed: int) -> tuple:
        seed = 0 if args.fixed_split else seed
        if seed not in splits:
            shuffled = list(images)
            random.Random(seed).shuffle(shuffled)
            half = len(shuffled) // 2
            baseline = build_baseline(shuffled[:half], source={"images": "benchmark half"})
            baseline.content_sha256 = baseline.to_dict()["content_sha256"]
            splits.clear()
            splits[seed] = (baseline, shuffled[half:])
        return splits[seed]

    started = time.perf_counter()
    split(0)
    print(
        f"{len(images)} images; baseline of {len(images) // 2} "
        f"in {time.perf_counter() - started:.2f} s"
    )
    settings = (
        DriftSettings()
        if args.false_alarm_rate is None
        else DriftSettings(false_alarm_rate=args.false_alarm_rate)
    )
    print(f"false_alarm_rate (alpha) {settings.false_alarm_rate}")
    start = datetime(2026, 1, 1, 10, tzinfo=UTC)

    false_alarms = 0
    insufficient = 0
    clean_scores = []
    for seed in tqdm(range(args.clean_windows), desc="clean windows"):
        baseline, holdout = split(seed)
        lines = inject.capture_lines(holdout, "clean", args.window, start, seed=seed)
        report = run_window(baseline, lines, settings)
        insufficient += report["status"] == "insufficient_data"
        false_alarms += bool(report["drift_detected"])
        clean_scores.append(report["drift_score"])
    far = false_alarms / args.clean_windows
    print(
        f"clean: {false_alarms}/{args.clean_windows} false alarms = {far:.2%} "
        f"(max score {max(clean_scores):.2f}, insufficient {insufficient})"
    )

    scenarios = args.scenarios or [
        name
        for name in inject.SCENARIOS
        if name != "clean" and (args.mild or name not in inject.MILD_SCENARIOS)
    ]
    detected_total = windows_total = 0
    mild_detected = mild_total = 0
    for scenario in scenarios:
        detected = 0
        features: dict[str, int] = {}
        for seed in range(args.drift_windows):
            baseline, holdout = split(1000 + seed)
            lines = inject.capture_lines(holdout, scenario, args.window, start, seed=1000 + seed)
            report = run_window(baseline, lines, settings)
            detected += bool(report["drift_detected"])
            for name in report["drifted_features"][:1]:
                features[name] = features.get(name, 0) + 1
        if scenario in inject.MILD_SCENARIOS:
            mild_detected += detected
            mild_total += args.drift_windows
        else:
            detected_total += detected
            windows_total += args.drift_windows
        top = ", ".join(f"{k}:{v}" for k, v in sorted(features.items(), key=lambda i: -i[1]))
        print(f"  {scenario:<20} {detected:>3}/{args.drift_windows} detected  (top feature: {top})")
    if mild_total:
        print(f"mild scenarios: {mild_detected}/{mild_total} = {mild_detected / mild_total:.1%}")
    print(
        f"drifted: {detected_total}/{windows_total} detected = "
        f"{detected_total / max(windows_total, 1):.1%} (goal >= 95%); "
        f"false alarms {far:.2%} (goal <= 1%); window {args.window} records"
    )


if __name__ == "__main__":
    main()
