"""The label contract shared by every part of the project.

Class index 0 = bicycle, 1 = motorcycle everywhere: the endpoint answers
`[p_bicycle, p_motorcycle]`, the .lst files and manifests use these indices.
"""

from __future__ import annotations

from typing import Final

CLASS_NAMES: Final[tuple[str, ...]] = ("bicycle", "motorcycle")
CLASS_INDEX: Final[dict[str, int]] = {name: index for index, name in enumerate(CLASS_NAMES)}
# CIFAR-100 fine label -> our class index.
CIFAR100_FINE_TO_CLASS: Final[dict[int, int]] = {8: 0, 48: 1}
IMAGE_SIZE: Final[int] = 32
