"""What every artifact of the project must agree on, importable from each of them.

The model archive (`code/contract/`), the Lambda layer (`python/contract/`) and the drift job's
zip (`contract/`) each carry a copy of this package, so the endpoint, the workflow Lambdas,
staging, training and monitoring read one definition instead of keeping their own in step.

This module and `contract.limits` need only the standard library (classify_image and
filter_inferences have no Pillow); `contract.images` needs Pillow.
"""

from __future__ import annotations

from pathlib import Path

from contract.labels import CLASS_INDEX, CLASS_NAMES, IMAGE_SIZE
from contract.limits import CONTENT_TYPES, DEFAULT_LIMITS, ImageLimits

__all__ = [
    "CLASS_INDEX",
    "CLASS_NAMES",
    "CONTENT_TYPES",
    "DEFAULT_LIMITS",
    "IMAGE_SIZE",
    "ImageLimits",
    "source_files",
]


def source_files() -> list[tuple[str, bytes]]:
    """This package as (path under an artifact's import root, content), sorted: what every
    builder copies into its artifact (`contract/__init__.py`, ...)."""
    root = Path(__file__).resolve().parent
    return [(f"contract/{path.name}", path.read_bytes()) for path in sorted(root.glob("*.py"))]
