"""Image formats the endpoint accepts; free of Pillow, which classify_image does not need."""

from __future__ import annotations

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
# The SageMaker real-time endpoint's request payload limit.
DEFAULT_MAX_IMAGE_BYTES = 6 * 1024 * 1024
