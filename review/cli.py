"""`python -m review`: list the pending reviews of a stage, show one, answer one.

    python -m review --stage dev list
    python -m review --stage dev show <id> [--out image.png]
    python -m review --stage dev answer <id> motorcycle [--reviewer alice]
    python -m review --stage local --endpoint-url http://127.0.0.1:5000 list
    python -m review --queue-url URL [--region R] [--endpoint-url E] list

Errors print one line `error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from contract.cli import CliParser
from review.core import LABELS, ReviewDesk, ReviewError
from review.targets import STAGES, resolve


def add_target_options(parser: argparse.ArgumentParser, default: object) -> None:
    where = parser.add_argument_group("target (a stage, or the queue itself)")
    where.add_argument(
        "--stage", choices=STAGES, default=default, help="read the stage's Terraform outputs"
    )
    where.add_argument(
        "--queue-url", default=default, help="the review queue (overrides the stage's)"
    )
    where.add_argument(
        "--region", default=default, help="AWS region (default: from the queue URL or environment)"
    )
    where.add_argument(
        "--endpoint-url",
        default=default,
        help="AWS endpoint, e.g. the emulator's for --stage local",
    )
    where.add_argument(
        "--state-machine-arn",
        default=default,
        help="the review state machine (default: the stage's); tells answered ids from unknown",
    )
    where.add_argument(
        "--work-dir",
        type=Path,
        default=default,
        help="the local stage's work directory (default .local/stage)",
    )


def parser() -> argparse.ArgumentParser:
    top = CliParser(
        prog="python -m review",
        description="Review the images the classifier was not sure about (or audits).",
    )
    add_target_options(top, default=None)
    # The same options after the command (`list --stage dev`); given there, they win.
    after = CliParser(add_help=False)
    add_target_options(after, default=argparse.SUPPRESS)
    commands = top.add_subparsers(dest="command", required=True)

    listing = commands.add_parser(
        "list", parents=[after], help="pending reviews: id, reason, prediction, age"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per review")

    show = commands.add_parser(
        "show", parents=[after], help="print a review's details and open its image"
    )
    show.add_argument("id")
    show.add_argument("--out", type=Path, help="write the image here instead of opening it")

    answer = commands.add_parser(
        "answer", parents=[after], help="answer a review with the true label"
    )
    answer.add_argument("id")
    answer.add_argument("label", help=" | ".join(LABELS))
    answer.add_argument("--reviewer", help="your id (default: your AWS identity's ARN)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        target = resolve(
            args.stage,
            queue_url=args.queue_url,
            region=args.region,
            endpoint_url=args.endpoint_url,
            state_machine_arn=args.state_machine_arn,
            work_dir=args.work_dir,
        )
        desk = target.desk()
        if args.command == "list":
            return list_reviews(desk, as_json=args.json)
        if args.command == "show":
            return show_review(desk, args.id, args.out)
        return answer_review(desk, args.id, args.label, args.reviewer)
    except ReviewError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


def list_reviews(desk: ReviewDesk, as_json: bool) -> int:
    listing = desk.pending()
    now = datetime.now(UTC)
    if as_json:
        for review in listing.reviews:
            print(
                json.dumps(
                    {**review.details(), "age_seconds": int(review.age(now).total_seconds())}
                )
            )
        return 0
    if not listing.reviews:
        print("no pending reviews")
    else:
        width = max(len(r.id) for r in listing.reviews)
        print(f"{'ID':<{width}}  {'REASON':<14}  {'PREDICTION':<18}  {'AGE':>7}  IMAGE")
        for r in listing.reviews:
            print(
                f"{r.id:<{width}}  {r.reason:<14}  {r.prediction:<18}  "
                f"{short_age(r.age(now)):>7}  {r.image}"
            )
    if listing.unreadable:
        print(f"({listing.unreadable} message(s) on the queue are not reviews; left there)")
    return 0


def show_review(desk: ReviewDesk, review_id: str, out: Path | None) -> int:
    review = desk.get(review_id)
    data = desk.image(review)
    print(json.dumps(review.details(), indent=2, default=str))
    if out is not None:
        out.write_bytes(data)
        print(f"image written to {out}")
        return 0
    suffix = Path(review.s3_key).suffix or ".img"
    with tempfile.NamedTemporaryFile(
        prefix=f"review-{review.id[:16]}-", suffix=suffix, delete=False
    ) as f:
        f.write(data)
    print(f"image: {f.name}")
    open_with_viewer(Path(f.name))
    return 0


def answer_review(desk: ReviewDesk, review_id: str, label: str, reviewer: str | None) -> int:
    answer = desk.answer(review_id, label, reviewer)
    print(f"answered {answer.review.id}: {answer.label} (reviewer {answer.reviewer})")
    return 0


def open_with_viewer(path: Path) -> None:
    """Open a file with the desktop's default viewer, without waiting for it."""
    system = platform.system()
    if system == "Windows":
        os.startfile(path)  # type: ignore[attr-defined]  # noqa: S606 - the user's own file
        return
    opener = "open" if system == "Darwin" else "xdg-open"
    if shutil.which(opener) is None:
        print(f"({opener} not found: open {path} yourself, or use --out)")
        return
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def short_age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
