"""Run the drift job: settings, one window through accumulate and evaluate, report, metrics.

The third step of the drift job (`monitoring.accumulate` reads the records, `monitoring.evaluate`
tests them). `analyse` is one window from any source; `run_job` is the scheduled run with its
settings from the environment, the same in the Lambda (monitoring.handler) and in a container
(`python -m monitoring`, monitoring/cli.py: a SageMaker Processing job):

    CAPTURE_S3_URI=s3://... BASELINE_S3_URI=s3://.../baseline.json REPORT_S3_URI=s3://... \
    ENDPOINT_NAME=vehicle-classifier python -m monitoring [--start ISO --end ISO]

With `MONITORING_BYOC=true` (off by default) `run_byoc` follows SageMaker Model Monitor's
bring-your-own-container contract instead: it reads the captures Model Monitor copied to
`dataset_source`, the baseline from `baseline_statistics` (our baseline.json), writes
`report.json`, `report.html` and `constraint_violations.json` to `output_path`, and, unless
`publish_cloudwatch_metrics` is `Disabled`, puts the same CloudWatch metrics.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lambdas.shared.config import env_float, env_int, env_str
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from monitoring import capture, metrics, publish, report
from monitoring.accumulate import MAX_WORKERS, WindowSummary, summarise
from monitoring.baseline import Baseline, load_baseline
from monitoring.evaluate import (
    DEFAULT_FALSE_ALARM_RATE,
    DEFAULT_MIN_RECORDS,
    DriftSettings,
    check_model,
    evaluate,
    window_threshold,
)


def _s3_uri(env: Mapping[str, str], name: str) -> str:
    value = env_str(env, name)
    if not value.startswith("s3://") or len(value) <= 5:
        raise ConfigurationError(f"{name}={value!r} is not an s3:// URI")
    return value


def _sha256(env: Mapping[str, str], name: str) -> str | None:
    """The served model archive's digest (optional): 64 lower-case hex digits."""
    value = env.get(name, "").strip()
    if value and not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ConfigurationError(
            f"{name}={value[:80]!r} is not a sha256 (64 lower-case hex digits)"
        )
    return value or None


def _judgement(env: Mapping[str, str], threshold_required: bool = True) -> dict[str, Any]:
    """How a window is judged, the same for every runner: the stage's threshold (required,
    in (0, 1) as filter_inferences reads it), the record floor, the false-alarm rate and the
    deployed model's digest."""
    has_threshold = threshold_required or bool(env.get("CONFIDENCE_THRESHOLD", "").strip())
    return {
        "threshold": env_float(env, "CONFIDENCE_THRESHOLD", None, 0, 1) if has_threshold else None,
        "min_records": env_int(env, "MIN_RECORDS", DEFAULT_MIN_RECORDS, minimum=1),
        "false_alarm_rate": env_float(env, "FALSE_ALARM_RATE", DEFAULT_FALSE_ALARM_RATE, 0, 0.5),
        "model_sha256": _sha256(env, "MODEL_SHA256"),
    }


@dataclass(frozen=True)
class JobSettings:
    capture_uri: str
    baseline_uri: str
    report_uri: str
    endpoint_name: str
    variant_name: str = "AllTraffic"
    stage: str = "dev"
    namespace: str = metrics.DEFAULT_NAMESPACE
    threshold: float | None = None
    min_records: int = DEFAULT_MIN_RECORDS
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE
    window_hours: int = 1
    model_sha256: str | None = None
    html: bool = True
    workers: int = 1  # > 1 only outside Lambda (Processing job): a process pool over files

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JobSettings:
        return cls(
            capture_uri=_s3_uri(env, "CAPTURE_S3_URI"),
            baseline_uri=_s3_uri(env, "BASELINE_S3_URI"),
            report_uri=_s3_uri(env, "REPORT_S3_URI"),
            endpoint_name=env_str(env, "ENDPOINT_NAME"),
            variant_name=env_str(env, "VARIANT_NAME", "AllTraffic"),
            stage=env_str(env, "STAGE", "dev"),
            namespace=env_str(env, "METRICS_NAMESPACE", metrics.DEFAULT_NAMESPACE),
            **_judgement(env),
            window_hours=env_int(env, "WINDOW_HOURS", 1, minimum=1, maximum=24 * 31),
            html=env_str(env, "REPORT_HTML", "true").lower() not in ("0", "false", "no"),
            workers=env_int(env, "WORKERS", 1, minimum=1, maximum=MAX_WORKERS),
        )

    @property
    def dimensions(self) -> publish.Dimensions:
        return publish.Dimensions(self.endpoint_name, self.variant_name, self.stage)

    @property
    def endpoint_capture_uri(self) -> str:
        """SageMaker writes to <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/."""
        return f"{self.capture_uri.rstrip('/')}/{self.endpoint_name}/{self.variant_name}"

    def drift_settings(self) -> DriftSettings:
        return DriftSettings(
            threshold=self.threshold,
            min_records=self.min_records,
            false_alarm_rate=self.false_alarm_rate,
            model_sha256=self.model_sha256,
        )


def window_for(event: Mapping[str, Any], hours: int, now: datetime) -> capture.Window:
    """{"start", "end"} from the event, else the full hours before `scheduled_time` (or now)."""
    start = capture.parse_time(event.get("start"))
    end = capture.parse_time(event.get("end"))
    for name, parsed in (("start", start), ("end", end)):
        if event.get(name) is not None and parsed is None:
            raise InvalidEvent(f"window {name} {str(event.get(name))[:100]!r} is not ISO-8601")
    if start is not None and end is not None:
        try:
            capture.check_window(start, end)
        except capture.WindowError as error:
            raise InvalidEvent(str(error)) from None
        return capture.Window(start, end)
    if start is not None or end is not None:
        raise InvalidEvent("the event needs both start and end as ISO-8601 times")
    scheduled = capture.parse_time(event.get("scheduled_time")) or capture.parse_time(
        event.get("time")  # EventBridge events carry their time here
    )
    return capture.Window.previous_hours(scheduled or now, hours)


def report_prefix(settings: JobSettings, window: capture.Window) -> str:
    assert window.start is not None
    stamp = window.start.strftime("%Y/%m/%d/%H")
    return (
        f"{settings.report_uri.rstrip('/')}/{settings.endpoint_name}/"
        f"{settings.variant_name}/{stamp}"
    )


def analyse(
    source: str | Path,
    baseline: Baseline,
    settings: DriftSettings | None = None,
    window: capture.Window | None = None,
    *,
    s3_client: Any = None,
    progress: bool = False,
    workers: int = 1,
) -> tuple[dict[str, Any], WindowSummary]:
    """Read the window from `source` and return (report, summary)."""
    settings = settings or DriftSettings()
    window = window or capture.Window()
    check_model(baseline, settings.model_sha256)  # before reading a single capture file
    files = capture.iter_capture_files(source, window, s3_client)
    threshold = window_threshold(baseline, settings.threshold)
    summary = summarise(files, baseline, threshold, window, progress=progress, workers=workers)
    report = evaluate(summary, settings)
    report["captures"] = str(source)
    return report, summary


def run_job(
    settings: JobSettings,
    window: capture.Window,
    s3_client: Any,
    cloudwatch_client: Any,
) -> dict[str, Any]:
    """One window: analyse, write the report to S3, publish metrics; returns a short summary.

    Raises BaselineError / CaptureSourceError for a missing baseline or capture bucket,
    ThresholdMismatch (a BaselineError) for a baseline built at another threshold than the
    stage's, and ModelMismatch (a BaselineError) for one built with another model.
    """
    baseline = load_baseline(settings.baseline_uri, s3_client=s3_client)
    result, summary = analyse(
        settings.endpoint_capture_uri,
        baseline,
        settings.drift_settings(),
        window,
        s3_client=s3_client,
        workers=settings.workers,
    )
    written = report.write_s3(
        result, summary, report_prefix(settings, window), s3_client, html=settings.html
    )
    published = publish.publish_report(
        result, settings.dimensions, namespace=settings.namespace, client=cloudwatch_client
    )
    return {
        "status": result["status"],
        "drift_detected": result["drift_detected"],
        "drift_score": result["drift_score"],
        "drifted_features": result["drifted_features"],
        "records": result["records"],
        "invalid_records": result["invalid_records"],
        "skipped": result["skipped"],
        "window": result["window"],
        "reports": written,
        "metrics_published": published,
    }


def constraint_violations(result: dict[str, Any]) -> dict[str, Any]:
    """Model Monitor's constraint_violations.json shape for the drifted features."""
    return {
        "violations": [
            {
                "feature_name": name,
                "constraint_check_type": "baseline_drift_check",
                "description": (
                    f"{name}: {result['features'][name]['test']} p-value "
                    f"{result['features'][name]['p_value']:.3g}, score "
                    f"{result['features'][name]['score']:.2f} (>= 1 is drift)"
                ),
            }
            for name in result["drifted_features"]
        ]
    }


MetricsTarget = tuple[publish.Dimensions, str]  # the stage's dimensions, the namespace


def _metrics_target(env: Mapping[str, str], endpoint: str) -> MetricsTarget | None:
    if not endpoint:
        return None  # settings too broken to name the stage's metrics
    dimensions = publish.Dimensions(
        endpoint, env_str(env, "VARIANT_NAME", "AllTraffic"), env_str(env, "STAGE", "dev")
    )
    return dimensions, env_str(env, "METRICS_NAMESPACE", metrics.DEFAULT_NAMESPACE)


def byoc_publishing(env: Mapping[str, str]) -> MetricsTarget | None:
    """Where a BYOC run puts its metrics: the stage's dimensions and namespace (Terraform sets
    them as for the Lambda), unless Model Monitor says `publish_cloudwatch_metrics=Disabled`."""
    if env.get("publish_cloudwatch_metrics", "Enabled") == "Disabled":
        return None
    endpoint = env.get("ENDPOINT_NAME", "").strip() or env.get("sagemaker_endpoint_name", "")
    return _metrics_target(env, endpoint.strip())


def run_byoc(env: Mapping[str, str], cloudwatch_client: Any = None) -> dict[str, Any]:
    """Model Monitor bring-your-own-container contract (local paths mounted by SageMaker),
    judged with the stage's settings (`CONFIDENCE_THRESHOLD` when set, `MIN_RECORDS`, ...)."""
    source = env_str(env, "dataset_source", "/opt/ml/processing/input/endpoint")
    output = Path(env_str(env, "output_path", "/opt/ml/processing/resultdata"))
    baseline_path = env_str(env, "baseline_statistics", "/opt/ml/processing/baseline/baseline.json")
    window = capture.Window(
        capture.parse_time(env.get("start_time")), capture.parse_time(env.get("end_time"))
    )
    drift_settings = DriftSettings(**_judgement(env, threshold_required=False))
    baseline = load_baseline(baseline_path)
    result, summary = analyse(source, baseline, drift_settings, window)
    report.write_local(result, summary, output)
    (output / "constraint_violations.json").write_text(
        json.dumps(constraint_violations(result), indent=1)
    )
    target = byoc_publishing(env)
    if target is not None:
        publish.publish_report(result, target[0], namespace=target[1], client=cloudwatch_client)
    return result


def _failure_target(env: Mapping[str, str], byoc: bool) -> MetricsTarget | None:
    if byoc:
        return byoc_publishing(env)
    return _metrics_target(env, env.get("ENDPOINT_NAME", "").strip())


def publish_failure(env: Mapping[str, str], byoc: bool, cloudwatch_client: Any = None) -> bool:
    """JobFailed = 1 for a failed container run (Processing job, Model Monitor), as the Lambda
    handler sends it, so the drift-job-failed alarm pages whichever runner is scheduled."""
    target = _failure_target(env, byoc)
    if target is None:
        return False
    try:
        publish.publish_job_failed(target[0], namespace=target[1], client=cloudwatch_client)
    except Exception as error:  # the run's own error matters more than the metric
        print(f"could not publish JobFailed: {error}", file=sys.stderr)
        return False
    return True
