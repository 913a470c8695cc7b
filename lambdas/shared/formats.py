"""Image formats the endpoint accepts (the contract's); free of Pillow, which classify_image
does not need."""

from __future__ import annotations

from contract import CONTENT_TYPES, DEFAULT_LIMITS

__all__ = ["CONTENT_TYPES", "DEFAULT_MAX_IMAGE_BYTES"]

# The largest upload the gate reads (the contract's limit; phone photos up to 48 MP).
DEFAULT_MAX_IMAGE_BYTES = DEFAULT_LIMITS.max_bytes
