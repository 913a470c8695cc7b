"""The upload gate's image checks: the contract's one image preparation, its errors as InvalidImage.

`contract.images` checks the bytes and the header before any pixel is decoded (format, bytes,
declared pixels, sides, aspect ratio, PNG pixels per byte), decodes (large JPEGs at reduced
size), and makes the model-sized RGB image exactly as the endpoint would. The gate sends that
small PNG on, so the endpoint, its data capture and the drift job see the same small image
whatever the phone wrote, and an image the gate passes is one the endpoint accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.images import ImageHeader, ImageRejected, encode_png, prepare, sniff_format
from contract.limits import ImageLimits
from lambdas.shared.errors import InvalidImage

__all__ = [
    "ImageInfo",
    "ImageLimits",
    "PreparedImage",
    "inspect_image",
    "prepare_upload",
    "sniff_format",
]

ImageInfo = ImageHeader  # what the uploaded image's header says (format, size, dimensions)


@dataclass(frozen=True)
class PreparedImage:
    info: ImageInfo  # the uploaded image
    png: bytes  # the model's input, IMAGE_SIZE x IMAGE_SIZE RGB, as deterministic PNG bytes


def prepare_upload(data: bytes, limits: ImageLimits) -> PreparedImage:
    """Validate `data` and make the model's input from it; InvalidImage saying why not."""
    try:
        header, image = prepare(data, limits)
    except ImageRejected as error:
        raise InvalidImage(str(error)) from None
    return PreparedImage(header, encode_png(image))


def inspect_image(data: bytes, limits: ImageLimits) -> ImageInfo:
    """`prepare_upload`'s verdict on `data` (the whole preparation runs: corrupt data fails)."""
    return prepare_upload(data, limits).info
