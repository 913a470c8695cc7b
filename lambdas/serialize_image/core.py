"""Pure logic of serialize_image: settings, event parsing, and the image hand-off document."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.shared.config import env_float, env_int
from lambdas.shared.documents import ImageDocument
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from lambdas.shared.events import require_event, require_mapping, s3_location
from lambdas.shared.images import ImageLimits, PreparedImage, prepare_upload
from lambdas.shared.storage import StoredObject


@dataclass(frozen=True)
class SerializeSettings:
    limits: ImageLimits

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SerializeSettings:
        defaults = ImageLimits()
        try:
            limits = ImageLimits(
                max_bytes=env_int(env, "MAX_IMAGE_BYTES", defaults.max_bytes, minimum=1),
                min_side=env_int(env, "MIN_IMAGE_SIDE", defaults.min_side, minimum=1),
                max_side=env_int(env, "MAX_IMAGE_SIDE", defaults.max_side, minimum=1),
                max_pixels=env_int(env, "MAX_IMAGE_PIXELS", defaults.max_pixels, minimum=1),
                max_aspect_ratio=env_float(
                    env, "MAX_ASPECT_RATIO", defaults.max_aspect_ratio, 1.0, 1000.0
                ),
            )
        except ValueError as error:  # e.g. MIN_IMAGE_SIDE above MAX_IMAGE_SIDE
            raise ConfigurationError(str(error)) from None
        return cls(limits=limits)


@dataclass(frozen=True)
class ImageRequest:
    s3_bucket: str
    s3_key: str


def parse_event(event: object) -> ImageRequest:
    """Accept `{"request": {...}, "execution_id"}` (the state machine) or the bare request.

    The bare request is `{"s3_bucket", "s3_key"}`, optionally with the legacy `image_data: ""`.
    """
    body = require_event(event)
    if "request" in body:
        body = require_mapping(body["request"], "request")
    image_data = body.get("image_data", "")
    if image_data not in ("", None):
        raise InvalidEvent("image_data must be empty: images are read from S3, not the event")
    bucket, key = s3_location(body)
    return ImageRequest(s3_bucket=bucket, s3_key=key)


def validate(stored: StoredObject, settings: SerializeSettings) -> PreparedImage:
    """The uploaded bytes checked and prepared for the model (`contract.images`)."""
    return prepare_upload(stored.data, settings.limits)


def hand_off(
    request: ImageRequest, stored: StoredObject, prepared: PreparedImage
) -> dict[str, Any]:
    """The `image` document classify_image reads: the upload's reference and header, and the
    model's input made from it (`prepared`, a small PNG inline: about 3 KB whatever the upload,
    far inside Step Functions' 256 KiB of state data).

    The reference pins the validated bytes by version id (versioned bucket) or ETag.
    """
    info = prepared.info
    return ImageDocument(
        content_type=info.content_type,
        s3_bucket=request.s3_bucket,
        s3_key=request.s3_key,
        version_id=stored.version_id,
        etag=stored.etag,
        inline=None,
        sha256=hashlib.sha256(stored.data).hexdigest(),
        prepared=prepared.png,
        format=info.format,
        width=info.width,
        height=info.height,
        size_bytes=info.size_bytes,
    ).to_dict()
