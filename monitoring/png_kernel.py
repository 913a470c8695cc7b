"""Compiled (numba) image statistics, fused with PNG unfiltering for the drift job's hot path.

`features.image_features` (numpy) is the reference and the fallback: it is used when numba is
not installed (the drift Lambda's layer has no room for llvmlite) or when the environment sets
`MONITORING_NO_NUMBA=1`. Here the same statistics are computed image by image in one compiled
loop, straight from a batch of PNG filtered rows (all five filter types, 8-bit L/LA/RGB/RGBA) or
from RGB pixels: no float32 planes, no Pillow call, no Python per image. Per-pixel values
(grey level, Laplacian, gradients, saturation) are computed in float32 exactly as numpy does;
sums are float64 (numpy sums float32 pairwise), so features agree to ~1e-6 relative. (Sums go
through float(): without numba, the same functions then still sum in float64, not float32.)

Compiled functions are cached on disk (`cache=True`): in `__pycache__`, or where the code is
read-only in `NUMBA_CACHE_DIR` (set to `<tmp>/numba` unless given). The first process compiles
them (~6 s of CPU), later ones load them (~0.5 s, plus ~0.4 s to import numba).
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

# Filled in image_features order: brightness r/g/b, contrast, saturation, sharpness,
# vertical_balance, edge_orientation, blockiness (width and height are added by the caller).
STATISTICS = 9


def _numba_njit() -> Any:
    """numba.njit, or None where numba is missing or MONITORING_NO_NUMBA is set."""
    if os.environ.get("MONITORING_NO_NUMBA", "") not in ("", "0"):
        return None
    if not os.access(Path(__file__).parent, os.W_OK):  # read-only code (Lambda, containers)
        os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba"))
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


def _compiled(function: Any, fastmath: bool | set[str] = False) -> Any:
    if _NJIT is None:
        return function
    return _NJIT(cache=True, nogil=True, fastmath=fastmath)(function)


# Reassociating float sums lets LLVM vectorise them (changes only the last bits of a sum).
_REASSOC = {"reassoc", "nsz"}


@_compiled
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


@_compiled
def _unfilter_row(rows: np.ndarray, start: int, bpp: int, pixels: np.ndarray, y: int) -> bool:
    """Undo the filter of the PNG row at rows[start] (type byte, then the row) into
    pixels[y + 1], with pixels[y] as the row above; False: not a filter type (0-4).

    Alpha bytes are left undone where a filter chains along the row: a byte's prediction
    only uses bytes of its own channel, and the statistics never read alpha."""
    kind = rows[start]
    line = pixels.shape[1]
    # views with indices from range(): no negative-index checks, so the loops vectorise
    raw = rows[start + 1 : start + 1 + line]
    above = pixels[y]
    row = pixels[y + 1]
    first = min(bpp, line)  # bytes with no pixel to their left (a = c = 0)
    if kind == 0:
        for x in range(line):
            row[x] = raw[x]
    elif kind == 2:  # Up
        for x in range(line):
            row[x] = (np.int32(raw[x]) + above[x]) & 255
    elif kind == 1:  # Sub
        for x in range(first):
            row[x] = raw[x]
        for x in range(bpp, line):
            row[x] = (np.int32(raw[x]) + row[x - bpp]) & 255
    elif kind == 3:  # Average
        for x in range(first):
            row[x] = (np.int32(raw[x]) + (np.int32(above[x]) >> 1)) & 255
        for x in range(bpp, line):
            row[x] = (np.int32(raw[x]) + ((np.int32(row[x - bpp]) + above[x]) >> 1)) & 255
    elif kind == 4:  # Paeth
        for x in range(first):
            row[x] = (np.int32(raw[x]) + above[x]) & 255
        # left (a) and above-left (c) carried in registers along the row; signed ints
        # (numba's int() of a uint8 is unsigned, and Paeth subtracts)
        if bpp >= 3:  # RGB(A): the three colour bytes of each pixel, alpha skipped
            red = np.int32(row[0])
            green = np.int32(row[1])
            blue = np.int32(row[2])
            red_c = np.int32(above[0])
            green_c = np.int32(above[1])
            blue_c = np.int32(above[2])
            for x in range(bpp, line, bpp):
                red_b = np.int32(above[x])
                green_b = np.int32(above[x + 1])
                blue_b = np.int32(above[x + 2])
                red = _paeth(np.int32(raw[x]), red, red_b, red_c)
                green = _paeth(np.int32(raw[x + 1]), green, green_b, green_c)
                blue = _paeth(np.int32(raw[x + 2]), blue, blue_b, blue_c)
                row[x] = red
                row[x + 1] = green
                row[x + 2] = blue
                red_c = red_b
                green_c = green_b
                blue_c = blue_b
        else:  # L, LA: the grey byte
            grey = np.int32(row[0])
            grey_c = np.int32(above[0])
            for x in range(bpp, line, bpp):
                grey_b = np.int32(above[x])
                grey = _paeth(np.int32(raw[x]), grey, grey_b, grey_c)
                row[x] = grey
                grey_c = grey_b
    else:
        return False
    return True


@functools.partial(_compiled, fastmath=_REASSOC)
def _colour_pass(
    pixels: np.ndarray, step: int, colour: bool, gray: np.ndarray
) -> tuple[float, float, float, float, float]:
    """Grey levels of all pixels (flat) into gray; sums of red, green, blue, grey, saturation.

    Called with a literal `step` (bytes per pixel) so that the loop vectorises."""
    red_sum = green_sum = blue_sum = gray_sum = saturation_sum = 0.0
    for at in range(gray.size):
        r = np.float32(pixels[at * step])
        g = np.float32(pixels[at * step + 1]) if colour else r
        b = np.float32(pixels[at * step + 2]) if colour else r
        # gray = 0.299 * red + 0.587 * green + 0.114 * blue, in float32 as numpy does it
        level = r * np.float32(0.299) + g * np.float32(0.587)
        level = level + b * np.float32(0.114)
        gray[at] = level
        high = max(r, g, b)
        low = min(r, g, b)
        red_sum += float(r)
        green_sum += float(g)
        blue_sum += float(b)
        gray_sum += float(level)
        saturation_sum += float((high - low) / max(high, np.float32(1.0)))
    return red_sum, green_sum, blue_sum, gray_sum, saturation_sum


@functools.partial(_compiled, fastmath=_REASSOC)
def _statistics(
    pixels: np.ndarray, width: int, channels: int, gray: np.ndarray, out: np.ndarray
) -> None:
    """The 9 statistics of one image (pixels: H x W*channels uint8) into out[0:9]."""
    height = pixels.shape[0]
    count = height * width
    flat = pixels.reshape(count * channels)
    levels = gray.reshape(count)
    if channels == 4:
        sums = _colour_pass(flat, 4, True, levels)
    elif channels == 3:
        sums = _colour_pass(flat, 3, True, levels)
    elif channels == 2:
        sums = _colour_pass(flat, 2, False, levels)
    else:
        sums = _colour_pass(flat, 1, False, levels)
    red_sum, green_sum, blue_sum, gray_sum, saturation_sum = sums
    out[0] = red_sum / count  # (float64 sums of integer levels: exact in any order)
    out[1] = green_sum / count
    out[2] = blue_sum / count
    mean = np.float32(gray_sum / count)
    squares = 0.0
    for at in range(count):
        deviation = levels[at] - mean
        squares += float(deviation * deviation)
    out[3] = math.sqrt(squares / count)
    out[4] = saturation_sum / count

    out[5] = 0.0
    if height >= 3 and width >= 3:
        lap_sum = 0.0
        for y in range(1, height - 1):
            for x in range(1, width - 1):
                lap = gray[y - 1, x] + gray[y + 1, x] + gray[y, x - 1] + gray[y, x + 1]
                lap_sum += float(lap - gray[y, x] * np.float32(4.0))
        lap_count = (height - 2) * (width - 2)
        lap_mean = lap_sum / lap_count
        lap_squares = 0.0
        for y in range(1, height - 1):
            for x in range(1, width - 1):
                lap = gray[y - 1, x] + gray[y + 1, x] + gray[y, x - 1] + gray[y, x + 1]
                deviation = float(lap - gray[y, x] * np.float32(4.0)) - lap_mean
                lap_squares += float(deviation * deviation)
        out[5] = math.log10(1.0 + lap_squares / lap_count)

    half = height // 2
    out[6] = 0.0
    if half:
        top = bottom = 0.0
        cells = half * width
        below = count - cells  # the bottom half starts here
        for at in range(cells):
            top += float(levels[at])
            bottom += float(levels[below + at])
        out[6] = top / cells - bottom / cells

    # |horizontal| and |vertical| gradients: energies, totals, and the part on 8-pixel borders
    energy_x = energy_y = total_x = total_y = border_x = border_y = 0.0
    for y in range(height):
        for x in range(width - 1):
            step = abs(gray[y, x + 1] - gray[y, x])
            energy_x += float(step * step)
            total_x += float(step)
        for x in range(7, width - 1, 8):
            border_x += float(abs(gray[y, x + 1] - gray[y, x]))
    for y in range(height - 1):
        for x in range(width):
            step = abs(gray[y + 1, x] - gray[y, x])
            energy_y += float(step * step)
            total_y += float(step)
    for y in range(7, height - 1, 8):
        for x in range(width):
            border_y += float(abs(gray[y + 1, x] - gray[y, x]))
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


@_compiled
def _png_batch(  # noqa: PLR0917 (numba: positional arguments only)
    rows: np.ndarray, count: int, height: int, width: int, channels: int, out: np.ndarray
) -> bool:
    """Statistics of `count` PNGs whose filtered rows are concatenated in `rows`."""
    line = width * channels
    stride = line + 1
    pixels = np.zeros((height + 1, line), np.uint8)  # row 0: the zeros above the first row
    gray = np.empty((height, width), np.float32)
    for image in range(count):
        start = image * height * stride
        for y in range(height):
            if not _unfilter_row(rows, start + y * stride, channels, pixels, y):
                return False
        _statistics(pixels[1:], width, channels, gray, out[image])
    return True


@_compiled
def _pixel_batch(batch: np.ndarray, out: np.ndarray) -> None:
    """Statistics of B x H x (W*3) RGB pixels."""
    width = batch.shape[2] // 3
    gray = np.empty((batch.shape[1], width), np.float32)
    for image in range(batch.shape[0]):
        _statistics(batch[image], width, 3, gray, out[image])


def png_statistics(
    channels: int, width: int, height: int, images: list[bytes | bytearray]
) -> np.ndarray:
    """B x 9 float32 statistics of same-shaped 8-bit PNGs' filtered rows (from `png_rows`)."""
    rows = np.frombuffer(b"".join(images), np.uint8)
    out = np.empty((len(images), STATISTICS), np.float64)
    if not _png_batch(rows, len(images), height, width, channels, out):
        raise ValueError("PNG filter type outside 0-4")  # png_rows lets none through
    return out.astype(np.float32)


def pixel_statistics(batch: np.ndarray) -> np.ndarray:
    """B x 9 float32 statistics of B x H x W x 3 uint8 RGB images."""
    count, height, width = batch.shape[:3]
    pixels = np.ascontiguousarray(batch, np.uint8).reshape(count, height, width * 3)
    out = np.empty((count, STATISTICS), np.float64)
    _pixel_batch(pixels, out)
    return out.astype(np.float32)
