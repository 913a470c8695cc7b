"""Capture images to statistics in compiled code, a batch of records at a time.

The drift job's hot path where numba is installed: `png_records` takes a batch of records'
encoded image bytes to the 9 image statistics, width and height in one compiled call. It reads
IHDR and the IDAT chunks in place, inflates the zlib stream with libdeflate's C API (which the
`deflate` package's extension bundles and exports), then unfilters and computes the statistics
with `png_kernel`. What it does not take (other formats, odd or corrupt PNGs) is left to the
per-record path in `features` (`ImageBatcher.add_later` does that), so results never depend on
whether this path is available.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Any

import numpy as np

from monitoring import png_kernel
from monitoring.png_kernel import SLACK, STATISTICS, compiled, statistics_into, unfilter_png

try:  # optional, as in `features`: the extension that bundles and exports libdeflate
    from deflate import _deflate
except ImportError:  # pragma: no cover - exercised where deflate is absent
    _deflate = None  # type: ignore[assignment]

# The PNG signature and a standard IHDR chunk's length and type: the first 16 bytes.
_PNG_HEAD = np.frombuffer(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", np.uint8)
_IDAT = 0x49444154  # chunk types as big-endian 32-bit numbers
_IEND = 0x49454E44


def _load_libdeflate() -> tuple[Any, Any, Any] | None:
    """(alloc, free, zlib_decompress) of libdeflate, or None.

    The `deflate` package's extension bundles libdeflate and exports its C API. Loaded into
    LLVM's symbol table, compiled code calls the decoder by name, so that it caches like the rest
    (a ctypes pointer would be an address baked into the cache). Anything missing: None, and
    records take the per-record path (`features.png_rows`)."""
    if not png_kernel.AVAILABLE or _deflate is None:
        return None
    try:
        import llvmlite.binding
        from numba import types

        library = ctypes.CDLL(_deflate.__file__)
        alloc = library.libdeflate_alloc_decompressor
        free = library.libdeflate_free_decompressor
        library.libdeflate_zlib_decompress  # noqa: B018 (AttributeError where not exported)
        llvmlite.binding.load_library_permanently(_deflate.__file__)
    except (ImportError, OSError, AttributeError, RuntimeError):
        return None
    alloc.restype = ctypes.c_void_p
    alloc.argtypes = []
    free.restype = None
    free.argtypes = [ctypes.c_void_p]
    # (decompressor, in, in_nbytes, out, out_nbytes_avail, actual_out_nbytes_ret) -> result;
    # pointers as 64-bit integers (the same registers in the C calling convention); with no
    # actual_out pointer, 0 (success) means exactly out_nbytes_avail bytes came out
    signature = types.int32(types.intp, types.intp, types.intp, types.intp, types.intp, types.intp)
    return alloc, free, types.ExternalFunction("libdeflate_zlib_decompress", signature)


_LIBDEFLATE = _load_libdeflate()
AVAILABLE = _LIBDEFLATE is not None
_zlib_decompress: Any = _LIBDEFLATE[2] if _LIBDEFLATE is not None else None


class Decompressor:
    """A libdeflate decompressor for `png_records` (one per user: not thread-safe)."""

    def __init__(self) -> None:
        if _LIBDEFLATE is None:
            raise RuntimeError("libdeflate is not available to compiled code")
        alloc, free, _ = _LIBDEFLATE
        self.address: int = alloc() or 0
        if not self.address:
            raise MemoryError("libdeflate_alloc_decompressor failed")
        weakref.finalize(self, free, self.address)


@compiled
def _u32(data: np.ndarray, at: int) -> int:
    """The big-endian 32-bit number at data[at]."""
    high = (np.int64(data[at]) << 24) | (np.int64(data[at + 1]) << 16)
    return int(high | (np.int64(data[at + 2]) << 8) | np.int64(data[at + 3]))


@compiled
def _png_shape(data: np.ndarray, start: int, end: int, max_side: int) -> tuple[int, int, int]:
    """(bytes per pixel, width, height) of the PNG at data[start:end] when it is a plain 8-bit,
    non-interlaced one with a standard IHDR and sides of 1 to max_side; (0, 0, 0) otherwise."""
    if end - start < 33:
        return 0, 0, 0
    for at in range(16):
        if data[start + at] != _PNG_HEAD[at]:
            return 0, 0, 0
    width = _u32(data, start + 16)
    height = _u32(data, start + 20)
    colour = data[start + 25]
    if data[start + 24] != 8 or data[start + 28] != 0:  # bit depth, interlace
        return 0, 0, 0
    if not (0 < width <= max_side and 0 < height <= max_side):
        return 0, 0, 0
    bpp = 1 if colour == 0 else 3 if colour == 2 else 2 if colour == 4 else 4 if colour == 6 else 0
    return bpp, width, height


@compiled
def _png_records(  # noqa: PLR0917 (numba: one flat loop)
    buffer: np.ndarray,
    offsets: np.ndarray,
    max_side: int,
    decompressor: int,
    done: np.ndarray,
    out: np.ndarray,
) -> None:
    """Statistics, width and height (out[i, 0:11]) of each PNG buffer[offsets[i]:offsets[i+1]]
    that `features.png_rows` would take; done[i] False for the rest."""
    count = len(offsets) - 1
    most_rows = most_pixels = most_gray = 0
    for image in range(count):
        bpp, width, height = _png_shape(buffer, offsets[image], offsets[image + 1], max_side)
        if bpp:
            most_rows = max(most_rows, (width * bpp + 1) * height)
            most_pixels = max(most_pixels, (height + 1) * width * bpp)
            most_gray = max(most_gray, height * width)
    rows = np.empty(most_rows + SLACK, np.uint8)
    pixels = np.zeros(most_pixels + SLACK, np.uint8)
    gray = np.empty(most_gray, np.float32)
    joined = np.empty(0, np.uint8)
    for image in range(count):
        done[image] = False
        start = offsets[image]
        end = offsets[image + 1]
        bpp, width, height = _png_shape(buffer, start, end, max_side)
        if not bpp:
            continue
        # the IDAT chunks after IHDR, up to IEND or the end of the data, as png_rows walks them
        first = chunks = total = 0
        complete = True
        at = start + 33
        while at <= end - 8:
            length = _u32(buffer, at)
            kind = _u32(buffer, at + 4)
            if kind == _IDAT:
                if at + 8 + length > end:
                    complete = False
                    break
                if not chunks:
                    first = at + 8
                chunks += 1
                total += length
            elif kind == _IEND:
                break
            at += 12 + length
        if not complete or not chunks:
            continue
        source = buffer.ctypes.data + first
        if chunks > 1:  # split image data: joined in order
            if joined.size < total:
                joined = np.empty(total, np.uint8)
            filled = 0
            at = first - 8
            while filled < total:
                length = _u32(buffer, at)
                if _u32(buffer, at + 4) == _IDAT:
                    joined[filled : filled + length] = buffer[at + 8 : at + 8 + length]
                    filled += length
                at += 12 + length
            source = joined.ctypes.data
        line = width * bpp
        size = (line + 1) * height
        if _zlib_decompress(decompressor, source, total, rows.ctypes.data, size, 0) != 0:
            continue
        pixels[:line] = 0  # the zeros above the first row (a larger image may have been here)
        if not unfilter_png(rows, 0, height, line, bpp, pixels):  # a filter type outside 0-4
            continue
        statistics_into(pixels, line, height, width, bpp, gray, out[image])
        out[image, STATISTICS] = width
        out[image, STATISTICS + 1] = height
        done[image] = True


def png_records(
    images: list[bytes], decompressor: Decompressor, max_side: int
) -> tuple[np.ndarray, np.ndarray]:
    """The compiled path from image bytes to statistics for a batch of records: (B booleans:
    handled here, B x 11 float32: the 9 statistics, width, height). What is not handled (not a
    plain 8-bit PNG of at most max_side a side, or not one that decodes) is left to
    `features.png_rows` / `features.decode_image`, which give the same statistics or an error."""
    offsets = np.zeros(len(images) + 1, np.int64)
    np.cumsum([len(image) for image in images], out=offsets[1:])
    buffer = np.frombuffer(b"".join(images), np.uint8)
    done = np.zeros(len(images), np.bool_)
    out = np.zeros((len(images), STATISTICS + 2), np.float64)
    _png_records(buffer, offsets, max_side, decompressor.address, done, out)
    return done, out.astype(np.float32)
