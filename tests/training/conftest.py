"""A generated staged data set and one tiny trained model per test session (tests/training/tiny.py
makes the images)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.tiny import TINY_RECIPE, write_staged
from training.local_run import run_local
from training.trainer import Recipe


@pytest.fixture(scope="session")
def staged_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_staged(tmp_path_factory.mktemp("staged"), per_class=40, seed=1)


@pytest.fixture(scope="session")
def trained_archive(tmp_path_factory: pytest.TempPathFactory, staged_dir: Path) -> Path:
    """Train the tiny recipe once per session; return its model.tar.gz."""
    output = tmp_path_factory.mktemp("trained")
    run_local(staged_dir, output, Recipe(**TINY_RECIPE), progress=False)
    return output / "model.tar.gz"


@pytest.fixture(scope="session")
def predictor(trained_archive: Path):
    from training.predict import Predictor

    return Predictor.from_archive(trained_archive)
