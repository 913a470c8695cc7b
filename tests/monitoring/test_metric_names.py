"""Terraform's defaults that restate the drift job's metric names agree with monitoring/metrics.py
(the alarms watch the names the job publishes)."""

from __future__ import annotations

import re
from pathlib import Path

from monitoring import metrics

VARIABLES = (
    Path(metrics.__file__).resolve().parents[1] / "terraform/modules/monitoring/variables.tf"
)


def _variable(name: str) -> str:
    text = VARIABLES.read_text()
    start = text.index(f'variable "{name}"')
    return text[start : text.index("\n}\n", start)]


def test_metric_name_defaults_are_the_jobs_names() -> None:
    defaults = dict(
        re.findall(r'(\w+)\s*=\s*optional\(string, "([^"]+)"\)', _variable("metric_names"))
    )
    assert defaults == {
        "drift_score": metrics.DRIFT_SCORE,
        "low_confidence_rate": metrics.LOW_CONFIDENCE_RATE,
        "records_seen": metrics.RECORDS_SEEN,
        "invalid_records": metrics.INVALID_RECORDS,
        "job_failed": metrics.JOB_FAILED,
    }


def test_namespace_default_is_the_jobs_namespace() -> None:
    default = re.search(r'default\s*=\s*"([^"]+)"', _variable("metric_namespace"))
    assert default is not None and default.group(1) == metrics.DEFAULT_NAMESPACE
