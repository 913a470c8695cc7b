"""CloudWatch metrics of a drift report (names in monitoring/metrics.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from monitoring import metrics

_BATCH = 500  # PutMetricData accepts up to 1000 metrics per call; stay well under the 1 MB body


@dataclass(frozen=True)
class Dimensions:
    endpoint_name: str
    variant_name: str = "AllTraffic"
    stage: str = "dev"

    def as_list(self) -> list[dict[str, str]]:
        return [
            {"Name": metrics.DIM_ENDPOINT, "Value": self.endpoint_name},
            {"Name": metrics.DIM_VARIANT, "Value": self.variant_name},
            {"Name": metrics.DIM_STAGE, "Value": self.stage},
        ]


def _datum(
    name: str, value: float, unit: str, dimensions: list[dict[str, str]], timestamp: datetime
) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": dimensions,
        "Value": float(value),
        "Unit": unit,
        "Timestamp": timestamp,
    }


def metric_data(
    report: dict[str, Any], dimensions: Dimensions, timestamp: datetime | None = None
) -> list[dict[str, Any]]:
    """The metric data of one report; timestamped at the window's end (else now)."""
    if timestamp is None:
        end = report.get("window", {}).get("end")
        timestamp = datetime.fromisoformat(end) if end else datetime.now(UTC)
    dims = dimensions.as_list()
    data = [
        _datum(metrics.RECORDS_SEEN, report["records"], "Count", dims, timestamp),
        _datum(metrics.INVALID_RECORDS, report["invalid_records"], "Count", dims, timestamp),
        _datum(
            metrics.INSUFFICIENT_DATA, int(report["insufficient_data"]), "Count", dims, timestamp
        ),
    ]
    if report.get("low_confidence_rate") is not None:
        data.append(
            _datum(
                metrics.LOW_CONFIDENCE_RATE, report["low_confidence_rate"], "None", dims, timestamp
            )
        )
        data.append(
            _datum(metrics.MEAN_CONFIDENCE, report["mean_confidence"], "None", dims, timestamp)
        )
    if not report["insufficient_data"]:
        data.append(_datum(metrics.DRIFT_SCORE, report["drift_score"], "None", dims, timestamp))
        data.append(
            _datum(
                metrics.DRIFT_DETECTED,
                int(bool(report["drift_detected"])),
                "Count",
                dims,
                timestamp,
            )
        )
        for feature, result in report["features"].items():
            if "score" not in result:
                continue
            feature_dims = [*dims, {"Name": metrics.DIM_FEATURE, "Value": feature}]
            data.append(
                _datum(
                    metrics.FEATURE_DRIFT_SCORE, result["score"], "None", feature_dims, timestamp
                )
            )
            psi = result.get("psi")
            if psi is not None and math.isfinite(psi):
                data.append(_datum(metrics.FEATURE_PSI, psi, "None", feature_dims, timestamp))
    return data


def _batches(items: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def put(client: Any, namespace: str, data: list[dict[str, Any]]) -> int:
    for batch in _batches(data):
        client.put_metric_data(Namespace=namespace, MetricData=batch)
    return len(data)


def publish_report(
    report: dict[str, Any],
    dimensions: Dimensions,
    namespace: str | None = None,
    client: Any = None,
) -> int:
    """Put the report's metrics; returns how many data points were sent."""
    if client is None:
        client = boto3.client("cloudwatch")
    return put(client, namespace or metrics.DEFAULT_NAMESPACE, metric_data(report, dimensions))


def publish_job_failed(
    dimensions: Dimensions, namespace: str | None = None, client: Any = None
) -> None:
    if client is None:
        client = boto3.client("cloudwatch")
    put(
        client,
        namespace or metrics.DEFAULT_NAMESPACE,
        [_datum(metrics.JOB_FAILED, 1, "Count", dimensions.as_list(), datetime.now(UTC))],
    )
