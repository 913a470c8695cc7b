"""The labels as training sees them: the contract's classes, and where CIFAR-100 keeps them.

Class names, indices and the image size are defined once in `contract` (shipped inside every
artifact); they are re-exported here for the training code.
"""

from __future__ import annotations

from typing import Final

from contract import CLASS_INDEX, CLASS_NAMES, IMAGE_SIZE

__all__ = ["CIFAR100_FINE_TO_CLASS", "CLASS_INDEX", "CLASS_NAMES", "IMAGE_SIZE"]

# CIFAR-100 fine label -> our class index.
CIFAR100_FINE_TO_CLASS: Final[dict[int, int]] = {8: 0, 48: 1}
