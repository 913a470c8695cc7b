"""The drift job's Lambda zip: built for the supported runtime the workflow uses."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from lambdas import build as workflow_build
from monitoring import package


def test_drift_job_is_built_for_the_workflow_runtime(tmp_path):
    manifest = package.build(tmp_path)
    assert manifest["runtime"] == workflow_build.RUNTIME == "python3.13"
    names = zipfile.ZipFile(tmp_path / "monitoring_lambda.zip").namelist()
    assert "monitoring/handler.py" in names
    assert package.build(tmp_path / "next", runtime="python3.14")["runtime"] == "python3.14"


def test_unsupported_runtime_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"python3\.11. is not one of"):
        package.build(tmp_path / "out", runtime="python3.11")
    assert not (tmp_path / "out").exists()
    result = subprocess.run(
        [sys.executable, "-m", "monitoring.package", "--out", str(tmp_path), "--runtime", "3.11"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr
