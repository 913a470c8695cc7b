"""Pure logic of serialize_image: settings, event parsing, and the image hand-off document."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.shared.config import env_float, env_int
from lambdas.shared.errors import InvalidEvent
from lambdas.shared.events import require_event, require_mapping, s3_location
from lambdas.shared.images import ImageInfo, ImageLimits, inspect_image
from lambdas.shared.storage import StoredObject

# Step Functions caps a state's data at 256 KiB; an inlined image must leave room for the rest.
DEFAULT_INLINE_MAX_BYTES = 150_000
# Hard cap whatever the setting: leaves > 60 KB of the 256 KiB for the request, results, ids.
MAX_INLINE_BYTES = 200_000


@dataclass(frozen=True)
class SerializeSettings:
    limits: ImageLimits
    inline_max_bytes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SerializeSettings:
        defaults = ImageLimits()
        limits = ImageLimits(
            max_bytes=env_int(env, "MAX_IMAGE_BYTES", defaults.max_bytes, minimum=1),
            min_side=env_int(env, "MIN_IMAGE_SIDE", defaults.min_side, minimum=1),
            max_side=env_int(env, "MAX_IMAGE_SIDE", defaults.max_side, minimum=1),
            max_pixels=env_int(env, "MAX_IMAGE_PIXELS", defaults.max_pixels, minimum=1),
            max_aspect_ratio=env_float(
                env, "MAX_ASPECT_RATIO", defaults.max_aspect_ratio, 1.0, 1000.0
            ),
        )
        inline = env_int(env, "INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES, minimum=0)
        inline = min(inline, MAX_INLINE_BYTES)
        return cls(limits=limits, inline_max_bytes=inline)


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


def validate(stored: StoredObject, settings: SerializeSettings) -> ImageInfo:
    return inspect_image(stored.data, settings.limits)


def hand_off(
    request: ImageRequest, stored: StoredObject, info: ImageInfo, settings: SerializeSettings
) -> dict[str, Any]:
    """The `image` document classify_image reads: inline base64 when small, else a reference.

    The reference pins the validated bytes by version id (versioned bucket) or ETag.
    """
    image: dict[str, Any] = {
        "s3_bucket": request.s3_bucket,
        "s3_key": request.s3_key,
        "version_id": stored.version_id,
        "etag": stored.etag,
        "format": info.format,
        "content_type": info.content_type,
        "width": info.width,
        "height": info.height,
        "size_bytes": info.size_bytes,
        "sha256": hashlib.sha256(stored.data).hexdigest(),
    }
    encoded_size = 4 * ((info.size_bytes + 2) // 3)
    if encoded_size <= settings.inline_max_bytes:
        image["inline_b64"] = base64.b64encode(stored.data).decode("ascii")
    return {"image": image}
