"""The drift job's one command line (`python -m monitoring`).

    # One window by hand (CI, the demo, a re-run): settings as flags.
    python -m monitoring --captures DIR_OR_S3_URI --baseline baseline.json --output DIR \
        [--start ISO --end ISO] [--threshold T] [--publish --endpoint-name NAME --stage STAGE]
    # The scheduled run in a container (SageMaker Processing job): settings from the
    # environment, as the Lambda reads them; the previous full hour unless --start/--end.
    # With MONITORING_BYOC=true: Model Monitor's bring-your-own-container contract.
    python -m monitoring [--start ISO --end ISO]

By hand it writes `DIR/report.json` (`records`, `invalid_records`, `drift_detected`, `status`,
per-feature `features`) and `DIR/report.html`; `drift_detected` is null with
`status: insufficient_data` when the window has fewer than `--min-records` usable records.
Exit status: 0 (report written, drift or not; `--fail-on-drift` makes drift exit 3), 2 with one
line on stderr for a missing baseline, capture folder or bucket, or a bad setting; 1 when the
report was written but the metrics could not be published. A failed scheduled run first
publishes `JobFailed` (monitoring.job.publish_failure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import boto3

from contract.cli import CliParser, at_least, finite_number
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from monitoring import capture, publish
from monitoring import report as report_module
from monitoring.accumulate import MAX_WORKERS
from monitoring.baseline import BaselineError, file_sha256, load_baseline
from monitoring.evaluate import DEFAULT_FALSE_ALARM_RATE, DEFAULT_MIN_RECORDS, DriftSettings
from monitoring.job import (
    JobSettings,
    analyse,
    publish_failure,
    run_byoc,
    run_job,
    window_for,
)

# Flags that only mean something for a window given by hand (--captures).
_BY_HAND_ONLY = ("baseline", "output", "publish", "threshold", "model", "model_sha256", "no_html")


def _rate(value: str) -> float:
    number = finite_number(value)
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not strictly between 0 and 1")
    return number


def _workers_argument(value: str) -> int:
    workers = at_least(1)(value)
    if workers > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{workers} is more than {MAX_WORKERS} processes")
    return workers


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse's types cannot see alone: the window, which mode, the output folder."""
    try:
        capture.check_window(args.start, args.end)
    except capture.WindowError as error:
        parser.error(str(error))
    if args.captures is None:
        given = [f"--{name.replace('_', '-')}" for name in _BY_HAND_ONLY if getattr(args, name)]
        if given:
            parser.error(f"{', '.join(given)} need --captures (a window by hand)")
        if (args.start is None) != (args.end is None):
            parser.error("the scheduled run takes both --start and --end, or neither")
        return
    for name in ("baseline", "output"):
        if getattr(args, name) is None:
            parser.error(f"--captures needs --{name}")
    if args.output.exists() and not args.output.is_dir():
        parser.error(f"--output {args.output} is a file, not a folder")
    if args.model is not None and args.model_sha256 is not None:
        parser.error("give --model or --model-sha256, not both")


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        description="Test a capture window for drift: by hand (--captures, --baseline, "
        "--output) or as the scheduled run with settings from the environment."
    )
    parser.add_argument("--captures", help="local folder/file or s3://bucket/prefix (by hand)")
    parser.add_argument("--baseline", help="baseline.json path or s3:// URI")
    parser.add_argument(
        "--start", type=capture.iso_time_argument, help="window start (ISO-8601, inclusive)"
    )
    parser.add_argument(
        "--end", type=capture.iso_time_argument, help="window end (ISO-8601, exclusive)"
    )
    parser.add_argument("--output", type=Path, help="folder for report.json/html")
    parser.add_argument("--publish", action="store_true", help="put CloudWatch metrics")
    parser.add_argument("--namespace", default=None, help="CloudWatch namespace")
    parser.add_argument("--endpoint-name", default="unknown")
    parser.add_argument("--variant-name", default="AllTraffic")
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--threshold",
        type=_rate,
        default=None,
        help="the stage's routing threshold (default: the baseline's; must equal it when the "
        "baseline has predictions)",
    )
    parser.add_argument("--min-records", type=at_least(1), default=DEFAULT_MIN_RECORDS)
    parser.add_argument("--false-alarm-rate", type=_rate, default=DEFAULT_FALSE_ALARM_RATE)
    parser.add_argument("--model-sha256", default=None, help="sha256 of the served model.tar.gz")
    parser.add_argument(
        "--model", type=Path, default=None, help="the served model.tar.gz (its sha256 is used)"
    )
    parser.add_argument("--no-html", action="store_true", help="skip the HTML page")
    parser.add_argument(
        "--workers",
        type=_workers_argument,
        default=1,
        help=f"processes, one file per task (1-{MAX_WORKERS}, default 1)",
    )
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 3 when drift")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    if args.captures is None:
        return run_from_environment(args.start, args.end)
    return run_by_hand(args)


def run_by_hand(args: argparse.Namespace) -> int:
    try:
        model_sha256 = args.model_sha256
        if args.model is not None:
            if not args.model.is_file():
                raise BaselineError(f"model archive not found: {args.model}")
            model_sha256 = file_sha256(args.model)
        settings = DriftSettings(
            threshold=args.threshold,
            min_records=args.min_records,
            false_alarm_rate=args.false_alarm_rate,
            model_sha256=model_sha256,
        )
        baseline = load_baseline(args.baseline)
        report, summary = analyse(
            args.captures,
            baseline,
            settings,
            capture.Window(args.start, args.end),
            progress=True,
            workers=args.workers,
        )
    except (BaselineError, capture.CaptureSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        report_module.write_local(report, summary, args.output, html=not args.no_html)
    except OSError as error:  # a read-only or full disk, a file where a folder should be
        print(f"error: report not written to {args.output}: {error}", file=sys.stderr)
        return 2
    if args.publish:
        try:
            publish.publish_report(
                report,
                publish.Dimensions(args.endpoint_name, args.variant_name, args.stage),
                namespace=args.namespace,
            )
        except Exception as error:  # botocore: no credentials, throttled, denied
            print(f"error: report written, metrics not published: {error}", file=sys.stderr)
            return 1
    print(
        json.dumps(
            {
                key: report[key]
                for key in ("status", "drift_detected", "drift_score", "records", "invalid_records")
            }
            | {"drifted_features": report["drifted_features"], "report": str(args.output)}
        )
    )
    return 3 if args.fail_on_drift and report["drift_detected"] else 0


def run_from_environment(start: datetime | None, end: datetime | None) -> int:
    """The scheduled run in a container: settings from the environment, as the Lambda's."""
    byoc = os.environ.get("MONITORING_BYOC", "").lower() in ("1", "true", "yes")
    try:
        if byoc:
            result = run_byoc(os.environ)
            print(json.dumps({"status": result["status"], "records": result["records"]}))
            return 0
        settings = JobSettings.from_env(os.environ)
        event = {"start": start.isoformat(), "end": end.isoformat()} if start and end else {}
        window = window_for(event, settings.window_hours, datetime.now(UTC))
        outcome = run_job(settings, window, boto3.client("s3"), boto3.client("cloudwatch"))
    except (ConfigurationError, InvalidEvent, BaselineError, capture.CaptureSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        publish_failure(os.environ, byoc)
        return 2
    except Exception:
        publish_failure(os.environ, byoc)
        raise
    print(json.dumps(outcome, default=str))
    return 0
