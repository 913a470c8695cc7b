"""Time of the whole image preparation path, from the uploaded bytes to the model's input.

    .venv/bin/python -m benchmarks.bench_serving [--repeats 5]

For a 32x32 PNG (a staged CIFAR image from ../shared/data when present, else generated) and
generated phone JPEGs of 12, 24 and 48 MP (`devkit.photos`), per size:

- gate: what serialize_image does with the upload (header checks, decode with JPEG DCT scaling,
  EXIF, colours, crop + LANCZOS to 32x32, PNG encode: `lambdas.shared.images.prepare_upload`);
- endpoint: what the endpoint's `input_fn` does with the prepared PNG the workflow sends it;
- endpoint, upload as is: `input_fn` on the upload itself (a client calling the endpoint
  directly; the same `contract.images` preparation, so the same pixels);
- full decode: Pillow decoding the upload at full size and converting it to RGB, for scale
  (what every step paid before draft mode).

Median wall and CPU milliseconds over the repeats (this machine, whatever else runs on it), and
the upload's and the prepared PNG's sizes. Then the whole path's cost per stage, per month and
per million images (`benchmarks.bench_costs`; `--no-costs` skips it).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PIL import Image

from benchmarks import bench_costs
from contract import DEFAULT_LIMITS
from devkit.photos import phone_jpeg
from lambdas.shared.images import prepare_upload
from training.serving.inference import input_fn

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"


def small_png(folder: Path) -> bytes:
    found = sorted(folder.glob("*/*.png"))[:1]
    if found:
        return found[0].read_bytes()
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def timed(step: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU time is what a busy machine distorts least)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def full_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.convert("RGB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=Path, default=SHARED_IMAGES, help="<label>/*.png")
    parser.add_argument("--no-costs", action="store_true", help="skip the cost per stage")
    args = parser.parse_args(argv)
    uploads = {"32x32 PNG": small_png(args.images)}
    for megapixels in (12, 24, 48):
        uploads[f"{megapixels} MP JPEG"] = phone_jpeg(megapixels, seed=megapixels)
    print(f"{'upload':<12} {'bytes':>10} {'prepared':>8}   median ms: wall / CPU")
    for name, data in uploads.items():
        prepared = prepare_upload(data, DEFAULT_LIMITS).png
        content_type = "image/png" if name.endswith("PNG") else "image/jpeg"
        steps: dict[str, Callable[[], object]] = {
            "gate": partial(prepare_upload, data, DEFAULT_LIMITS),
            "endpoint": partial(input_fn, prepared, "image/png"),
            "endpoint, upload as is": partial(input_fn, data, content_type),
            "full decode (for scale)": partial(full_decode, data),
        }
        print(f"{name:<12} {len(data):>10,} {len(prepared):>8,}")
        for step, run in steps.items():
            wall, cpu = timed(run, args.repeats)
            print(f"  {step:<26} {wall:8.1f} / {cpu:8.1f}")
    if not args.no_costs:
        bench_costs.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
