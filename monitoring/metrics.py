"""CloudWatch metric names, namespace and dimensions of the drift job: the one place they live.

The Terraform alarms (terraform/modules/monitoring) and the runbook use these exact names; change
them here, in monitoring/README.md and in the alarms together.
"""

from __future__ import annotations

from typing import Final

DEFAULT_NAMESPACE: Final = "VehicleClassifier/Monitoring"

# Dimensions on every metric. Per-feature metrics add FEATURE.
DIM_ENDPOINT: Final = "EndpointName"
DIM_VARIANT: Final = "VariantName"
DIM_STAGE: Final = "Stage"
DIM_FEATURE: Final = "Feature"

# Window-level metrics (dimensions: EndpointName, VariantName, Stage).
RECORDS_SEEN: Final = "RecordsSeen"  # Count: capture records in the window (0 = capture stopped)
INVALID_RECORDS: Final = "InvalidRecords"  # Count: records skipped or partly unusable
LOW_CONFIDENCE_RATE: Final = "LowConfidenceRate"  # None: share of predictions below threshold
MEAN_CONFIDENCE: Final = "MeanConfidence"  # None: mean top-class probability
DRIFT_SCORE: Final = "DriftScore"  # None: max feature score; >= 1.0 means drift
DRIFT_DETECTED: Final = "DriftDetected"  # Count: 1 drift, 0 no drift (not sent if insufficient)
INSUFFICIENT_DATA: Final = "InsufficientData"  # Count: 1 when the window had too few records
JOB_FAILED: Final = "JobFailed"  # Count: 1 when a run crashed (sent by the handler)

# Per-feature metrics (dimensions: EndpointName, VariantName, Stage, Feature).
FEATURE_DRIFT_SCORE: Final = "FeatureDriftScore"  # None: >= 1.0 means this feature drifted
FEATURE_PSI: Final = "FeaturePSI"  # None: population stability index vs the baseline

# The alarm threshold for DriftScore / FeatureDriftScore: scores are scaled so that 1.0 is the
# calibrated significance threshold (see monitoring/stats.py), whatever the number of features.
DRIFT_SCORE_ALARM_THRESHOLD: Final = 1.0

WINDOW_METRICS: Final = (
    RECORDS_SEEN,
    INVALID_RECORDS,
    LOW_CONFIDENCE_RATE,
    MEAN_CONFIDENCE,
    DRIFT_SCORE,
    DRIFT_DETECTED,
    INSUFFICIENT_DATA,
    JOB_FAILED,
)
FEATURE_METRICS: Final = (FEATURE_DRIFT_SCORE, FEATURE_PSI)
