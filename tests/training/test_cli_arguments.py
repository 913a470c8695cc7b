"""Command lines as a new user types them: unknown flags and hyperparameters are errors that
name them, values are checked where they are parsed, and a dry run sends nothing."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile import PROPERTY, cli_tokens
from training import launch
from training.hyperparameters import extra_hyperparameters, recipe_from
from training.train import main
from training.trainer import Recipe

KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SETTINGS = [
    "--role-arn", "arn:aws:iam::123456789012:role/vc-training", "--data", "s3://vc-data/staged",
    "--output", "s3://vc-data/models", "--kms-key-arn", KMS, "--region", "us-east-1",
]  # fmt: skip
NO_ARGS = argparse.Namespace()


def test_misspelt_hyperparameter_is_an_error_naming_it(tmp_path: Path, capsys) -> None:
    code = main(["--data", str(tmp_path), "--output", str(tmp_path / "out"), "--epocs", "3"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: unknown hyperparameter(s) epocs;")
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_sagemaker_platform_hyperparameters_are_not_the_recipes_and_pass() -> None:
    hps = {"_tuning_objective_metric": "validation:accuracy", "sagemaker_program": "x", "lr": "0.1"}
    assert recipe_from(NO_ARGS, hps).lr == 0.1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pretrained": "maybe"}, "is not a boolean"),
        ({"lr": "nan"}, "not a finite number"),
        ({"lr": "-0.1"}, "lr > 0"),
        ({"epochs": "three"}, "epochs='three' is not int"),
        ({"widths": "4,x"}, "is not list"),
        ({"validation_fraction": "1"}, "validation_fraction"),
        ({"calibration": "isotonic"}, "stacking or temperature"),
        ({"calibration_splits": "1"}, "calibration_splits"),
        ({"calibration_splits": "-2"}, "calibration_splits"),
    ],
)
def test_hyperparameter_values_are_checked_and_named(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        recipe_from(NO_ARGS, overrides)


def test_hyperparameters_from_the_command_line() -> None:
    assert extra_hyperparameters(["--lr", "0.1", "--tta-hflip=false", "--seed", "-1"]) == {
        "lr": "0.1",
        "tta-hflip": "false",
        "seed": "-1",
    }
    for tokens in (["stray"], ["--lr"], ["--", "1"]):
        with pytest.raises(ValueError):
            extra_hyperparameters(tokens)
    assert recipe_from(NO_ARGS, {"tta-hflip": "false"}).tta_hflip is False
    assert Recipe().tta_hflip is True
    assert recipe_from(NO_ARGS, {"calibration": "stacking"}).calibration == "stacking"


def test_sm_hps_that_is_no_object_is_an_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SM_HPS", "[1, 2]")
    assert main(["--data", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    assert "SM_HPS is not a JSON object" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--on-demand", "--tags", "team=ml"],  # the example: would have gone to spot
        ["--epoch", "3"],  # no abbreviations
        ["--tag", "no-equals-sign"],
        ["--max-jobs", "0"],
        ["--num-training-samples", "many"],
    ],
)
def test_launch_refuses_unknown_flags_and_bad_values(capsys, extra) -> None:
    with pytest.raises(SystemExit) as exit_:
        launch.main(["script", *SETTINGS, *extra, "--dry-run"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and extra[0] in err and "Traceback" not in err


def test_train_cli_refuses_local_flags_for_a_sagemaker_backend(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--backend", "script", *SETTINGS, "--lr", "0.1", "--dry-run"])
    assert exit_.value.code == 2 and "unrecognized arguments: --lr 0.1" in capsys.readouterr().err


@pytest.fixture
def no_aws(monkeypatch, tmp_path: Path) -> None:
    """No credentials anywhere and no emulator: any AWS call would fail."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE", raising=False)


@pytest.mark.parametrize("kind", ["builtin", "script", "tune-builtin", "tune-script"])
def test_dry_run_needs_no_credentials_and_sends_nothing(no_aws, capsys, kind) -> None:
    code = launch.main([kind, *SETTINGS, "--num-training-samples", "900", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    printed = json.loads(out)
    if kind == "script":
        channels = {c["ChannelName"]: c for c in printed["request"]["InputDataConfig"]}
        code_uri = channels["code"]["DataSource"]["S3DataSource"]["S3Uri"]
        assert code_uri == "s3://vc-data/models/script/dry-run-not-uploaded/code"
    assert "SAGEMAKER_VALIDATE_ROLE" not in os.environ  # restored after the dry run


def test_a_request_during_a_dry_run_is_refused(no_aws) -> None:
    settings = launch.resolve_settings(
        launch.build_parser().parse_args(["builtin", *SETTINGS, "--dry-run"])
    )
    session = launch._session(settings)
    with pytest.raises(launch.DryRunCallError, match="sends nothing"):
        session.boto_session.client("s3").list_buckets()


LAUNCH_OPTIONS = [
    "--max-runtime",
    "--max-wait",
    "--tag",
    "--epochs",
    "--max-jobs",
    "--instance-type",
]
RECIPE_NAMES = [f.name for f in fields(Recipe)]


@PROPERTY
@given(cli_tokens(LAUNCH_OPTIONS))
def test_launch_arguments_become_settings_or_a_usage_error(tokens) -> None:
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        try:
            args = launch.build_parser().parse_args(["script", *SETTINGS, *tokens])
        except SystemExit as exit_:
            assert exit_.code == 2 and "error:" in stderr.getvalue()
            return
    try:
        settings = launch.resolve_settings(args)
    except launch.LaunchError:
        return
    assert settings.max_runtime_s >= 60 and all(key for key in settings.tags)
    assert set(tokens) & {"--bogus", "--epocs", "-x", "stray"} == set()


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from([*RECIPE_NAMES, "epocs", "_tuning_objective_metric", "sagemaker_x"]),
        st.sampled_from(["0", "1", "-1", "0.5", "nan", "inf", "true", "maybe", "4,8", "", "x"]),
        max_size=4,
    )
)
def test_hyperparameters_become_a_recipe_or_a_named_error(overrides) -> None:
    try:
        recipe = recipe_from(NO_ARGS, overrides)
    except ValueError as error:
        assert any(name in str(error) for name in [*overrides, "need", "must"])
        return
    assert "epocs" not in overrides
    for field in fields(Recipe):
        value = getattr(recipe, field.name)
        assert not isinstance(value, float) or math.isfinite(value)
    assert recipe.epochs >= 1 and recipe.lr > 0


@pytest.mark.parametrize(
    "content", [b"\x1f\x8b\x08\x00truncated gzip", b"\x1f\x8b" + bytes(range(256))]
)
def test_corrupt_model_archive_is_one_line_error(tmp_path: Path, capsys, content: bytes) -> None:
    from training.predict import main as predict_main  # loads torch

    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(content)
    assert predict_main(["--model", str(archive), str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read model archive") and err.count("\n") == 1
