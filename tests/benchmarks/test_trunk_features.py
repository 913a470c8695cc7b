"""The quality benchmark's trunk-feature table answers exactly what the trunks would."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks import trunk_features
from serving.inference import arrays_to_tensor
from serving.network import PretrainedLinear
from training.pretrained import load_backbone


def test_the_table_answers_as_the_trunks_and_unknown_images_still_run_them(
    tmp_path, monkeypatch
) -> None:
    # install() patches the class: let pytest put the real method back afterwards.
    monkeypatch.setattr(PretrainedLinear, "features", PretrainedLinear.features)
    monkeypatch.setattr(trunk_features, "_TABLE", {})
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    table = trunk_features.load_or_compute(tmp_path / "t.npz", images[:3], ["lite0"], 64)
    assert trunk_features.load(tmp_path / "t.npz", 3, ["lite0"], 64) is not None
    assert trunk_features.load(tmp_path / "t.npz", 3, ["lite0"], 96) is None  # another setting
    model = PretrainedLinear(["lite0"], 64)
    model.backbones["lite0"] = load_backbone("lite0")
    model.eval()
    x = arrays_to_tensor(images)
    with torch.inference_mode():
        real = model.features(x).numpy()
        real_mirror = model.features(x.flip(3)).numpy()
    trunk_features.install(images[:3], table, ["lite0"], 64)
    # Poison the table: answers that come from it are now recognisable.
    for row in list(trunk_features._TABLE):
        trunk_features._TABLE[row] = trunk_features._TABLE[row] + 1000.0
    with torch.inference_mode():
        known = model.features(x[:3].contiguous(memory_format=torch.channels_last)).numpy()
        mirrored = model.features(x[:3].flip(3)).numpy()
        mixed = model.features(x).numpy()  # two images the table lacks: the trunks run
    np.testing.assert_allclose(known - 1000.0, real[:3], atol=1e-3)
    np.testing.assert_allclose(mirrored - 1000.0, real_mirror[:3], atol=1e-3)
    np.testing.assert_allclose(mixed, real, atol=1e-5)
