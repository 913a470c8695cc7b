"""The pretrained member: the shipped ImageNet weights in our network, its linear head, and the
errors when the weights are missing or not the expected file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.training.conftest import write_label_folder
from training import pretrained
from training.dataset import load_folder
from training.serving.inference import arrays_to_tensor
from training.serving.network import LITE0_FEATURES, PretrainedLinear, SameConv2d


@pytest.fixture(scope="module")
def backbone():
    return pretrained.load_backbone()


def test_the_shipped_weights_fill_every_tensor_of_our_network(backbone) -> None:
    raw = torch.load(pretrained.weights_path(), map_location="cpu", weights_only=True)
    ours = backbone.state_dict()
    renamed = pretrained.rename(raw)
    assert renamed.keys() == ours.keys()  # load_state_dict(strict) would say so too
    for name, tensor in renamed.items():
        torch.testing.assert_close(ours[name], tensor, rtol=0, atol=0)
    assert not backbone.training  # its batch-norm statistics are used, never updated


def test_imagenet_features_tell_real_photos_apart_from_noise(backbone) -> None:
    """Pretrained features of a smooth image and of pixel noise are far apart; random weights'
    are not a meaningful check, so compare with a freshly initialised network too."""
    model = PretrainedLinear(64)
    model.backbone = backbone
    rng = np.random.default_rng(0)
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(2, 3, 32, 32).clone()
    noise = torch.from_numpy(rng.uniform(0, 1, size=(2, 3, 32, 32)).astype(np.float32))
    with torch.inference_mode():
        features = model.features(torch.cat([smooth, noise]))
    assert features.shape == (4, LITE0_FEATURES)
    assert torch.isfinite(features).all() and (features >= 0).all()  # after ReLU6 and pooling
    assert (features <= 6).all()
    within = (features[0] - features[1]).norm() + (features[2] - features[3]).norm()
    between = (features[0] - features[2]).norm()
    assert between > within


def test_strided_convolutions_pad_like_tensorflow_same() -> None:
    """ "SAME" at stride 2 pads the bottom/right only (3x3) or 1 before and 2 after (5x5)."""
    ones = torch.ones(1, 1, 4, 4)
    conv3 = SameConv2d(1, 1, 3, stride=2)
    torch.nn.init.ones_(conv3.weight)
    with torch.no_grad():
        out = conv3(ones)
    # Windows start at rows/cols 0 and 2; the second one reaches the padded row/col 4.
    assert out[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]
    conv5 = SameConv2d(1, 1, 5, stride=2)
    torch.nn.init.ones_(conv5.weight)
    with torch.no_grad():
        out = conv5(ones)
    # Padding 1 before and 2 after: windows cover rows -1..3 (4 real) and 1..5 (3 real).
    assert out[0, 0].tolist() == [[16.0, 12.0], [12.0, 9.0]]


def test_an_unknown_tensor_in_the_weights_is_refused() -> None:
    with pytest.raises(pretrained.PretrainedWeightsError, match=r"_extra\.weight"):
        pretrained.rename({"_extra.weight": torch.zeros(1)})


def test_missing_package_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(pretrained, "PACKAGE", "no_such_weights_package")
    with pytest.raises(pretrained.PretrainedWeightsError, match="no-such-weights-package"):
        pretrained.load_backbone()


def test_weights_with_another_digest_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(pretrained, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(pretrained.PretrainedWeightsError, match="not the expected"):
        pretrained.load_backbone()


def _objective_gradient(features, labels, w, b, inverse_l2):
    """Gradient of C * sum(log-loss) + |w|^2 / 2 in standardised coordinates."""
    mean = features.mean(0)
    scale = features.std(0, unbiased=False)
    z = ((features - mean) / scale).requires_grad_(False)
    wz = (w * scale).clone().requires_grad_(True)
    bz = (b + (w * mean).sum()).clone().requires_grad_(True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        z @ wz + bz, labels.double(), reduction="sum"
    )
    (inverse_l2 * loss + wz.square().sum() / 2).backward()
    return wz.grad, bz.grad


@pytest.mark.parametrize("inverse_l2", [0.01, 1.0])
def test_logistic_regression_reaches_the_optimum(inverse_l2: float) -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (120,), generator=generator)
    # Scaled and shifted columns: the standardisation must be folded back correctly.
    features = torch.randn(120, 6, generator=generator, dtype=torch.float64)
    features[:, 0] += 1.5 * labels
    features = features * torch.tensor([1.0, 10.0, 0.1, 3.0, 1.0, 50.0]) + 7
    w, b = pretrained.logistic_regression(features, labels, inverse_l2)
    grad_w, grad_b = _objective_gradient(features, labels, w, b, inverse_l2)
    assert grad_w.abs().max() < 1e-5 and abs(float(grad_b)) < 1e-5
    assert w[0] > 0  # the informative column points to class 1
    accuracy = float((((features @ w + b) > 0).long() == labels).float().mean())
    assert accuracy > 0.7


def test_the_pretrained_member_alone_learns_a_separable_set(tmp_path) -> None:
    train = load_folder(write_label_folder(tmp_path / "train", 16, seed=11))
    test = load_folder(write_label_folder(tmp_path / "test", 10, seed=12))
    entry = pretrained.fit_pretrained_member(
        arrays_to_tensor(train.images), torch.from_numpy(train.labels), 64, 0.01
    )
    assert entry["resolution"] == 64
    model = PretrainedLinear(64)
    model.load_state_dict(entry["state"])
    model.eval()
    with torch.inference_mode():
        logits = model(arrays_to_tensor(test.images))
    assert float((logits.argmax(1).numpy() == test.labels).mean()) >= 0.9
    # The 2-way head is the binary model: its two logits are opposite.
    torch.testing.assert_close(logits[:, 0], -logits[:, 1])
