"""The one image preparation: encoded bytes -> the model's input, used by every part of the system.

Staging, training, the endpoint's inference code, the upload gate, the drift baseline and the
predict CLI all call `prepare_image`, so the model sees the same pixels for the same bytes
wherever they enter. Steps, in order:

1. header checks before any pixel is decoded (`read_header`): PNG or JPEG (MPO, the JPEG with
   extra frames that phones write, counts as JPEG: its first frame is the photo), HEIC only
   where pillow-heif is installed (opt-in, GPL wheels), bytes,
   declared pixels, sides, aspect ratio, and for PNG the ratio of pixels to bytes (bombs);
2. decode; a large JPEG at reduced size through libjpeg's DCT scaling (`draft`), so a 48 MP
   photo costs about what a 0.75 MP one does;
3. colours: every mode a PNG or JPEG decodes to becomes RGB the same way (16-bit greyscale
   scaled to 8 bits, CMYK converted, transparency composited over white), or the image is
   refused;
4. EXIF orientation applied;
5. geometry: the centred square crop, resized with LANCZOS to IMAGE_SIZE (chosen by measuring
   crop, letterbox and squash on non-square photos: benchmarks/bench_geometry.py, README).

Errors are `ImageRejected` (a ValueError) with a message that says why; callers map it to their
own typed error (the gate's InvalidImage, the endpoint's 400). Needs Pillow only.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, UnidentifiedImageError

from contract.labels import IMAGE_SIZE
from contract.limits import CONTENT_TYPES, DEFAULT_LIMITS, ImageLimits

# HEIC/HEIF is opt-in: pillow-heif's wheels are GPLv2 (they bundle x265), so the Pillow layer
# carries them only when built with `--with-heif`. Where it is importable its opener reads the
# size from the container (no pixels decoded) and applies irot/imir on decode, setting the EXIF
# orientation to 1, so the steps below treat a HEIC like any other photo.
try:
    import pillow_heif
except ImportError:
    pillow_heif = None  # type: ignore[assignment]
if pillow_heif is not None:
    pillow_heif.register_heif_opener(thumbnails=False)
HEIF_ENABLED: Final = pillow_heif is not None

_MAGIC: Final = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"))
# Formats we recognise only to name them in the refusal.
_OTHER_MAGIC: Final = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"})
_PILLOW_FORMAT: Final = {"HEIC": "HEIF"}  # our name -> the plugin's format name
# JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps both sides at least
# this long: 8x the model's side, so the LANCZOS reduction below still has detail to average.
DRAFT_SIDE: Final = 8 * IMAGE_SIZE
# Transparent pixels are composited over white (what viewers show for a cut-out photo).
BACKGROUND: Final = (255, 255, 255)
_SIXTEEN_BIT_GREY: Final = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_WITH_ALPHA: Final = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_CONVERTIBLE: Final = frozenset({"1", "L", "P", "RGB", "CMYK", "YCbCr"})
# EXIF orientation tag values -> the transpose that makes the image upright.
_ORIENTATION: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG: Final = 0x0112


class ImageRejected(ValueError):
    """The bytes are not an image the system accepts (format, size, corrupt data, mode)."""


@dataclass(frozen=True)
class ImageHeader:
    """What the header says about an encoded image (nothing decoded yet)."""

    format: str  # "PNG", "JPEG" (an MPO is reported as JPEG) or "HEIC" (opt-in)
    content_type: str
    width: int
    height: int
    size_bytes: int


def sniff_format(data: bytes) -> str | None:
    """The format the magic bytes name ("PNG", "JPEG", or another one we refuse by name)."""
    for magic, name in _MAGIC + _OTHER_MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIC"
    return None


def read_header(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> ImageHeader:
    """Check `data` against `limits` from its bytes and header alone; `ImageRejected` if not."""
    with _open(data, limits) as image:
        return _header(image, data)


def prepare_image(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> Image.Image:
    """Encoded PNG/JPEG bytes -> the model's input: an IMAGE_SIZE x IMAGE_SIZE RGB image."""
    return prepare(data, limits)[1]


def prepare(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> tuple[ImageHeader, Image.Image]:
    """`prepare_image`, with the header of the encoded image it came from."""
    header, upright = decode_upright(data, limits)
    return header, fit_to_model(upright)


def decode_upright(
    data: bytes, limits: ImageLimits = DEFAULT_LIMITS, draft_side: int = DRAFT_SIDE
) -> tuple[ImageHeader, Image.Image]:
    """Steps 1-4: the header and the decoded, upright RGB image (JPEGs at reduced size)."""
    with _open(data, limits) as image:
        header = _header(image, data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow warns about odd metadata; errors raise
                if header.format == "JPEG":
                    image.draft(image.mode, (draft_side, draft_side))
                image.load()  # the full decode: truncated or corrupt data raises here
                orientation = image.getexif().get(_EXIF_ORIENTATION_TAG)
                rgb = to_rgb(image)
        except ImageRejected:
            raise
        except Exception as error:  # Pillow raises many types for corrupt data; none is ours
            raise ImageRejected(f"corrupt {header.format} data: {_describe(error)}") from None
    transpose = _ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return header, rgb if transpose is None else rgb.transpose(transpose)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode a PNG or JPEG decodes to -> RGB, or `ImageRejected` naming the mode."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_GREY:
        # 0-65535 -> 0-255, rounded (convert("L") would clip: a 16-bit photo turned white).
        grey = image.convert("I").point(lambda value: value * (1 / 257) + 0.5)
        return grey.convert("L").convert("RGB")
    if mode in _WITH_ALPHA or (mode in _CONVERTIBLE and "transparency" in image.info):
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        # Over an opaque background: paste through the alpha band (one RGB canvas; a 48 MP
        # image needs no further full-size copies, unlike alpha_composite + convert).
        composed = Image.new("RGB", rgba.size, BACKGROUND)
        composed.paste(rgba, (0, 0), rgba)
        return composed
    if mode in _CONVERTIBLE:
        return image if mode == "RGB" else image.convert("RGB")
    raise ImageRejected(f"images of mode {mode} are not supported")


def fit_to_model(image: Image.Image) -> Image.Image:
    """Step 5: the centred square crop of an RGB image, resized to IMAGE_SIZE with LANCZOS."""
    if image.mode != "RGB":
        image = to_rgb(image)
    width, height = image.size
    if (width, height) == (IMAGE_SIZE, IMAGE_SIZE):
        return image
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return image.resize(
        (IMAGE_SIZE, IMAGE_SIZE),
        Image.Resampling.LANCZOS,
        box=(left, top, left + side, top + side),
    )


def encode_png(image: Image.Image) -> bytes:
    """Deterministic PNG bytes of an image (no timestamps or text chunks)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    """Image.open after the checks that need only bytes and header."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageRejected(f"image data must be bytes, not {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise ImageRejected("the image is empty")
    if size > limits.max_bytes:
        raise ImageRejected(f"the image has {size} bytes, above the limit of {limits.max_bytes}")
    declared = sniff_format(bytes(data[:16]))
    if declared == "HEIC" and not HEIF_ENABLED:
        raise ImageRejected(
            "HEIC/HEIF photos are not supported: send JPEG or PNG (on an iPhone: Settings > "
            "Camera > Formats > Most Compatible); operators can enable HEIC by installing "
            "pillow-heif (lambdas/build.py --with-heif)"
        )
    if declared is None:
        raise ImageRejected("not a PNG or JPEG file (unknown magic bytes)")
    if declared not in ("PNG", "JPEG", "HEIC"):
        raise ImageRejected(f"{declared} images are not supported: send PNG or JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # our limits, checked below, are what decide
            image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT.get(declared, declared)])
    except Exception as error:  # Pillow raises many types for a corrupt header
        raise ImageRejected(f"not a readable {declared}: {_describe(error)}") from None
    try:
        _check_header(image, declared, size, limits)
    except ImageRejected:
        image.close()
        raise
    return image


def _check_header(image: Image.Image, declared: str, size: int, limits: ImageLimits) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(f"the image declares no pixels ({width}x{height})")
    pixels = width * height
    if pixels > limits.max_pixels:
        raise ImageRejected(
            f"{width}x{height} is above the pixel limit of {limits.max_pixels} (possible bomb)"
        )
    if min(width, height) < limits.min_side:
        raise ImageRejected(f"{width}x{height} is below the minimum side of {limits.min_side} px")
    if max(width, height) > limits.max_side:
        raise ImageRejected(f"{width}x{height} is above the maximum side of {limits.max_side} px")
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect_ratio:
        raise ImageRejected(
            f"aspect ratio {ratio:.2f} of {width}x{height} is above {limits.max_aspect_ratio}"
        )
    if (
        declared == "PNG"
        and pixels > limits.png_free_pixels
        and pixels > size * limits.max_png_pixels_per_byte
    ):
        raise ImageRejected(
            f"a {width}x{height} PNG in {size} bytes is above "
            f"{limits.max_png_pixels_per_byte:g} pixels per byte (possible bomb)"
        )


def _header(image: Image.Image, data: bytes) -> ImageHeader:
    name = {"MPO": "JPEG", "HEIF": "HEIC"}.get(str(image.format), str(image.format))
    width, height = image.size
    return ImageHeader(name, CONTENT_TYPES[name], width, height, len(data))


def _describe(error: BaseException) -> str:
    if isinstance(error, UnidentifiedImageError):  # (its message names a BytesIO object)
        return "the header is not valid"
    return f"{type(error).__name__}: {str(error)[:200]}"
