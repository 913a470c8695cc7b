"""Classes and the model's input size.

Class index 0 = bicycle, 1 = motorcycle everywhere: the endpoint answers
`[p_bicycle, p_motorcycle]`; the .lst files, manifests and the drift baseline use these indices.
"""

from __future__ import annotations

from typing import Final

CLASS_NAMES: Final[tuple[str, ...]] = ("bicycle", "motorcycle")
CLASS_INDEX: Final[dict[str, int]] = {name: index for index, name in enumerate(CLASS_NAMES)}
# The model reads IMAGE_SIZE x IMAGE_SIZE RGB pixels (what contract.images.prepare_image makes).
IMAGE_SIZE: Final[int] = 32
