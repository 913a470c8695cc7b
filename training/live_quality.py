"""Live quality from the reviewers' answers: what the deployed model really routes, and how well.

    python -m training.live_quality --labels s3://BUCKET/labels/ [--out DIR] [--since 2026-12-01]

The audit sample (a stage setting, default 2 % of the confident answers, sent to a person
although the model was sure) is a random sample of what the model routes, so its share of wrong
answers estimates the live misroute rate; Clopper-Pearson gives the bound that says whether the
stage meets its target. The low-confidence reviews say how often the model was right when it
was unsure (a threshold set too high shows as a high share). Per model version and overall,
with a daily table; `--out` also writes quality.json and quality.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from contract.cli import CliParser, finite_number
from lambdas.shared.label_record import LabelRecord
from training.data.errors import DataStagingError
from training.data.live_labels import PREFIX as LABELS_PREFIX
from training.data.live_labels import RecordStore, collect
from training.data.s3 import make_client
from training.decision import clopper_pearson_upper, images_needed

EXIT_ERROR = 2
BOUND_CONFIDENCE = 0.95


def quality_block(records: list[LabelRecord], max_misroute_rate: float) -> dict[str, Any]:
    """The figures of one group of decisions (a model version, a day, or all)."""
    routed = [r for r in records if r.decision == "routed"]
    audits = [r for r in records if r.reason == "audit"]
    unsure = [r for r in records if r.reason == "low_confidence"]
    total = len(records)
    wrong = sum(r.reviewer_disagrees for r in audits)
    right_when_unsure = sum(not r.reviewer_disagrees for r in unsure)
    bound = clopper_pearson_upper(wrong, len(audits), BOUND_CONFIDENCE) if audits else None
    if not audits:
        status = "no audits"
    elif bound is not None and bound <= max_misroute_rate:
        status = "within target"
    elif wrong / len(audits) > max_misroute_rate:
        status = "above target"
    else:
        needed = images_needed(max_misroute_rate, BOUND_CONFIDENCE)
        status = f"too few audits to tell (needs >= {needed})"
    return {
        "decisions": total,
        "routed_automatically": len(routed),
        "automated_share": len(routed) / total if total else None,
        # The share the model was sure about: routed, plus the audits it would have routed.
        "confident_share": (len(routed) + len(audits)) / total if total else None,
        "audit": {
            "reviewed": len(audits),
            "misrouted": wrong,
            "not_a_vehicle": sum(r.label == "not_a_vehicle" for r in audits),
            "misroute_rate": wrong / len(audits) if audits else None,
            f"misroute_upper_bound_{int(BOUND_CONFIDENCE * 100)}": bound,
            "target": max_misroute_rate,
            "status": status,
        },
        "low_confidence": {
            "reviewed": len(unsure),
            "model_right": right_when_unsure,
            "model_accuracy": right_when_unsure / len(unsure) if unsure else None,
            "not_a_vehicle": sum(r.label == "not_a_vehicle" for r in unsure),
        },
        "thresholds": sorted({r.threshold for r in records}),
    }


def live_quality(
    records: Iterable[LabelRecord], max_misroute_rate: float = 0.01, since: str | None = None
) -> dict[str, Any]:
    """The report: overall, per model version and per day (UTC) of `decided_at`."""
    kept = sorted(
        (r for r in records if since is None or _day(r) >= since),
        key=lambda r: r.decided_at,
    )
    by_version: dict[str, list[LabelRecord]] = defaultdict(list)
    by_day: dict[str, list[LabelRecord]] = defaultdict(list)
    for record in kept:
        by_version[record.model_version].append(record)
        by_day[_day(record)].append(record)
    return {
        "overall": quality_block(kept, max_misroute_rate),
        "by_model_version": {
            version: quality_block(by_version[version], max_misroute_rate)
            for version in sorted(by_version)
        },
        "daily": [
            {"day": day, **quality_block(by_day[day], max_misroute_rate)} for day in sorted(by_day)
        ],
        "since": since,
    }


def _day(record: LabelRecord) -> str:
    return record.decided_at[:10]  # decided_at is UTC, so its date is the UTC day


def plot(report: dict[str, Any], path: Path) -> None:
    """Per day: how decisions were taken (stacked), and the audited misroute rate with its bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [row["day"] for row in report["daily"]]
    routed = [row["routed_automatically"] for row in report["daily"]]
    audits = [row["audit"]["reviewed"] for row in report["daily"]]
    unsure = [row["low_confidence"]["reviewed"] for row in report["daily"]]
    figure, (counts, rates) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    counts.bar(days, routed, label="routed by the model", color="#4c72b0")
    counts.bar(days, audits, bottom=routed, label="audited", color="#55a868")
    stacked = [a + b for a, b in zip(routed, audits, strict=True)]
    counts.bar(days, unsure, bottom=stacked, label="low confidence: a person", color="#dd8452")
    counts.set_ylabel("decisions")
    counts.legend(loc="upper left", fontsize=8)
    counts.set_title("How drivers were routed, and how often the model was wrong")
    rate = [row["audit"]["misroute_rate"] for row in report["daily"]]
    bound = [row["audit"]["misroute_upper_bound_95"] for row in report["daily"]]
    xs = [i for i, r in enumerate(rate) if r is not None]
    rates.plot(xs, [rate[i] for i in xs], "o-", label="audited misroute rate")
    rates.plot(xs, [bound[i] for i in xs], "v:", label="95 % upper bound")
    target = report["overall"]["audit"]["target"]
    rates.axhline(target, color="red", lw=1, label=f"target {target:g}")
    rates.set_ylabel("misroute rate (audits)")
    rates.legend(loc="upper left", fontsize=8)
    rates.set_xticks(range(len(days)), days, rotation=45, ha="right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def parser() -> argparse.ArgumentParser:
    cli = CliParser(prog="python -m training.live_quality", description=__doc__)
    cli.add_argument(
        "--labels", required=True, help="the label records: s3://BUCKET/labels/ or a folder"
    )
    cli.add_argument("--out", type=Path, help="also write quality.json and quality.png here")
    cli.add_argument("--since", help="only decisions from this UTC day on (YYYY-MM-DD)")
    cli.add_argument(
        "--max-misroute-rate",
        type=finite_number,
        default=0.01,
        help="the stage's target (default 0.01)",
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if not 0.0 < args.max_misroute_rate < 1.0:
        cli.error("--max-misroute-rate must lie in (0, 1)")
    if args.since is not None and not _is_day(args.since):
        cli.error(f"--since {args.since!r} is not a day YYYY-MM-DD")
    try:
        found = collect(RecordStore(args.labels.removeprefix(LABELS_PREFIX), make_client()))
    except DataStagingError as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR
    report = live_quality(
        (record for record, _ in found.latest.values()), args.max_misroute_rate, args.since
    )
    report["records"] = {
        "lines": found.lines,
        "left_out": dict(sorted(found.skipped.items())),
        "examples": found.examples,
    }
    print(json.dumps(report, indent=2))
    if args.out is not None:
        write_report(report, args.out)
    return 0


def write_report(report: dict[str, Any], out: Path) -> Path:
    """`out/quality.json` and `out/quality.png`; returns the plot's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out / "quality.png")
    return out / "quality.png"


def _is_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


if __name__ == "__main__":
    sys.exit(main())
