"""Label records the tests build on: one the model routed, one a reviewer answered. Tests
`dataclasses.replace` the fields they are about."""

from __future__ import annotations

from dataclasses import replace

from lambdas.shared.label_record import LabelRecord

ROUTED = LabelRecord(
    image="s3://uploads/day/bike.png",
    inference_id="0b9e4c8a-2f7d-4a55-9d1e-3f0c2b7a9e11",
    model_version="v7",
    predicted="bicycle",
    confidence=0.97,
    threshold=0.9,
    decision="routed",
    reason=None,
    label=None,
    reviewer=None,
    decided_at="2026-12-06T20:30:10.123Z",
    execution_id=None,
)
REVIEWED = replace(
    ROUTED,
    confidence=0.62,
    decision="reviewed",
    reason="low_confidence",
    label="motorcycle",
    reviewer="rev-1",
)
