from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from monitoring.baseline import Baseline, build_baseline, discover
from tests.monitoring import synthetic


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 + 300 synthetic training PNGs in `<label>/` folders."""
    return synthetic.write_image_folder(tmp_path_factory.mktemp("images"), 300, seed=1)


def _label_predict(paths):
    """A stand-in model for tests: confident in the folder's label (deterministic)."""
    rng = np.random.default_rng(7)
    out = []
    for path in paths:
        label = int(Path(path).parent.name == "motorcycle")
        confidence = 0.5 + 0.5 * rng.beta(8, 1)
        row = [1 - confidence, 1 - confidence]
        row[label] = confidence
        out.append(row)
    return np.array(out)


@pytest.fixture(scope="session")
def baseline(image_folder: Path) -> Baseline:
    stats, predictions, _ = discover(image_folder)
    built = build_baseline(
        stats,
        predictions,
        _label_predict,
        threshold=synthetic.THRESHOLD,
        model={"sha256": "a" * 64, "path": "model.tar.gz"},
    )
    return Baseline.from_dict(built.to_dict())


@pytest.fixture(scope="session")
def image_only_baseline(image_folder: Path) -> Baseline:
    stats, _, _ = discover(image_folder)
    return Baseline.from_dict(build_baseline(stats).to_dict())


@pytest.fixture
def stage_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, str]]:
    """Sets the drift job's stage settings (what Terraform sets) plus `more`: returns them all."""

    def set_env(endpoint: str, namespace: str, more: dict[str, str]) -> dict[str, str]:
        env = {
            **more,
            "ENDPOINT_NAME": endpoint,
            "STAGE": "test",
            "METRICS_NAMESPACE": namespace,
            "CONFIDENCE_THRESHOLD": str(synthetic.THRESHOLD),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return env

    return set_env
