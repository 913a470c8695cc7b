"""Which geometry turns a non-square photo into the model's square input: crop, letterbox, squash.

    .venv/bin/python -m benchmarks.bench_geometry --model model.tar.gz [--images DIR]

The model trains on square images (CIFAR, 32x32), so the geometry only matters for non-square
photos, which is what phones send. From each square image of DIR (`<label>/*.png`, by default
../shared/data/cifar_bikes/train; use images the model did not train on) the bench makes
phone-like non-square JPEGs (quality 92) of the same scene, upscaled 3x first:

- `wider 4:3` / `wider 16:9` / `taller 3:4`: the camera saw more around the vehicle (the square
  scene extended by mirrored context on the long side): the usual phone photo of a vehicle;
- `cut 4:3`: the photo shows less than the square (the scene cropped to 4:3): a vehicle framed
  edge to edge, so any crop loses part of it.

Each is decoded by `contract.images.decode_upright` and made square three ways: the centred
square crop (what `contract.images.fit_to_model` does), letterbox (whole image, grey bars) and
squash (whole image, stretched); LANCZOS throughout. Printed per case and geometry: accuracy
against the label, the mean absolute change of p_motorcycle against the model's answer on the
original square image, and the mean absolute pixel difference from it (grey levels).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from contract import CLASS_INDEX, IMAGE_SIZE
from contract.cli import CliParser
from contract.images import decode_upright, fit_to_model
from training.predict import Predictor

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar_bikes" / "train"
SCALE = 3  # the square scene is upscaled 3x (96 px) before the photo is cut from it
GREY = (128, 128, 128)


def wider(scene: Image.Image, ratio: float) -> Image.Image:
    """The scene extended by mirrored context to `ratio` (width / height; < 1 = taller)."""
    pixels = np.asarray(scene)
    side = scene.width
    if ratio >= 1:
        extra = round(side * ratio) - side
        pad = ((0, 0), (extra // 2, extra - extra // 2), (0, 0))
    else:
        extra = round(side / ratio) - side
        pad = ((extra // 2, extra - extra // 2), (0, 0), (0, 0))
    return Image.fromarray(np.pad(pixels, pad, mode="symmetric"))


def cut(scene: Image.Image, ratio: float) -> Image.Image:
    """The scene cropped to `ratio` (>= 1): the vehicle fills the photo edge to edge."""
    height = round(scene.width / ratio)
    top = (scene.height - height) // 2
    return scene.crop((0, top, scene.width, top + height))


CASES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "wider 4:3": lambda scene: wider(scene, 4 / 3),
    "wider 16:9": lambda scene: wider(scene, 16 / 9),
    "taller 3:4": lambda scene: wider(scene, 3 / 4),
    "cut 4:3": lambda scene: cut(scene, 4 / 3),
}


def letterbox(image: Image.Image) -> Image.Image:
    return ImageOps.pad(image, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS, color=GREY)


def squash(image: Image.Image) -> Image.Image:
    return image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)


GEOMETRIES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "crop (contract)": fit_to_model,
    "letterbox": letterbox,
    "squash": squash,
}


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def load(folder: Path, limit: int) -> tuple[list[Image.Image], np.ndarray]:
    images, labels = [], []
    for label, index in CLASS_INDEX.items():
        for path in sorted((folder / label).glob("*.png"))[:limit]:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
            labels.append(index)
    if not images:
        raise SystemExit(f"no <label>/*.png images under {folder}")
    return images, np.asarray(labels)


def batch(images: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(image, np.uint8).transpose(2, 0, 1) for image in images])


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=SHARED_IMAGES)
    parser.add_argument("--limit", type=int, default=1000, help="images per class at most")
    args = parser.parse_args(argv)
    predictor = Predictor.from_archive(args.model)
    originals, labels = load(args.images, args.limit)
    square = batch([fit_to_model(image) for image in originals])
    reference = predictor.predict_arrays(square)[:, 1]
    accuracy = float(((reference >= 0.5) == labels).mean())
    print(f"{len(originals)} images; on the original squares: accuracy {accuracy:.3f}")
    print(f"{'case':<12} {'geometry':<16} {'accuracy':>8} {'|dp| mean':>9} {'|dpixel|':>8}")
    for case, make in CASES.items():
        photos = []
        for image in originals:
            scene = image.resize((IMAGE_SIZE * SCALE,) * 2, Image.Resampling.BICUBIC)
            photos.append(decode_upright(jpeg(make(scene)))[1])
        for geometry, fit in GEOMETRIES.items():
            arrays = batch([fit(photo) for photo in photos])
            p_motorcycle = predictor.predict_arrays(arrays)[:, 1]
            accuracy = float(((p_motorcycle >= 0.5) == labels).mean())
            shift = float(np.abs(p_motorcycle - reference).mean())
            pixels = float(np.abs(arrays.astype(np.int16) - square.astype(np.int16)).mean())
            print(f"{case:<12} {geometry:<16} {accuracy:>8.3f} {shift:>9.3f} {pixels:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
