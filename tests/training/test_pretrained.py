"""The pretrained member: the shipped ImageNet weights in our network, its linear head, and the
errors when the weights are missing or not the expected file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serving.inference import arrays_to_tensor
from serving.network import LITE_VARIANTS, PretrainedLinear, SameConv2d, lite_stages
from tests.training.tiny import write_label_folder
from training import pretrained
from training.dataset import load_folder, stratified_folds


@pytest.fixture(scope="module", params=sorted(LITE_VARIANTS))
def variant(request) -> str:
    return request.param


def test_the_shipped_weights_fill_every_tensor_of_our_network(variant: str) -> None:
    backbone = pretrained.load_backbone(variant)
    raw = torch.load(pretrained.weights_path(variant), map_location="cpu", weights_only=True)
    ours = backbone.state_dict()
    renamed = pretrained.rename(raw, variant)
    assert renamed.keys() == ours.keys()  # load_state_dict(strict) would say so too
    for name, tensor in renamed.items():
        torch.testing.assert_close(ours[name], tensor, rtol=0, atol=0)
    # Every tensor of the checkpoint is used but those of the ImageNet head.
    assert {k.split(".")[0] for k in raw if k.split(".")[0] not in {"_blocks"}} - {
        "_conv_stem", "_bn0"
    } == {"_conv_head", "_bn1", "_fc"}  # fmt: skip
    assert not backbone.training  # its batch-norm statistics are used, never updated


def test_variant_shapes_follow_the_lite_scaling_rules() -> None:
    """Lite2 = width 1.1, depth 1.2, channels to multiples of 8, first/last repeats fixed."""
    assert [s[0] for s in lite_stages("lite2")] == [1, 3, 3, 4, 4, 5, 1]
    assert [s[4] for s in lite_stages("lite2")] == [16, 24, 48, 88, 120, 208, 352]
    assert lite_stages("lite0")[-3:] == [(3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


def test_imagenet_features_tell_a_smooth_image_from_noise(variant: str) -> None:
    model = PretrainedLinear([variant], 64)
    model.backbones[variant] = pretrained.load_backbone(variant)
    rng = np.random.default_rng(0)
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(2, 3, 32, 32).clone()
    noise = torch.from_numpy(rng.uniform(0, 1, size=(2, 3, 32, 32)).astype(np.float32))
    with torch.inference_mode():
        features = model.features(torch.cat([smooth, noise]))
    width = sum(s[4] for s in lite_stages(variant)[-3:])  # the last three stages, pooled
    assert features.shape == (4, width) and torch.isfinite(features).all()
    within = (features[0] - features[1]).norm() + (features[2] - features[3]).norm()
    between = (features[0] - features[2]).norm()
    assert between > within


def test_unknown_backbones_are_refused() -> None:
    with pytest.raises(ValueError, match="backbones"):
        PretrainedLinear(["resnet50"], 64)


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
        pretrained.rename({"_extra.weight": torch.zeros(1)}, "lite0")
    with pytest.raises(pretrained.PretrainedWeightsError, match=r"_blocks\.16\."):
        pretrained.rename({"_blocks.16._bn0.weight": torch.zeros(1)}, "lite0")  # lite0 has 16


def _replace_weights(monkeypatch, variant: str, **changes: str) -> None:
    weights = pretrained.WEIGHTS[variant]
    fields = {"package": weights.package, "name": weights.name, "sha256": weights.sha256}
    replaced = pretrained.WeightsFile(**(fields | changes))
    monkeypatch.setitem(pretrained.WEIGHTS, variant, replaced)


def test_missing_package_is_a_clear_error(monkeypatch) -> None:
    _replace_weights(monkeypatch, "lite2", package="no_such_weights_package")
    with pytest.raises(pretrained.PretrainedWeightsError, match="no-such-weights-package"):
        pretrained.load_backbone("lite2")


def test_weights_with_another_digest_are_refused(monkeypatch) -> None:
    _replace_weights(monkeypatch, "lite0", sha256="0" * 64)
    with pytest.raises(pretrained.PretrainedWeightsError, match="not the expected"):
        pretrained.load_backbone("lite0")


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
        arrays_to_tensor(train.channels_first),
        torch.from_numpy(train.labels),
        backbones=["lite0", "lite2"],
        resolution=64,
        inverse_l2=0.05,
    )
    assert entry["resolution"] == 64 and entry["backbones"] == ["lite0", "lite2"]
    model = PretrainedLinear(entry["backbones"], 64)
    model.load_state_dict(entry["state"])
    model.eval()
    with torch.inference_mode():
        logits = model(arrays_to_tensor(test.channels_first))
    assert float((logits.argmax(1).numpy() == test.labels).mean()) >= 0.9
    # The 2-way head is the binary model: its two logits are opposite.
    torch.testing.assert_close(logits[:, 0], -logits[:, 1])


def _two_blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    features = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    features[:, 0] += 2.0 * labels
    return features, labels


def test_out_of_fold_answers_come_from_heads_that_never_saw_the_image() -> None:
    features, labels = _two_blobs(60, seed=3)
    answers = pretrained.out_of_fold_probabilities(features, labels, 1.0, splits=3, seed=5)
    assert answers.shape == (60, 2) and np.allclose(answers.sum(1), 1.0)
    for held in stratified_folds(labels.numpy(), 3, 5):  # the same split, refitted by hand
        rest = np.setdiff1d(np.arange(60), held)
        w, b = pretrained.logistic_regression(features[rest], labels[rest], 1.0)
        expected = torch.sigmoid(features[held] @ w + b).numpy()
        np.testing.assert_allclose(answers[held, 1], expected, atol=1e-9)
    # In-sample answers are more confident on the images they were fitted on.
    w, b = pretrained.logistic_regression(features, labels, 1.0)
    in_sample = torch.sigmoid(features @ w + b).numpy()
    right = labels.numpy() == 1
    assert np.mean(np.where(right, in_sample, 1 - in_sample)) > np.mean(
        answers[np.arange(60), labels]
    )


def test_out_of_fold_answers_average_the_views_given() -> None:
    features, labels = _two_blobs(40, seed=4)
    shifted = features + 0.5
    both = pretrained.out_of_fold_probabilities(
        features, labels, 1.0, views=[features, shifted], splits=4
    )
    plain = pretrained.out_of_fold_probabilities(features, labels, 1.0, splits=4)
    only_shifted = pretrained.out_of_fold_probabilities(
        features, labels, 1.0, views=[shifted], splits=4
    )
    np.testing.assert_allclose(both, (plain + only_shifted) / 2, atol=1e-12)
