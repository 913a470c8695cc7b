"""Evaluation math against hand-computed cases (numpy only)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from training.decision import mcnemar_p
from training.decision_file import read_decision
from training.evaluate import (
    classification_report,
    compare,
    confusion_matrix,
    expected_calibration_error,
    main,
)


def test_confusion_matrix_rows_are_true_columns_predicted() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    predicted = np.array([0, 1, 0, 1, 0])
    assert confusion_matrix(labels, predicted).tolist() == [[2, 1], [1, 1]]


def test_report_by_hand() -> None:
    # true:      0    0    0    1    1
    # predicted: 0    1    0    1    0
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.3, 0.7], [0.55, 0.45]])
    report = classification_report(np.array([0, 0, 0, 1, 1]), probabilities)
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["per_class"]["bicycle"] == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "support": 3,
    }
    assert report["per_class"]["motorcycle"]["precision"] == pytest.approx(1 / 2)
    assert report["per_class"]["motorcycle"]["recall"] == pytest.approx(1 / 2)
    expected_log_loss = -np.mean(np.log([0.9, 0.4, 0.8, 0.7, 0.45]))
    assert report["log_loss"] == pytest.approx(expected_log_loss)


def test_ece_by_hand() -> None:
    # Confidences 0.9, 0.6, 0.8, 0.7, 0.55 fall in five different bins of width 1/15 except
    # none share; ECE = mean |correct - confidence| = (0.1 + 0.6 + 0.2 + 0.3 + 0.55) / 5.
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.3, 0.7], [0.55, 0.45]])
    labels = np.array([0, 0, 0, 1, 1])
    expected = (0.1 + 0.6 + 0.2 + 0.3 + 0.55) / 5
    assert expected_calibration_error(labels, probabilities) == pytest.approx(expected)


def test_ece_averages_within_a_bin() -> None:
    # One bin (0.6, 0.667]: confidences 0.62 and 0.64, one right one wrong:
    # |0.5 - 0.63| * 1 = 0.13.
    probabilities = np.array([[0.62, 0.38], [0.64, 0.36]])
    assert expected_calibration_error(np.array([0, 1]), probabilities) == pytest.approx(0.13)


def test_perfectly_calibrated_and_certain_is_zero() -> None:
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(np.array([0, 1]), probabilities) == 0.0


def test_undefined_precision_is_none_not_zero() -> None:
    report = classification_report(np.array([0, 0]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    assert report["per_class"]["motorcycle"] == {"precision": None, "recall": None, "support": 0}
    assert report["accuracy"] == 1.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        classification_report(np.array([0, 1]), np.array([[1.0, 0.0]]))


def test_cli_prints_json_and_writes_the_plot(trained_archive, staged_dir, tmp_path, capsys) -> None:
    plot = tmp_path / "cm.png"
    code = main(["--model", str(trained_archive), "--data", str(staged_dir / "test"),
                 "--plot", str(plot)])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] >= 0.9
    assert sum(map(sum, report["confusion_matrix"])) == report["count"] == 20
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # Routing at the archive's own threshold, and the risk-coverage table and plot.
    decision = read_decision(trained_archive)
    assert decision is not None
    assert report["threshold"] == decision.decision_threshold
    assert report["threshold_source"] == "decision.json"
    assert 0.0 <= report["coverage"] <= 1.0 and "ece" in report
    routed = [row for row in report["risk_coverage"] if row["threshold"] == report["threshold"]]
    assert routed and routed[0]["coverage"] == report["coverage"]
    assert routed[0]["routed_accuracy"] == report["routed_accuracy"]
    risk_plot = trained_archive.parent / "risk_coverage.png"
    assert report["risk_coverage_png"] == str(risk_plot)
    assert risk_plot.read_bytes()[:4] == b"\x89PNG"


def test_cli_threshold_override_and_an_archive_without_decision(
    trained_archive, staged_dir, tmp_path, capsys
) -> None:
    # An archive from before decision.json: no threshold unless one is given.
    old = tmp_path / "old.tar.gz"
    with tarfile.open(trained_archive) as source, tarfile.open(old, "w:gz") as target:
        for member in source.getmembers():
            if member.name != "decision.json":
                target.addfile(member, source.extractfile(member))
    folder = str(staged_dir / "test")
    assert main(["--model", str(old), "--data", folder, "--plot", str(tmp_path / "a.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] is None and report["coverage"] is None
    assert report["decision"] is None and len(report["risk_coverage"]) >= 10
    plots = ["--plot", str(tmp_path / "b.png"), "--risk-plot", str(tmp_path / "r.png")]
    code = main(["--model", str(old), "--data", folder, "--threshold", "0.5", *plots])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    # At 0.5 every image of a two-class model is routed.
    assert report["threshold"] == 0.5 and report["coverage"] == 1.0
    assert report["routed_accuracy"] == report["accuracy"]
    assert report["threshold_source"] == "--threshold"


def test_cli_refuses_an_archive_that_is_not_ours(tmp_path: Path, staged_dir, capsys) -> None:
    bogus = tmp_path / "model.tar.gz"
    bogus.write_bytes(b"nope")
    assert main(["--model", str(bogus), "--data", str(staged_dir / "test")]) == 2
    assert "cannot read model archive" in capsys.readouterr().err


def _answers(correct: list[bool], confidence: list[float], labels: np.ndarray) -> np.ndarray:
    """Two-class probabilities whose top class is right where `correct` says, at `confidence`."""
    top = np.where(correct, labels, 1 - labels)
    answers = np.empty((len(labels), 2))
    answers[np.arange(len(labels)), top] = confidence
    answers[np.arange(len(labels)), 1 - top] = 1 - np.asarray(confidence)
    return answers


def test_compare_counts_fixed_and_broken_answers_and_routes_each_at_its_threshold() -> None:
    labels = np.array([0, 1] * 10)
    old_right = [True] * 14 + [False] * 6
    new_right = [True] * 12 + [False] * 2 + [True] * 6  # fixes the last 6, breaks 2
    old = _answers(old_right, [0.95] * 10 + [0.7] * 10, labels)
    new = _answers(new_right, [0.99] * 12 + [0.6] * 2 + [0.97] * 6, labels)
    result = compare(labels, new, old, (0.9, 0.9))
    assert (result["fixed"], result["broken"]) == (6, 2)
    assert result["accuracy"] == {"candidate": 0.9, "deployed": 0.7}
    # new routes its 18 confident answers, all right; old its 10 at 0.95, all right.
    assert result["routing"]["candidate"]["coverage"] == 0.9
    assert result["routing"]["deployed"]["coverage"] == 0.5
    assert result["verdict"] == "candidate routes as much or more, misrouting no more"
    assert result["mcnemar_p"] == pytest.approx(2 * (1 + 8 + 28) / 256)  # P(X <= 2 | 8, 1/2)
    # Routing less, and misrouting more than both the deployed model and the target.
    assert compare(labels, new, old, (0.999, 0.9))["verdict"] == "candidate routes less"
    wrong = _answers([False] * 2 + [True] * 18, [0.99] * 20, labels)
    assert compare(labels, wrong, old, (0.9, 0.9))["verdict"] == "candidate misroutes more"
    assert compare(labels, new, old, (None, 0.9))["verdict"] == "no threshold to compare routing at"


@pytest.mark.parametrize(
    ("fixed", "broken", "p"),
    [(0, 0, 1.0), (5, 5, 1.0), (10, 0, 2 / 1024), (0, 10, 2 / 1024), (12, 6, 0.2378)],
)
def test_mcnemar_exact_p_values(fixed, broken, p) -> None:
    assert mcnemar_p(fixed, broken) == pytest.approx(p, abs=1e-4)


def test_cli_compares_the_candidate_with_the_deployed_model(
    trained_archive, staged_dir, tmp_path, capsys
) -> None:
    """The README's approval step: the retrained model against the deployed one."""
    folder = str(staged_dir / "test")
    plots = ["--plot", str(tmp_path / "cm.png"), "--risk-plot", str(tmp_path / "rc.png")]
    code = main(["--model", str(trained_archive), "--data", folder, *plots,
                 "--against", str(trained_archive)])  # fmt: skip
    assert code == 0
    comparison = json.loads(capsys.readouterr().out)["comparison"]
    # A model against itself: nothing fixed or broken, the same routing, p = 1.
    assert (comparison["fixed"], comparison["broken"], comparison["mcnemar_p"]) == (0, 0, 1.0)
    routing = comparison["routing"]
    assert routing["candidate"] == routing["deployed"] and comparison["images"] == 20
    assert comparison["verdict"] == "candidate routes as much or more, misrouting no more"
    missing = ["--against", str(tmp_path / "absent.tar.gz")]
    assert main(["--model", str(trained_archive), "--data", folder, *plots, *missing]) == 2
    assert "absent.tar.gz" in capsys.readouterr().err
