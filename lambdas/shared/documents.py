"""Typed documents of the hand-offs between the Lambdas: the one statement of their shape.

Each is a frozen dataclass; the producing Lambda builds it and returns `to_dict()` (the JSON the
state machines pass on, field names fixed: the ASL reads them), the consuming Lambda reads it with
`from_dict()`, which validates and raises InvalidEvent for a malformed document. The one
per-execution option, the threshold override, is read in one place: `events.requested_threshold`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract import CLASS_NAMES
from lambdas.shared.errors import InvalidEvent
from lambdas.shared.events import require_event, require_mapping, require_probabilities

LABELS = CLASS_NAMES


def _optional_text(found: Mapping[str, Any], name: str) -> str | None:
    """A descriptive field passed along as is: a non-empty string, else absent."""
    value = found.get(name)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class ClassificationDocument:
    """classify_image -> filter_inferences (`classification`): the endpoint's probabilities and
    the most probable label, with where they came from (inference id: the capture record's)."""

    label: str
    probabilities: Mapping[str, float]
    endpoint_name: str | None = None
    invoked_variant: str | None = None
    inference_id: str | None = None
    model_version: str | None = None

    @classmethod
    def of(
        cls,
        probabilities: tuple[float, float],
        endpoint_name: str,
        variant: str | None,
        *,
        inference_id: str | None = None,
        model_version: str | None = None,
    ) -> ClassificationDocument:
        """The document of the endpoint's answer; ties go to the first label."""
        index = 0 if probabilities[0] >= probabilities[1] else 1
        return cls(
            label=LABELS[index],
            probabilities=dict(zip(LABELS, probabilities, strict=True)),
            endpoint_name=endpoint_name,
            invoked_variant=variant,
            inference_id=inference_id,
            model_version=model_version,
        )

    @property
    def class_index(self) -> int:
        return LABELS.index(self.label)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        return {
            "classification": {
                "label": self.label,
                "class_index": self.class_index,
                "confidence": self.confidence,
                "probabilities": dict(self.probabilities),
                "endpoint_name": self.endpoint_name,
                "invoked_variant": self.invoked_variant,
                "inference_id": self.inference_id,
                "model_version": self.model_version,
            }
        }

    @classmethod
    def from_dict(cls, event: object) -> ClassificationDocument:
        """The `classification` of an event: a known label that is the most probable one, and a
        valid probability per label; the descriptive fields are kept when they are strings."""
        found = require_mapping(require_event(event).get("classification"), "classification")
        label = found.get("label")
        if label not in LABELS:
            raise InvalidEvent(f"classification.label must be one of {LABELS}")
        values = require_probabilities(
            found.get("probabilities"), LABELS, "classification.probabilities"
        )
        if values[str(label)] < max(values.values()):
            raise InvalidEvent("classification.label is not the most probable class")
        return cls(
            label=str(label),
            probabilities=values,
            endpoint_name=_optional_text(found, "endpoint_name"),
            invoked_variant=_optional_text(found, "invoked_variant"),
            inference_id=_optional_text(found, "inference_id"),
            model_version=_optional_text(found, "model_version"),
        )
