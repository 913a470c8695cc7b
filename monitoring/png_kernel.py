"""Compiled (numba) image statistics, fused with PNG unfiltering for the drift job's hot path.

`features.image_features` (numpy) is the reference and the fallback: it is used when numba is
not installed (the drift Lambda's layer has no room for llvmlite) or when the environment sets
`MONITORING_NO_NUMBA=1`. Here the same statistics are computed image by image in one compiled
loop, straight from a batch of PNG filtered rows (all five filter types, 8-bit L/LA/RGB/RGBA) or
from RGB pixels: no float32 planes, no Pillow call, no Python per image. Per-pixel values
(grey level, Laplacian, gradients, saturation) are computed in float32 exactly as numpy does;
sums are float64 (numpy sums float32 pairwise), so features agree to ~1e-6 relative. (Sums go
through float(): without numba, the same functions then still sum in float64, not float32.)

`png_records` builds on these for the drift job: whole records' PNG bytes to statistics. The
parallelism in unfiltering (serial along a row: each byte needs its left neighbour) is the
colour channels of a pixel as vector lanes and two consecutive rows as a wavefront.

Compiled functions are cached on disk (`cache=True`): in `__pycache__`, or where the code is
read-only in `NUMBA_CACHE_DIR` (set to `<tmp>/numba` unless given). The first process compiles
them (~20 s of CPU), later ones load them (~0.5 s, plus ~0.4 s to import numba).
"""

from __future__ import annotations

import functools
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# Bytes readable and writable past the last row of the unfilter buffers: the last Paeth step
# of 3-byte pixels reads and writes one throw-away byte there (see _paeth_step).
SLACK = 4

# Filled in image_features order: brightness r/g/b, contrast, saturation, sharpness,
# vertical_balance, edge_orientation, blockiness (width and height are added by the caller,
# or by `png_records` as columns 9 and 10).
STATISTICS = 9


def _numba_njit() -> Any:
    """numba.njit, or None where numba is missing or MONITORING_NO_NUMBA is set."""
    if os.environ.get("MONITORING_NO_NUMBA", "") not in ("", "0"):
        return None
    if not os.access(Path(__file__).parent, os.W_OK):  # read-only code (Lambda, containers)
        os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba"))
    # The Paeth kernel relies on LLVM's SLP vectoriser, which numba leaves off by default. It
    # is read when numba's code generator starts (before the first compile in the process).
    os.environ.setdefault("NUMBA_SLP_VECTORIZE", "1")
    try:
        from numba import njit
    except ImportError:
        return None
    if platform.machine().lower() in ("x86_64", "amd64"):
        # LLVM's x86 pass that turns conditional moves back into branches when they sit on a
        # loop-carried chain makes Paeth unfiltering 2-3x slower on photos (its choice among
        # a, b, c is unpredictable); only code generation changes, not results.
        import llvmlite.binding

        llvmlite.binding.set_option("monitoring", "-x86-cmov-converter=false")
    return njit


_NJIT = _numba_njit()
AVAILABLE = _NJIT is not None


def compiled(function: Any, fastmath: bool | set[str] = False, inline: str = "never") -> Any:
    if _NJIT is None:
        return function
    return _NJIT(cache=True, nogil=True, fastmath=fastmath, inline=inline)(function)


_U: Any  # numba's uint64 where compiled; int in plain Python
_Lanes = tuple[Any, Any, Any, Any]  # the four bytes of a pixel (np.int32 in compiled code)
if AVAILABLE:
    from numba import uint64 as _U
else:

    def _U(value: int) -> int:
        return value


# Reassociating float sums lets LLVM vectorise them (changes only the last bits of a sum).
_REASSOC = {"reassoc", "nsz"}


@functools.partial(compiled, inline="always")
def _paeth(filtered: int, a: int, b: int, c: int) -> int:
    """Undo Paeth on one byte: a = left, b = above, c = above left (already unfiltered)."""
    # p = a + b - c; pa = |p - a|, pb = |p - b|, pc = |p - c|; ties prefer a, then b
    from_b = b - c
    from_a = a - c
    pa = abs(from_b)
    pb = abs(from_a)
    pc = abs(from_a + from_b)
    predicted = b if pb <= pc else c
    predicted = a if (pa <= pb) & (pa <= pc) else predicted
    return (filtered + predicted) & 255


# Offsets are unsigned (U) throughout: numba wraps negative signed indices at run time, and
# that check per byte kept the loops below from vectorising. Pixels live in one flat buffer,
# row y of the image at (y + 1) * line, after a row of zeros (what the first row sees above).


@functools.partial(compiled, inline="always")
def _paeth_step(  # noqa: PLR0917 (numba: positional arguments only)
    rows: np.ndarray,
    src: int,
    pixels: np.ndarray,
    dst: int,
    up: int,
    at: int,
    left: _Lanes,
    above_left: _Lanes,
) -> tuple[_Lanes, _Lanes]:
    """Paeth of the pixel at offset `at` of a row of 3- or 4-byte pixels, as four identical
    lanes (which LLVM's SLP vectoriser turns into vector operations): (its bytes, the bytes
    above it), the next step's left and above-left. With 3-byte pixels the fourth lane computes
    a throw-away byte into the next pixel's first byte, which that pixel's step overwrites (the
    buffers have slack past the last row). Alpha bytes of RGBA get the same treatment; the
    statistics never read alpha."""
    b0 = np.int32(pixels[up + at])
    b1 = np.int32(pixels[up + at + _U(1)])
    b2 = np.int32(pixels[up + at + _U(2)])
    b3 = np.int32(pixels[up + at + _U(3)])
    a0 = _paeth(np.int32(rows[src + at]), left[0], b0, above_left[0])
    a1 = _paeth(np.int32(rows[src + at + _U(1)]), left[1], b1, above_left[1])
    a2 = _paeth(np.int32(rows[src + at + _U(2)]), left[2], b2, above_left[2])
    a3 = _paeth(np.int32(rows[src + at + _U(3)]), left[3], b3, above_left[3])
    pixels[dst + at] = a0
    pixels[dst + at + _U(1)] = a1
    pixels[dst + at + _U(2)] = a2
    pixels[dst + at + _U(3)] = a3
    return (a0, a1, a2, a3), (b0, b1, b2, b3)


@functools.partial(compiled, inline="always")
def _paeth_first(  # noqa: PLR0917
    rows: np.ndarray, src: int, pixels: np.ndarray, dst: int, up: int, bpp: int
) -> tuple[_Lanes, _Lanes]:
    """Paeth of a row's first pixel (no left neighbour: a = c = 0); as _paeth_step."""
    for x in range(bpp):
        at = _U(x)
        pixels[dst + at] = (np.int32(rows[src + at]) + pixels[up + at]) & 255
    left = (
        np.int32(pixels[dst]),
        np.int32(pixels[dst + _U(1)]),
        np.int32(pixels[dst + _U(2)]),
        np.int32(pixels[dst + _U(3)]),
    )
    above = (
        np.int32(pixels[up]),
        np.int32(pixels[up + _U(1)]),
        np.int32(pixels[up + _U(2)]),
        np.int32(pixels[up + _U(3)]),
    )
    return left, above


@compiled
def _paeth_colour(  # noqa: PLR0917
    rows: np.ndarray, src: int, pixels: np.ndarray, dst: int, up: int, line: int, bpp: int
) -> None:
    """Paeth of a row of 3- or 4-byte pixels: one chain of steps along the row (each pixel
    needs its left neighbour)."""
    left, above_left = _paeth_first(rows, src, pixels, dst, up, bpp)
    for pixel in range(1, line // bpp):
        left, above_left = _paeth_step(
            rows, src, pixels, dst, up, _U(pixel) * _U(bpp), left, above_left
        )


@compiled
def _paeth_colour_pair(  # noqa: PLR0917
    rows: np.ndarray,
    src: int,
    src_next: int,
    pixels: np.ndarray,
    dst: int,
    dst_next: int,
    up: int,
    line: int,
    bpp: int,
) -> None:
    """Two consecutive Paeth rows of 3- or 4-byte pixels as a wavefront: the second row trails
    the first by one pixel (its pixel x needs the first row's pixels x - 1 and x), so two
    independent chains interleave and the CPU runs them side by side."""
    count = line // bpp
    left, above_left = _paeth_first(rows, src, pixels, dst, up, bpp)
    next_left, next_above_left = _paeth_first(rows, src_next, pixels, dst_next, dst, bpp)
    first_byte = pixels[dst_next]  # (the first row's last throw-away byte lands here)
    if count > 1:
        left, above_left = _paeth_step(rows, src, pixels, dst, up, _U(bpp), left, above_left)
    for pixel in range(2, count):
        left, above_left = _paeth_step(
            rows, src, pixels, dst, up, _U(pixel) * _U(bpp), left, above_left
        )
        next_left, next_above_left = _paeth_step(
            rows,
            src_next,
            pixels,
            dst_next,
            dst,
            _U(pixel - 1) * _U(bpp),
            next_left,
            next_above_left,
        )
    if count > 1:
        _paeth_step(
            rows,
            src_next,
            pixels,
            dst_next,
            dst,
            _U(count - 1) * _U(bpp),
            next_left,
            next_above_left,
        )
    pixels[dst_next] = first_byte


@compiled
def _unfilter_row(  # noqa: PLR0917
    rows: np.ndarray, src: int, pixels: np.ndarray, dst: int, up: int, line: int, bpp: int
) -> bool:
    """Undo the filter of the PNG row at rows[src] (type byte, then the row) into
    pixels[dst:dst + line], with the row above at pixels[up:]; False: not a filter type (0-4).

    Where a filter chains along the row, alpha (and LA's second byte) may be left undone: a
    byte's prediction only uses bytes of its own channel, and the statistics never read them."""
    kind = rows[src]
    src += _U(1)
    first = min(bpp, line)  # bytes with no pixel to their left (a = c = 0)
    if kind == 0:
        for x in range(line):
            at = _U(x)
            pixels[dst + at] = rows[src + at]
    elif kind == 2:  # Up
        for x in range(line):
            at = _U(x)
            pixels[dst + at] = (np.int32(rows[src + at]) + pixels[up + at]) & 255
    elif kind == 1:  # Sub
        for x in range(first):
            at = _U(x)
            pixels[dst + at] = rows[src + at]
        for x in range(bpp, line):
            at = _U(x)
            pixels[dst + at] = (np.int32(rows[src + at]) + pixels[dst + at - bpp]) & 255
    elif kind == 3:  # Average
        for x in range(first):
            at = _U(x)
            pixels[dst + at] = (np.int32(rows[src + at]) + (np.int32(pixels[up + at]) >> 1)) & 255
        for x in range(bpp, line):
            at = _U(x)
            left = np.int32(pixels[dst + at - bpp])
            pixels[dst + at] = (np.int32(rows[src + at]) + ((left + pixels[up + at]) >> 1)) & 255
    elif kind == 4:  # Paeth
        if bpp >= 3:
            _paeth_colour(rows, src, pixels, dst, up, line, bpp)
        else:  # L, LA: the grey byte, one chain
            for x in range(first):
                at = _U(x)
                pixels[dst + at] = (np.int32(rows[src + at]) + pixels[up + at]) & 255
            grey = np.int32(pixels[dst])
            grey_c = np.int32(pixels[up])
            for pixel in range(1, line // bpp):
                at = _U(pixel) * bpp
                grey_b = np.int32(pixels[up + at])
                grey = _paeth(np.int32(rows[src + at]), grey, grey_b, grey_c)
                pixels[dst + at] = grey
                grey_c = grey_b
    else:
        return False
    return True


@functools.partial(compiled, fastmath=_REASSOC, inline="always")
def _colour_pass(  # noqa: PLR0917
    pixels: np.ndarray, start: int, count: int, bpp: int, colour: bool, gray: np.ndarray
) -> tuple[float, float, float, float, float]:
    """Grey levels of all pixels into gray; sums of red, green, blue, grey and saturation.

    Called with a literal `bpp` (bytes per pixel) so that the strided loads vectorise."""
    red_sum = green_sum = blue_sum = np.int64(0)  # integer sums: exact
    gray_sum = saturation_sum = 0.0
    for pixel in range(count):
        at = start + _U(pixel) * bpp
        red = np.int32(pixels[at])
        green = np.int32(pixels[at + _U(1)]) if colour else red
        blue = np.int32(pixels[at + _U(2)]) if colour else red
        red_sum += red
        green_sum += green
        blue_sum += blue
        # gray = 0.299 * red + 0.587 * green + 0.114 * blue, in float32 as numpy does it
        level = np.float32(red) * np.float32(0.299) + np.float32(green) * np.float32(0.587)
        level = level + np.float32(blue) * np.float32(0.114)
        gray[pixel] = level
        gray_sum += float(level)
        high = np.float32(max(red, green, blue))
        low = np.float32(min(red, green, blue))
        saturation_sum += float((high - low) / max(high, np.float32(1.0)))
    return float(red_sum), float(green_sum), float(blue_sum), gray_sum, saturation_sum


@functools.partial(compiled, fastmath=_REASSOC)
def statistics_into(  # noqa: PLR0917
    pixels: np.ndarray,
    start: int,
    height: int,
    width: int,
    bpp: int,
    gray: np.ndarray,
    out: np.ndarray,
) -> None:
    """The 9 statistics of one image (rows of width * bpp bytes from pixels[start]) into out.

    gray is a flat float32 buffer of at least height * width. The Laplacian's variance is one
    pass of sums and sums of squares in float64, where each Laplacian value is exact, so the
    two sums agree on it; contrast subtracts the mean first, as numpy does."""
    count = height * width
    at = _U(start)
    if bpp == 4:
        sums = _colour_pass(pixels, at, count, _U(4), True, gray)
    elif bpp == 3:
        sums = _colour_pass(pixels, at, count, _U(3), True, gray)
    elif bpp == 2:
        sums = _colour_pass(pixels, at, count, _U(2), False, gray)
    else:
        sums = _colour_pass(pixels, at, count, _U(1), False, gray)
    red_sum, green_sum, blue_sum, gray_sum, saturation_sum = sums
    out[0] = red_sum / count
    out[1] = green_sum / count
    out[2] = blue_sum / count
    mean = np.float32(gray_sum / count)
    squares = 0.0
    for pixel in range(count):
        deviation = gray[pixel] - mean
        squares += float(deviation * deviation)
    out[3] = math.sqrt(squares / count)
    out[4] = saturation_sum / count

    row = _U(width)
    out[5] = 0.0
    if height >= 3 and width >= 3:
        lap_sum = lap_squares = 0.0
        for y in range(1, height - 1):
            base = _U(y) * row
            for x in range(1, width - 1):
                here = base + _U(x)
                # in float64, where this sum of float32 values is exact: reassociation
                # cannot then give the two sums below differently rounded copies of it
                lap = float(gray[here - row]) + float(gray[here + row])
                lap += float(gray[here - _U(1)]) + float(gray[here + _U(1)])
                lap -= 4.0 * float(gray[here])
                lap_sum += lap
                lap_squares += lap * lap
        lap_count = (height - 2) * (width - 2)
        lap_mean = lap_sum / lap_count
        out[5] = math.log10(1.0 + max(lap_squares / lap_count - lap_mean * lap_mean, 0.0))

    half = height // 2
    out[6] = 0.0
    if half:
        top = bottom = 0.0
        cells = half * width
        below = _U(count - cells)  # the bottom half starts here
        for pixel in range(cells):
            top += float(gray[pixel])
            bottom += float(gray[below + _U(pixel)])
        out[6] = top / cells - bottom / cells

    # |horizontal| and |vertical| gradients: energies, totals, and the part on 8-pixel borders
    energy_x = energy_y = total_x = total_y = border_x = border_y = 0.0
    for y in range(height):
        base = _U(y) * row
        for x in range(width - 1):
            here = base + _U(x)
            step = abs(gray[here + _U(1)] - gray[here])
            energy_x += float(step * step)
            total_x += float(step)
        for x in range(7, width - 1, 8):
            here = base + _U(x)
            border_x += float(abs(gray[here + _U(1)] - gray[here]))
    for y in range(height - 1):
        base = _U(y) * row
        row_total = 0.0
        for x in range(width):
            here = base + _U(x)
            step = abs(gray[here + row] - gray[here])
            energy_y += float(step * step)
            row_total += float(step)
        total_y += row_total
        if y % 8 == 7:
            border_y += row_total
    if width > 1:
        energy_x /= height * (width - 1)
    if height > 1:
        energy_y /= (height - 1) * width
    out[7] = energy_x / (energy_x + energy_y + 1e-6)

    out[8] = 1.0
    if width >= 16 and height >= 16:
        cells_x = height * ((width - 1) // 8)  # len(range(7, width - 1, 8)) border columns
        cells_y = width * ((height - 1) // 8)
        at_border = border_x / cells_x + border_y / cells_y
        inside = (total_x - border_x) / (height * (width - 1) - cells_x) + (total_y - border_y) / (
            (height - 1) * width - cells_y
        )
        out[8] = (at_border + 1.0) / (inside + 1.0)


@compiled
def _unfilter_image(  # noqa: PLR0917
    rows: np.ndarray, start: int, height: int, line: int, bpp: int, pixels: np.ndarray
) -> bool:
    """Unfilter one image's rows (from rows[start]) into pixels rows 1..height."""
    stride = _U(line + 1)
    y = 0
    while y < height:
        src = _U(start) + _U(y) * stride
        dst = _U(y + 1) * _U(line)
        if bpp >= 3 and y + 1 < height and rows[src] == 4 and rows[src + stride] == 4:
            _paeth_colour_pair(
                rows,
                src + _U(1),
                src + stride + _U(1),
                pixels,
                dst,
                dst + _U(line),
                dst - _U(line),
                _U(line),
                _U(bpp),
            )
            y += 2
            continue
        if not _unfilter_row(rows, src, pixels, dst, dst - _U(line), _U(line), _U(bpp)):
            return False
        y += 1
    return True


@functools.partial(compiled, inline="always")
def unfilter_png(  # noqa: PLR0917
    rows: np.ndarray, start: int, height: int, line: int, bpp: int, pixels: np.ndarray
) -> bool:
    """Unfilter one image's rows (from rows[start]; SLACK bytes readable past the last) into
    pixels rows 1..height (row 0: zeros; SLACK bytes of room past the last); False: a filter
    type outside 0-4. Each pixel size gets its own call with a literal bpp, so the inner loops
    are compiled for it."""
    if bpp == 4:
        return _unfilter_image(rows, start, height, line, 4, pixels)
    if bpp == 3:
        return _unfilter_image(rows, start, height, line, 3, pixels)
    if bpp == 2:
        return _unfilter_image(rows, start, height, line, 2, pixels)
    return _unfilter_image(rows, start, height, line, 1, pixels)


@compiled
def _png_batch(  # noqa: PLR0917
    rows: np.ndarray, count: int, height: int, width: int, bpp: int, out: np.ndarray
) -> bool:
    """Statistics of `count` PNGs whose filtered rows are concatenated in `rows`."""
    line = width * bpp
    pixels = np.zeros((height + 1) * line + SLACK, np.uint8)  # zero row, image, slack
    gray = np.empty(height * width, np.float32)
    for image in range(count):
        if not unfilter_png(rows, image * height * (line + 1), height, line, bpp, pixels):
            return False
        statistics_into(pixels, line, height, width, bpp, gray, out[image])
    return True


@compiled
def _pixel_batch(batch: np.ndarray, out: np.ndarray) -> None:
    """Statistics of B x H x W x 3 RGB pixels (contiguous)."""
    count, height, width = batch.shape[0], batch.shape[1], batch.shape[2]
    flat = batch.reshape(batch.size)
    gray = np.empty(height * width, np.float32)
    for image in range(count):
        statistics_into(flat, image * height * width * 3, height, width, 3, gray, out[image])


def png_statistics(
    channels: int, width: int, height: int, images: list[bytes | bytearray]
) -> np.ndarray:
    """B x 9 float32 statistics of same-shaped 8-bit PNGs' filtered rows (from `png_rows`)."""
    rows = np.frombuffer(b"".join([*images, bytes(SLACK)]), np.uint8)
    out = np.empty((len(images), STATISTICS), np.float64)
    if not _png_batch(rows, len(images), height, width, channels, out):
        raise ValueError("PNG filter type outside 0-4")  # png_rows lets none through
    return out.astype(np.float32)


def pixel_statistics(batch: np.ndarray) -> np.ndarray:
    """B x 9 float32 statistics of B x H x W x 3 uint8 RGB images."""
    out = np.empty((len(batch), STATISTICS), np.float64)
    _pixel_batch(np.ascontiguousarray(batch, np.uint8), out)
    return out.astype(np.float32)
