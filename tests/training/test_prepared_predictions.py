"""The predict CLI, the Python API and the drift baseline's predictions answer on the pixels
that staging makes from the same bytes (the one image preparation), for every kind of image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.contract.cases import INPUTS
from training.baseline import model_predict
from training.data.images import decode_image as staging_decode
from training.predict import main


@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("kinds")
    paths = []
    for index, (name, data) in enumerate(INPUTS.items()):
        path = folder / f"{index:02d}{'.png' if 'PNG' in name else '.jpg'}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_every_prediction_path_sees_the_staged_pixels(
    predictor, trained_archive: Path, image_files: list[Path], capsys
) -> None:
    bodies = list(INPUTS.values())
    staged = np.stack([staging_decode(body).transpose(2, 0, 1) for body in bodies])
    expected = predictor.predict_arrays(staged)
    one_by_one = [predictor.predict_bytes(body, "application/x-image") for body in bodies]
    np.testing.assert_allclose(one_by_one, expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_encoded(bodies), expected, atol=1e-5)
    np.testing.assert_allclose(model_predict(trained_archive)(image_files), expected, atol=1e-5)
    assert main(["--model", str(trained_archive), *map(str, image_files)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose([line["probabilities"] for line in lines], expected, atol=1e-5)
