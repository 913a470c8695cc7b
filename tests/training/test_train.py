"""Training: it learns, writes a complete SageMaker-layout artifact, and never a partial one."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from contract import source_files
from serving.inference import Calibration, arrays_to_tensor, model_from_checkpoint
from tests.artifacts import run_inside
from tests.training.tiny import TINY_RECIPE, write_label_folder, write_staged
from training import model as training_model
from training import pretrained as training_pretrained
from training.dataset import DatasetError, load_folder, load_training_data
from training.decision import choose_threshold
from training.decision_file import read_decision
from training.local_run import run_local
from training.predict import Predictor
from training.train import build_parser, main
from training.trainer import Recipe, fit


def test_training_learns_a_separable_set(trained_archive: Path, staged_dir: Path) -> None:
    test = load_folder(staged_dir / "test")
    probabilities = Predictor.from_archive(trained_archive).predict_arrays(test.channels_first)
    accuracy = float((probabilities.argmax(axis=1) == test.labels).mean())
    assert accuracy >= 0.9
    metrics = json.loads((trained_archive.parent / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= 0.9
    # The loss fell: the first epoch is worse than the last.
    history = metrics["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_archive_has_sagemaker_layout_and_outputs(trained_archive: Path) -> None:
    with tarfile.open(trained_archive) as tar:
        names = tar.getnames()
    assert {"model.pth", "code/inference.py", "code/network.py"} <= set(names)
    assert names[0] == "decision.json"  # first: promotion stops reading once it has it
    assert {name for name, _ in source_files()} == {
        name.removeprefix("code/") for name in names if name.startswith("code/contract/")
    }
    output = trained_archive.parent
    assert (output / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((output / "metrics.json").read_text())
    assert set(metrics["validation"]) >= {"accuracy", "ece", "confusion_matrix", "per_class"}
    assert metrics["test"]["count"] == 20 and metrics["test"]["accuracy"] >= 0.9  # staged test/
    assert not list(output.glob(".train-*")), "temporary directory left behind"
    # The calibration and the threshold, in metrics.json and decision.json alike.
    calibration = metrics["calibration"]
    assert calibration["ece_after"] <= calibration["ece_before"]
    found = read_decision(trained_archive)  # what promotion reads, without torch
    assert found is not None and found.fields == metrics["decision"]
    decision = found.fields
    assert decision["decision_threshold"] == metrics["decision_threshold"]
    assert 0.5 <= decision["decision_threshold"] < 1.0  # promotion needs (0, 1)
    assert decision["format"] == 1 and decision["max_misroute_rate"] == 0.01
    assert decision["validation_images"] == metrics["num_validation"] == 20
    # 20 validation images cannot certify 1% (299 needed): the fallback says so.
    assert decision["certified"] is False and "not certifiable" in decision["method"]
    assert decision["calibration"]["temperature"] == calibration["temperature"]
    assert found.decision_threshold == decision["decision_threshold"] and found.certified is False
    routing = metrics["test"]["routing"]
    assert routing["threshold"] == decision["decision_threshold"]
    assert 0.0 <= routing["coverage"] <= 1.0
    assert "ece_uncalibrated" in metrics["test"]


def test_readme_flow_trains_on_a_folder_staged_without_a_test_split(tmp_path: Path, caplog) -> None:
    """`python -m training.data stage --source FOLDER` leaves test/ empty; training must still
    write the model and say that there was no test split to report."""
    folder = write_label_folder(tmp_path / "photos", per_class=15, seed=11)
    staged = tmp_path / "staged"
    completed = subprocess.run(
        [sys.executable, "-m", "training.data", "stage", "--source", str(folder),
         "--out", str(staged), "--quiet"],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert not list((staged / "test").glob("*/*.png"))  # the premise: an empty test split
    output = tmp_path / "run"
    code = main(
        [
            "--backend", "local", "--data", str(staged), "--output", str(output),
            "--epochs", "1", "--no-progress",
            "--widths", "4,8,8", "--threads", "1", "--pretrained", "false", "--ensemble", "1",
            "--max-misroute-rate", "0.05",
        ]
    )  # fmt: skip
    assert code == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["test"] is None
    assert "no test split to report" in metrics["test_skipped"]
    assert "no test split to report" in caplog.text
    found = read_decision(output / "model.tar.gz")
    assert found is not None and found.fields["max_misroute_rate"] == 0.05
    assert metrics["num_validation"] == 6  # the staged validation split (20 %), not a carve


def test_a_bad_misroute_target_is_a_cli_error(tmp_path: Path, capsys) -> None:
    data = write_label_folder(tmp_path / "data", per_class=3, seed=1)
    code = main(["--data", str(data), "--output", str(tmp_path / "o"), "--max-misroute-rate", "1"])
    assert code == 2
    assert "max_misroute_rate" in capsys.readouterr().err


def test_archive_code_imports_its_own_contract(trained_archive: Path, tmp_path: Path) -> None:
    """As the serving container does: `code/` first on sys.path, the repository nowhere."""
    with tarfile.open(trained_archive) as tar:
        tar.extractall(tmp_path, filter="data")
    probe = (
        "import sys; sys.path[:0] = ['code'];"
        "import inference, contract; print(contract.__file__, inference.CLASS_NAMES)"
    )
    completed = run_inside(tmp_path, probe, "-I")
    assert completed.stdout.startswith(str(tmp_path / "code" / "contract" / "__init__.py"))


def test_cli_carves_validation_from_a_plain_label_folder(tmp_path: Path) -> None:
    data = write_label_folder(tmp_path / "data", per_class=12, seed=3)
    output = tmp_path / "out"
    code = main(
        [
            "--backend", "local", "--data", str(data), "--output", str(output),
            "--epochs", "1", "--seed", "5", "--no-progress",
            "--widths", "4,8,8", "--threads", "1",
        ]
    )  # fmt: skip
    assert code == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["num_validation"] == 2  # 10% of 12 per class, rounded: one each
    assert metrics["num_train"] == 22
    assert metrics["recipe"]["seed"] == 5 and metrics["recipe"]["widths"] == [4, 8, 8]
    assert (output / "model.tar.gz").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root.mkdir(), "no images"),
        (lambda root: write_label_folder(root, 5, seed=0, classes=(0,)), "both classes"),
        (lambda root: (root / "car").mkdir(parents=True), "unknown labels"),
    ],
)
def test_bad_data_fails_cleanly_without_partial_artifacts(tmp_path: Path, make, message) -> None:
    data = tmp_path / "data"
    make(data)
    output = tmp_path / "out"
    with pytest.raises(DatasetError, match=message):
        run_local(data, output, Recipe(**TINY_RECIPE), progress=False)
    assert not output.exists() or not any(output.iterdir())


def test_corrupt_image_is_named_in_the_error(tmp_path: Path) -> None:
    data = write_label_folder(tmp_path / "data", 3, seed=0)
    (data / "bicycle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DatasetError, match=r"broken\.png"):
        load_folder(data)


def test_failure_after_training_leaves_no_archive(tmp_path: Path, monkeypatch) -> None:
    def explode(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(training_model, "write_archive", explode)
    data = write_staged(tmp_path / "staged", 6, seed=2)
    output = tmp_path / "out"
    recipe = Recipe(**{**TINY_RECIPE, "epochs": 1})
    with pytest.raises(OSError, match="disk full"):
        run_local(data, output, recipe, progress=False)
    assert sorted(p.name for p in output.iterdir()) == []


def test_cli_trains_without_the_pretrained_member_when_asked(tmp_path: Path) -> None:
    data = write_label_folder(tmp_path / "data", per_class=6, seed=8)
    output = tmp_path / "out"
    code = main(
        [
            "--data", str(data), "--output", str(output), "--epochs", "1", "--no-progress",
            "--widths", "4,8,8", "--threads", "1", "--pretrained", "false", "--ensemble", "2",
        ]
    )  # fmt: skip
    assert code == 0
    with tarfile.open(output / "model.tar.gz") as tar:
        member = tar.extractfile("model.pth")
        assert member is not None
        checkpoint = torch.load(io.BytesIO(member.read()), weights_only=True)
    assert "pretrained" not in checkpoint and len(checkpoint["members"]) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--pretrained", "false"], "needs pretrained true"),  # the default ensemble is 0
        (["--calibration_splits", "0"], "calibration_splits must be at least 2"),
        (["--ensemble", "-1"], "ensemble >= 0"),
    ],
)
def test_a_recipe_without_a_model_is_a_cli_error(tmp_path: Path, capsys, flags, message) -> None:
    data = write_label_folder(tmp_path / "data", per_class=3, seed=1)
    code = main(["--data", str(data), "--output", str(tmp_path / "o"), *flags])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "model.tar.gz").exists()


def test_the_pretrained_member_alone_is_cross_fitted(tmp_path: Path) -> None:
    """The default: its head sees train and validation; the calibration and the threshold are
    fitted on every image's out-of-fold answer, as served (mirror-averaged)."""
    data = write_staged(tmp_path / "staged", 12, seed=5)
    train, validation = load_training_data(data, None, 0.1, seed=0)
    recipe = Recipe(**{**TINY_RECIPE, "ensemble": 0, "calibration_splits": 3})
    result = fit(train, validation, recipe, progress=False)
    checkpoint = result.checkpoint
    assert checkpoint["members"] == [] and checkpoint["pretrained"] is not None
    assert result.history == []
    labelled = len(train) + len(validation)
    assert result.decision["validation_images"] == labelled
    assert f"{labelled} train + validation images (3 folds)" in result.calibration["fitted_on"]
    assert result.validation["count"] == labelled  # the report is of the held-out answers
    labels, uncalibrated, calibrated = result.held_out
    np.testing.assert_array_equal(labels, np.concatenate([train.labels, validation.labels]))
    # The held-out answers are the out-of-fold ones, not the final head's on its own images.
    model = model_from_checkpoint(checkpoint)
    images = np.concatenate([train.channels_first, validation.channels_first])
    served = model.uncalibrated(arrays_to_tensor(images)).numpy()
    assert not np.allclose(served, uncalibrated, atol=1e-3)
    np.testing.assert_allclose(
        calibrated,
        Calibration.from_checkpoint(checkpoint)(
            {"pretrained": torch.from_numpy(uncalibrated.astype(np.float32))}
        ).numpy(),
        atol=1e-6,
    )
    # The threshold is the recipe's rule on those answers.
    choice = choose_threshold(
        labels, calibrated, recipe.max_misroute_rate, recipe.decision_confidence
    )
    assert result.decision["decision_threshold"] == choice.decision_threshold
    output = tmp_path / "out"
    run_local(data, output, recipe, progress=False)
    assert (output / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_pretrained_weights_are_a_clear_cli_error(tmp_path: Path, monkeypatch, capsys):
    weights = training_pretrained.WEIGHTS["lite0"]
    missing = training_pretrained.WeightsFile(
        "no_such_weights_package", weights.name, weights.sha256
    )
    monkeypatch.setitem(training_pretrained.WEIGHTS, "lite0", missing)
    data = write_label_folder(tmp_path / "data", per_class=6, seed=9)
    code = main(["--data", str(data), "--output", str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    assert "pip install" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.tar.gz").exists()


def test_cli_reports_bad_data_with_exit_code(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    code = main(["--data", str(tmp_path / "data"), "--output", str(tmp_path / "out")])
    assert code == 2
    assert "no images" in capsys.readouterr().err


def test_sagemaker_environment_runs_the_same_entry_point(tmp_path: Path) -> None:
    """As in the PyTorch training container: SM_* variables, hyperparameters in SM_HPS."""
    data = write_staged(tmp_path / "staged", 6, seed=4)
    model_dir, output_dir = tmp_path / "model", tmp_path / "output"
    env = {
        "SM_CHANNEL_TRAIN": str(data / "train"),
        "SM_CHANNEL_VALIDATION": str(data / "validation"),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir),
        "SM_HPS": json.dumps({"epochs": 1, "widths": "4,8,8", "threads": 1}),
        "PATH": "/usr/bin:/bin",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "training.train", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.returncode == 0, completed.stderr
    assert "validation_accuracy=" in completed.stdout  # what the metric definitions parse
    assert (model_dir / "model.pth").is_file()
    assert (model_dir / "code" / "inference.py").is_file()
    # SageMaker tars it as it is: decision.json lands at the archive's root.
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["code", "decision.json", "model.onnx", "model.pth"]
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics["recipe"]["epochs"] == 1
    assert metrics["num_validation"] == 2 * 2  # the validation channel, not a carved part
    assert np.isfinite(metrics["validation"]["accuracy"])


def test_ensemble_members_are_averaged(tmp_path: Path) -> None:
    data = write_staged(tmp_path / "staged", 8, seed=6)
    train, validation = load_training_data(data, None, 0.1, seed=0)
    recipe = Recipe(
        **{**TINY_RECIPE, "epochs": 1, "ensemble": 2, "widths": [4, 8, 8]},
        calibration="stacking",
    )
    result = fit(train, validation, recipe, progress=False)
    checkpoint = result.checkpoint
    # The pretrained member's temperature was fitted on its out-of-fold answers too.
    assert checkpoint["calibration"]["points"] == {
        "pretrained": len(validation) + len(train),
        "scratch": len(validation),
    }
    assert result.decision["calibration"] == checkpoint["calibration"]
    assert len(checkpoint["members"]) == 2
    model = model_from_checkpoint(checkpoint)
    assert model.pretrained is not None
    images = arrays_to_tensor(validation.channels_first)
    views = (images, images.flip(3))
    with torch.inference_mode():
        scratch = [torch.softmax(m(view), dim=1) for m in model.members for view in views]
        pretrained = [torch.softmax(model.pretrained(view), dim=1) for view in views]
    # Each group averages its networks and views; uncalibrated, the groups count half each.
    groups = {
        "scratch": torch.stack(scratch).mean(0),
        "pretrained": torch.stack(pretrained).mean(0),
    }
    expected = (groups["scratch"] + groups["pretrained"]) / 2
    np.testing.assert_allclose(model.uncalibrated(images).numpy(), expected.numpy(), atol=1e-6)
    # Served: the stacking fitted in training, on the groups' log-probabilities.
    calibration = checkpoint["calibration"]
    logits = sum(w * groups[name].double().log() for name, w in calibration["weights"].items())
    calibrated = torch.softmax(logits + torch.tensor(calibration["bias"]), dim=1)
    np.testing.assert_allclose(model(images).numpy(), calibrated.numpy(), atol=1e-5)


def test_members_trained_in_parallel_processes_match_serial_training(tmp_path: Path) -> None:
    """Each member's seed fixes its weights, whichever process trains it."""
    data = write_staged(tmp_path / "staged", 8, seed=7)
    train, validation = load_training_data(data, None, 0.1, seed=0)
    tiny = {
        **TINY_RECIPE, "epochs": 2, "ensemble": 2, "widths": [4, 8, 8], "threads": 1,
        "pretrained": False,
    }  # fmt: skip
    serial = fit(train, validation, Recipe(**tiny, workers=1), progress=False)
    parallel = fit(train, validation, Recipe(**tiny, workers=2), progress=False)
    assert len(parallel.checkpoint["members"]) == 2
    for ours, theirs in zip(
        serial.checkpoint["members"], parallel.checkpoint["members"], strict=True
    ):
        for key, value in ours.items():
            torch.testing.assert_close(theirs[key], value, rtol=0, atol=0)
    # Every member's every epoch is in the history, in order, whichever process reported it.
    assert [(row["model"], row["epoch"]) for row in parallel.history] == [
        (0, 1), (0, 2), (1, 1), (1, 2)
    ]  # fmt: skip
    assert parallel.history == serial.history


def test_help_lists_every_recipe_field_the_cli_accepts() -> None:
    text = " ".join(build_parser().format_help().split())
    for field in fields(Recipe):
        assert f"--{field.name}" in text or f"--{field.name.replace('_', '-')}" in text, field.name
