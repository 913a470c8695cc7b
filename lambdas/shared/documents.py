"""Typed documents of the hand-offs between the Lambdas: the one statement of their shape.

Each is a frozen dataclass; the producing Lambda builds it and returns `to_dict()` (the JSON the
state machines pass on, field names fixed: the ASL reads them), the consuming Lambda reads it with
`from_dict()`, which validates and raises InvalidEvent for a malformed document. The one
per-execution option, the threshold override, is read in one place: `events.requested_threshold`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract import CLASS_NAMES
from lambdas.shared.errors import InvalidEvent
from lambdas.shared.events import (
    optional_str,
    require_event,
    require_mapping,
    require_probabilities,
    s3_location,
)
from lambdas.shared.formats import CONTENT_TYPES

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


def _decode_inline(document: Mapping[str, Any], field: str) -> bytes | None:
    """`document["inline_b64"]` decoded and checked against `document["sha256"]`, if present."""
    inline_b64 = document.get("inline_b64")
    if inline_b64 is None:
        return None
    if not isinstance(inline_b64, str):
        raise InvalidEvent(f"{field}.inline_b64 must be a base64 string")
    try:
        inline = base64.b64decode(inline_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent(f"{field}.inline_b64 is not valid base64") from None
    sha256 = optional_str(document, "sha256", 64)
    if sha256 is not None and hashlib.sha256(inline).hexdigest() != sha256:
        raise InvalidEvent(f"{field}.inline_b64 does not match {field}.sha256")
    return inline


def _prepared(image: Mapping[str, Any]) -> bytes | None:
    if image.get("prepared") is None:
        return None
    prepared = require_mapping(image["prepared"], "image.prepared")
    if prepared.get("content_type") != "image/png":
        raise InvalidEvent("image.prepared.content_type must be image/png")
    data = _decode_inline(prepared, "image.prepared")
    if data is None:
        raise InvalidEvent("image.prepared must carry inline_b64")
    return data


def _optional_int(found: Mapping[str, Any], name: str) -> int | None:
    """A descriptive count passed along as is: an integer, else absent."""
    value = found.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ImageDocument:
    """serialize_image -> classify_image (`image`): the upload's reference (pinned by version id
    or ETag, and SHA-256) and header, and the model's input made from it (`prepared`, a small
    PNG sent to the endpoint as image/png). Documents from before serialize_image prepared images
    carry the uploaded bytes inline (`inline`) or only the reference."""

    content_type: str
    s3_bucket: str
    s3_key: str
    version_id: str | None
    etag: str | None
    inline: bytes | None
    sha256: str | None
    prepared: bytes | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        image: dict[str, Any] = {
            "s3_bucket": self.s3_bucket,
            "s3_key": self.s3_key,
            "version_id": self.version_id,
            "etag": self.etag,
            "format": self.format,
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }
        if self.inline is not None:
            image["inline_b64"] = base64.b64encode(self.inline).decode("ascii")
        if self.prepared is not None:
            image["prepared"] = {
                "content_type": "image/png",
                "size_bytes": len(self.prepared),
                "sha256": hashlib.sha256(self.prepared).hexdigest(),
                "inline_b64": base64.b64encode(self.prepared).decode("ascii"),
            }
        return {"image": image}

    @classmethod
    def from_dict(cls, event: object) -> ImageDocument:
        image = require_mapping(require_event(event).get("image"), "image")
        content_type = image.get("content_type")
        if content_type not in CONTENT_TYPES.values():
            raise InvalidEvent(
                f"image.content_type must be one of {sorted(CONTENT_TYPES.values())}"
            )
        bucket, key = s3_location(image)
        return cls(
            content_type=str(content_type),
            s3_bucket=bucket,
            s3_key=key,
            version_id=optional_str(image, "version_id", 1024),
            etag=optional_str(image, "etag", 1024),
            inline=_decode_inline(image, "image"),
            sha256=optional_str(image, "sha256", 64),
            prepared=_prepared(image),
            format=_optional_text(image, "format"),
            width=_optional_int(image, "width"),
            height=_optional_int(image, "height"),
            size_bytes=_optional_int(image, "size_bytes"),
        )
