"""Per-record features: image statistics and prediction features.

Image statistics are computed on batches of same-sized RGB arrays with numpy (one vectorised pass
per batch is what makes the job fast enough for an hour of traffic in a Lambda); where numba is
installed, `ImageBatcher` gets the same statistics from `png_kernel`, which unfilters PNG rows
and computes them in one compiled loop (about twice as fast again). PNGs are decoded
through Pillow's C inflate+unfilter decoder directly (`Image.frombytes(..., "zip")`), which skips
`Image.open`'s per-file plugin machinery and halves the decode time of a 32x32 capture; anything
else (JPEG, palettes, interlaced or 16-bit PNGs) goes through `Image.open` and the contract's
colour conversion (`contract.images.to_rgb`: 16-bit scaled, CMYK, transparency over white; the
8-bit fast paths drop alpha, which the workflow's RGB captures never carry). The drift job
hands whole encoded images to `ImageBatcher.add_later` where `png_records.png_records` is
available: a batch of records from bytes to statistics in one compiled call, the rest through
the per-record path above.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from PIL import Image

from contract import DEFAULT_LIMITS
from contract.images import ImageRejected, to_rgb
from monitoring import png_kernel, png_records

# libdeflate inflates a capture PNG about twice as fast as zlib and checks the exact size and
# the Adler-32 in one call; optional (zlib does the same job).
try:
    import deflate as _libdeflate

    _DEFLATE_ERRORS: tuple[type[Exception], ...] = (_libdeflate.DeflateError, ValueError)
except ImportError:  # pragma: no cover - exercised where deflate is absent
    _libdeflate = None  # type: ignore[assignment]
    _DEFLATE_ERRORS = (ValueError,)

# Numeric image features, in report order. Why each one: brightness/contrast/saturation catch
# photometric drift; sharpness (log10 of 1 + variance of the Laplacian) catches blur and noise;
# vertical_balance (top half minus bottom half brightness) and edge_orientation (share of
# horizontal-gradient energy) are the orientation-sensitive ones that see rotated or flipped
# cameras, which per-image colour statistics cannot; blockiness (gradient at 8-pixel JPEG block
# borders over elsewhere) catches heavy compression; width/height catch resolution changes.
IMAGE_NUMERIC: Final = (
    "brightness_r",
    "brightness_g",
    "brightness_b",
    "contrast",
    "saturation",
    "sharpness",
    "vertical_balance",
    "edge_orientation",
    "blockiness",
    "width",
    "height",
)
IMAGE_CATEGORICAL: Final = ("format",)
PREDICTION_NUMERIC: Final = ("confidence",)
PREDICTION_CATEGORICAL: Final = ("predicted_class", "below_threshold")
NUMERIC_FEATURES: Final = IMAGE_NUMERIC + PREDICTION_NUMERIC
CATEGORICAL_FEATURES: Final = IMAGE_CATEGORICAL + PREDICTION_CATEGORICAL
PREDICTION_FEATURES: Final = PREDICTION_NUMERIC + PREDICTION_CATEGORICAL

# Larger images are shrunk to this many pixels on the long side before statistics: bounded cost
# and memory per record whatever a client uploads.
MAX_SIDE: Final = 512
MAX_PIXELS: Final = DEFAULT_LIMITS.max_pixels  # the contract's: bombs refused before decoding
# Encoded bytes ImageBatcher.add_later holds before a batch is due, whatever the batch size.
MAX_LATER_BYTES: Final = 8_000_000

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_CHUNK_HEADER: Final = struct.Struct(">I4s")  # length, type
_IHDR_HEADER: Final = b"\x00\x00\x00\x0dIHDR"  # the first chunk's length and type
_IHDR: Final = struct.Struct(">IIBBBBB")  # width, height, depth, colour, compression, filter, lace
# (bit depth, colour type) -> Pillow mode for the fast path.
_PNG_MODES: Final = {(8, 0): "L", (8, 2): "RGB", (8, 4): "LA", (8, 6): "RGBA"}
_FILTER_TYPES: Final = bytes(range(5))  # PNG filter types 0-4 (None, Sub, Up, Average, Paeth)


class ImageDecodeError(ValueError):
    """The bytes are not an image this job can read."""


def _png_fast(data: bytes) -> np.ndarray | None:
    """Decode a plain 8-bit, non-interlaced PNG; None when the fast path does not apply."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33:
        return None
    width, height, depth, colour, _, _, interlace = _IHDR.unpack_from(data, 16)
    mode = _PNG_MODES.get((depth, colour))
    if mode is None or interlace or width * height > MAX_PIXELS or width == 0 or height == 0:
        return None
    payload = _image_data(data)
    try:
        image = Image.frombytes(mode, (width, height), payload, "zip", mode)
    except (ValueError, OSError) as error:
        raise ImageDecodeError(f"corrupt PNG: {error}") from error
    if max(width, height) > MAX_SIDE:
        return _to_rgb_array(image)
    # Drop alpha / widen grey in numpy: cheaper than Image.convert for small images.
    channels = len(mode)
    pixels = np.frombuffer(image.tobytes(), np.uint8).reshape(height, width, channels)
    if channels >= 3:
        return pixels[:, :, :3]
    return np.repeat(pixels[:, :, :1], 3, axis=2)


def _image_data(data: bytes) -> bytes:
    """The PNG's IDAT payload (all IDAT chunks, in order)."""
    chunks = []
    pos = 8
    last = len(data) - 8  # the last offset where a chunk header fits
    while pos <= last:
        length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        raise ImageDecodeError("PNG without image data")
    return b"".join(chunks)


def _zlib_inflate(payload: bytes, size: int) -> bytes | None:
    """The zlib stream's content when it is complete and exactly `size` bytes, else None
    (where libdeflate is absent; `png_rows` calls libdeflate itself)."""
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(payload, size + 1)
    except zlib.error:
        return None
    return inflated if inflater.eof and len(inflated) == size else None


def png_rows(data: bytes) -> tuple[str, int, int, bytes | bytearray] | None:
    """(mode, width, height, filtered rows) of a plain 8-bit, non-interlaced PNG of at most
    MAX_SIDE pixels a side whose rows are complete and whose filter types are valid, i.e. one
    Pillow's decoder turns into pixels without fail; None: decode it with `decode_image`.

    Unfiltering is left to `ImageBatcher`, which does it for a whole batch in one Pillow call
    (per image, Pillow's fixed cost is larger than the work)."""
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE):
        return None
    width, height, depth, colour, _, _, interlace = _IHDR.unpack_from(data, 16)
    mode = _PNG_MODES.get((depth, colour))
    if mode is None or interlace or not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        return None
    stride = 1 + width * len(mode)
    # _image_data inlined for the usual single IDAT chunk (this runs per record)
    pos = 33 if data.startswith(_IHDR_HEADER, 8) else 8  # (skip the usual 13-byte IHDR)
    last = len(data) - 8  # the last offset where a chunk header fits
    payload = None
    while pos <= last:
        length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        if kind == b"IDAT":
            if payload is not None:  # split image data (cannot raise: it has IDAT chunks)
                payload = _image_data(data)
                break
            payload = data[pos + 8 : pos + 8 + length]
        elif kind == b"IEND":
            break
        pos += 12 + length
    if payload is None:
        return None
    size = stride * height
    if _libdeflate is not None:
        try:
            rows: bytes | bytearray | None = _libdeflate.zlib_decompress(payload, size)
        except _DEFLATE_ERRORS:
            return None
    else:
        rows = _zlib_inflate(payload, size)
    # every filter type byte (the first of each row) in 0-4: lstrip leaves nothing
    if rows is None or len(rows) != size or rows[::stride].lstrip(_FILTER_TYPES):
        return None
    return mode, width, height, rows


def unfilter_png_rows(
    mode: str, width: int, height: int, images: list[bytes | bytearray]
) -> np.ndarray:
    """Filtered rows of same-shaped PNGs (from `png_rows`) -> B x H x W x 3 uint8 pixels.

    The images are stacked into one tall image, each preceded by an all-zero unfiltered row:
    PNG filters only look at the row above, and an image's first row must see zeros there,
    which that row provides. One stored (level 0) zlib stream then goes through Pillow's C
    decoder, the same code `decode_image` uses, so the pixels are identical."""
    count = len(images)
    blank = bytes(1 + width * len(mode))
    stream = zlib.compress(blank + blank.join(images), 0)
    tall = Image.frombytes(mode, (width, (height + 1) * count), stream, "zip", mode)
    channels = len(mode)
    pixels = np.asarray(tall).reshape(count, height + 1, width, channels)[:, 1:]
    if channels >= 3:
        return pixels[..., :3]
    return np.repeat(pixels[..., :1], 3, axis=3)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(image)


def decode_image(data: bytes) -> tuple[np.ndarray, str]:
    """Image bytes -> (H x W x 3 uint8 array, format name such as "PNG" or "JPEG")."""
    fast = _png_fast(data)
    if fast is not None:
        return fast, "PNG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ImageDecodeError(f"image too large: {image.width}x{image.height}")
            if image.format == "JPEG":
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode JPEGs at reduced size
            image_format = str(image.format or "UNKNOWN")
            # every other mode to RGB as the model's input is made (16-bit scaled, CMYK,
            # transparency over white): contract.images
            array = _to_rgb_array(to_rgb(image))
    except ImageRejected as error:
        raise ImageDecodeError(f"undecodable image: {error}") from None
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageDecodeError(f"undecodable image: {error}") from error
    except Image.DecompressionBombWarning as error:
        raise ImageDecodeError(f"image too large: {error}") from error
    return array, image_format


def image_features(batch: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a batch of same-sized RGB images (B x H x W x 3 uint8) -> name -> (B,).

    Written for speed at ~64 small images a batch (the working set then stays in the CPU
    cache): one float32 conversion, results computed in place where numpy allows, each
    formula evaluated in the same order as the plain expression it replaces."""
    count, height, width = batch.shape[:3]
    pixels = height * width
    # Channel planes as contiguous float32 arrays: reductions over the last axis of contiguous
    # memory are several times faster than over the (H, W) axes of an interleaved image.
    planes = np.empty((3, count, height, width), np.float32)
    np.copyto(planes, batch.transpose(3, 0, 1, 2))
    red, green, blue = planes[0], planes[1], planes[2]
    means = planes.reshape(3, count, pixels).mean(axis=2).T  # (B, 3)
    # gray = 0.299 * red + 0.587 * green + 0.114 * blue
    gray = np.multiply(red, np.float32(0.299))
    scratch = np.multiply(green, np.float32(0.587))
    gray += scratch
    np.multiply(blue, np.float32(0.114), out=scratch)
    gray += scratch
    contrast = gray.reshape(count, pixels).std(axis=1)
    # saturation = mean of (max - min) / max(max, 1) over the channels of each pixel
    high = np.maximum(red, green)
    np.maximum(high, blue, out=high)
    np.minimum(red, green, out=scratch)
    np.minimum(scratch, blue, out=scratch)
    np.subtract(high, scratch, out=scratch)
    np.maximum(high, np.float32(1.0), out=high)
    np.divide(scratch, high, out=scratch)
    saturation = scratch.reshape(count, pixels).mean(axis=1)

    if height >= 3 and width >= 3:
        # 4-neighbour Laplacian: up + down + left + right - 4 * centre
        laplacian = np.add(gray[:, :-2, 1:-1], gray[:, 2:, 1:-1])
        laplacian += gray[:, 1:-1, :-2]
        laplacian += gray[:, 1:-1, 2:]
        laplacian -= np.multiply(gray[:, 1:-1, 1:-1], np.float32(4.0))
        sharpness = np.log10(1.0 + laplacian.reshape(count, -1).var(axis=1))
    else:
        sharpness = np.zeros(count, np.float32)

    half = height // 2
    if half:
        vertical_balance = gray[:, :half].reshape(count, -1).mean(axis=1) - gray[
            :, height - half :
        ].reshape(count, -1).mean(axis=1)
    else:
        vertical_balance = np.zeros(count, np.float32)

    grad_x = np.subtract(gray[:, :, 1:], gray[:, :, :-1])  # B x H x (W-1)
    np.abs(grad_x, out=grad_x)
    grad_y = np.subtract(gray[:, 1:], gray[:, :-1])  # B x (H-1) x W
    np.abs(grad_y, out=grad_y)
    energy_x = np.square(grad_x).reshape(count, -1).mean(axis=1) if width > 1 else np.zeros(count)
    energy_y = np.square(grad_y).reshape(count, -1).mean(axis=1) if height > 1 else np.zeros(count)
    edge_orientation = energy_x / (energy_x + energy_y + 1e-6)

    blockiness = np.ones(count, np.float32)
    if width >= 16 and height >= 16:
        # mean |gradient| across 8-pixel block borders vs everywhere else (slices, no copies)
        border_x = grad_x[:, :, 7::8].sum(axis=(1, 2))
        border_y = grad_y[:, 7::8].sum(axis=(1, 2))
        cells_x = height * len(range(7, width - 1, 8))
        cells_y = width * len(range(7, height - 1, 8))
        total_x = grad_x.reshape(count, -1).sum(axis=1)
        total_y = grad_y.reshape(count, -1).sum(axis=1)
        at_border = border_x / cells_x + border_y / cells_y
        inside = (total_x - border_x) / (grad_x[0].size - cells_x) + (total_y - border_y) / (
            grad_y[0].size - cells_y
        )
        blockiness = (at_border + 1.0) / (inside + 1.0)

    return {
        "brightness_r": means[:, 0],
        "brightness_g": means[:, 1],
        "brightness_b": means[:, 2],
        "contrast": contrast,
        "saturation": saturation,
        "sharpness": sharpness,
        "vertical_balance": vertical_balance,
        "edge_orientation": edge_orientation,
        "blockiness": blockiness,
        "width": np.full(count, width, np.float32),
        "height": np.full(count, height, np.float32),
    }


def _named(statistics: np.ndarray, width: int, height: int) -> dict[str, np.ndarray]:
    """png_kernel's B x 9 statistics -> image_features' dictionary."""
    count = len(statistics)
    named = {name: statistics[:, index] for index, name in enumerate(IMAGE_NUMERIC[:-2])}
    named["width"] = np.full(count, width, np.float32)
    named["height"] = np.full(count, height, np.float32)
    return named


@dataclass
class LaterOutcome:
    """Images queued with `ImageBatcher.add_later` that were decoded (by format) or were not."""

    formats: Counter[str] = field(default_factory=Counter)
    undecodable: int = 0
    undecodable_alone: int = 0  # ... of records with no other problem


class ImageBatcher:
    """Collects images by shape and yields feature batches; memory stays bounded.

    Plain PNGs (`add_encoded`) wait as filtered rows and are unfiltered a batch at a time;
    anything else is decoded on arrival (`decode_image`) and waits as pixels (`add`)."""

    # 2M pending pixels: a batch of large images (up to MAX_SIDE) peaks at ~150 MB of float32
    # work arrays and PNG buffers (8M: ~430 MB); 64 images of 32x32 are far below it.
    def __init__(self, batch_size: int = 64, max_pending_pixels: int = 2_000_000) -> None:
        self.batch_size = batch_size
        self.max_pending_pixels = max_pending_pixels
        self._pending: dict[tuple[int, int], list[np.ndarray]] = {}
        self._png: dict[tuple[str, int, int], list[bytes | bytearray]] = {}
        self._pending_pixels = 0
        # add_later: encoded images waiting for the compiled path, and what became of those
        # it left to add_encoded (counted, as the records they came from are long gone)
        self._decompressor = png_records.Decompressor() if png_records.AVAILABLE else None
        self._later: list[bytes] = []
        self._later_invalid: list[bool] = []
        self._later_bytes = 0
        self._outcome = LaterOutcome()

    @property
    def takes_later(self) -> bool:
        """Whether `add_later` is available (numba and libdeflate's C API are)."""
        return self._decompressor is not None

    def add_later(self, data: bytes, record_invalid: bool) -> list[dict[str, np.ndarray]]:
        """Queue one image's bytes for `png_records.png_records`, which takes a batch from bytes
        to statistics in compiled code; returns the feature batches that became due.

        Images it leaves (not plain PNGs, corrupt ones) go through `add_encoded` then, so every
        image gets exactly the statistics, format or error `add_encoded` gives it; formats and
        errors are counted for `take_later_outcome` (`record_invalid`: the record already counts
        as invalid, so its undecodable image does not make it so)."""
        self._later.append(data)
        self._later_invalid.append(record_invalid)
        self._later_bytes += len(data)
        if len(self._later) >= self.batch_size or self._later_bytes > MAX_LATER_BYTES:
            return self._flush_later()
        return []

    def _flush_later(self) -> list[dict[str, np.ndarray]]:
        images, invalid = self._later, self._later_invalid
        if not images or self._decompressor is None:
            return []
        self._later, self._later_invalid, self._later_bytes = [], [], 0
        done, statistics = png_records.png_records(images, self._decompressor, MAX_SIDE)
        handled = int(done.sum())
        batches = []
        if handled:
            taken = statistics if handled == len(images) else statistics[done]
            batches.append({name: taken[:, index] for index, name in enumerate(IMAGE_NUMERIC)})
            self._outcome.formats["PNG"] += handled
        for index in np.flatnonzero(~done):
            try:
                image_format, due = self.add_encoded(images[index])
            except ImageDecodeError:
                self._outcome.undecodable += 1
                self._outcome.undecodable_alone += not invalid[index]
            else:
                self._outcome.formats[image_format] += 1
                batches.extend(due)
        return batches

    def take_later_outcome(self) -> LaterOutcome:
        """What became of the images given to `add_later` so far (flushed ones), and a fresh
        count from here on."""
        outcome, self._outcome = self._outcome, LaterOutcome()
        return outcome

    def add(self, image: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Queue one image; return the feature batches that became due (often none)."""
        key = (image.shape[0], image.shape[1])
        queue = self._pending.setdefault(key, [])
        queue.append(image)
        self._pending_pixels += key[0] * key[1]
        if len(queue) >= self.batch_size:
            return [self._flush_key(key)]
        if self._pending_pixels > self.max_pending_pixels:
            return self.flush()
        return []

    def add_encoded(self, data: bytes) -> tuple[str, list[dict[str, np.ndarray]]]:
        """Queue one image's bytes: (format name, feature batches that became due).

        Raises ImageDecodeError, exactly when `decode_image` would."""
        rows = png_rows(data)
        if rows is None:
            array, image_format = decode_image(data)
            return image_format, self.add(array)
        mode, width, height, filtered = rows
        key = (mode, width, height)
        queue = self._png.get(key)
        if queue is None:
            queue = self._png[key] = []
        queue.append(filtered)
        self._pending_pixels += width * height
        if len(queue) >= self.batch_size:
            return "PNG", [self._flush_png(key)]
        if self._pending_pixels > self.max_pending_pixels:
            return "PNG", self.flush()
        return "PNG", []

    def _flush_key(self, key: tuple[int, int]) -> dict[str, np.ndarray]:
        queue = self._pending.pop(key)
        self._pending_pixels -= key[0] * key[1] * len(queue)
        if png_kernel.AVAILABLE:
            return _named(png_kernel.pixel_statistics(np.stack(queue)), key[1], key[0])
        return image_features(np.stack(queue))

    def _flush_png(self, key: tuple[str, int, int]) -> dict[str, np.ndarray]:
        queue = self._png.pop(key)
        mode, width, height = key
        self._pending_pixels -= width * height * len(queue)
        if png_kernel.AVAILABLE:
            statistics = png_kernel.png_statistics(len(mode), width, height, queue)
            return _named(statistics, width, height)
        return image_features(unfilter_png_rows(mode, width, height, queue))

    def flush(self) -> list[dict[str, np.ndarray]]:
        later = self._flush_later()  # (first: what it leaves joins the queues below)
        return [
            *later,
            *(self._flush_key(key) for key in list(self._pending)),
            *(self._flush_png(key) for key in list(self._png)),
        ]


def prediction_features(probabilities: list[float], threshold: float) -> tuple[int, float, bool]:
    """[p_bicycle, p_motorcycle] -> (predicted class, confidence, below threshold); routed iff
    confidence >= threshold, so below means confidence < threshold (filter_inferences' rule)."""
    confidence = max(probabilities)
    predicted = probabilities.index(confidence)
    return predicted, confidence, confidence < threshold
