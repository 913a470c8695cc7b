"""The archive carries ONNX Runtime for the network-isolated serving container: the locked
wheels, checked by hash, and a requirements file that installs only from them."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from training import launch, serving_wheels
from training.serving_wheels import Pin, archive_files, locked_pins, shipped_wheels


def test_the_lock_pins_onnx_runtime_and_what_the_container_lacks_with_hashes() -> None:
    pins = {pin.name: pin for pin in locked_pins()}
    assert {"onnxruntime", "flatbuffers", "protobuf", "packaging"} <= set(pins)
    assert "numpy" not in pins  # the container's own numpy serves
    assert all(pin.hashes for pin in pins.values())


def test_bootstrap_fetched_every_locked_wheel_for_the_container() -> None:
    wheels = shipped_wheels()
    assert [w.name.split("-")[0].lower() for w in wheels] == [
        p.name.replace("-", "_") for p in locked_pins()
    ]
    onnxruntime = next(w for w in wheels if w.name.startswith("onnxruntime-"))
    assert "cp312" in onnxruntime.name and "x86_64" in onnxruntime.name


def test_the_archives_requirements_install_from_its_own_wheels_only(
    trained_archive: Path, tmp_path: Path
) -> None:
    """What the container does at start-up, with pip resolving for its Python 3.12 on Linux
    x86_64, from another directory (the relative --find-links is the requirements file's)."""
    with tarfile.open(trained_archive) as tar:
        tar.extractall(tmp_path / "model", filter="data")
    code = tmp_path / "model" / "code"
    requirements = (code / "requirements.txt").read_text()
    assert "--no-index" in requirements
    assert {f"{p.name}=={p.version}" for p in locked_pins()} <= set(requirements.splitlines())
    completed = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet",
            "--disable-pip-version-check", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", serving_wheels.CONTAINER_PYTHON,
            "--platform", serving_wheels.CONTAINER_PLATFORM,
            "--target", str(tmp_path / "site"), "--report", str(tmp_path / "report.json"),
            "-r", str(code / "requirements.txt"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    report = (tmp_path / "report.json").read_text()
    for wheel in sorted((code / serving_wheels.WHEEL_DIR_IN_CODE).iterdir()):
        assert wheel.name in report  # each pin resolved to the archive's own file


def test_a_wheel_that_does_not_match_the_lock_ships_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A tampered or partial set would fail the container's install: no set is shipped, and
    the archive serves TorchScript."""
    for wheel in shipped_wheels():
        shutil.copyfile(wheel, tmp_path / wheel.name)
    assert len(shipped_wheels(tmp_path)) == len(locked_pins())
    onnxruntime = next(tmp_path.glob("onnxruntime-*.whl"))
    data = onnxruntime.read_bytes()
    onnxruntime.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit off
    assert shipped_wheels(tmp_path) == []
    onnxruntime.unlink()
    with caplog.at_level(logging.WARNING, logger="training.serving_wheels"):
        assert archive_files(tmp_path) == []
    assert "serve through TorchScript" in caplog.text
    assert shipped_wheels(tmp_path / "never-fetched") == []


def test_a_lock_without_hashes_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "serving.txt"
    lock.write_text("onnxruntime==1.32.0\n")
    with pytest.raises(ValueError, match="hash"):
        locked_pins(lock)


def test_a_pin_matches_its_own_wheels_only() -> None:
    pin = Pin("onnxruntime", "1.32.0", frozenset({"0" * 64}))
    assert pin.matches(Path("onnxruntime-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl"))
    assert not pin.matches(Path("onnxruntime-1.31.0-cp312-cp312-manylinux_2_28_x86_64.whl"))
    assert not pin.matches(Path("onnxruntime_gpu-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl"))
    assert not pin.matches(Path("onnxruntime-1.32.0.tar.gz"))


def test_the_script_mode_job_stages_the_wheels_for_the_archive_it_writes(tmp_path: Path) -> None:
    staged = launch.stage_script_sources(tmp_path)
    relative = serving_wheels.WHEELS.relative_to(serving_wheels.REPO_ROOT)
    staged_lock = staged / "requirements" / "serving.txt"
    assert staged_lock.read_text() == serving_wheels.LOCK.read_text()
    assert len(shipped_wheels(staged / relative, staged_lock)) == len(locked_pins())


def test_fetch_downloads_the_locked_wheels_checked_by_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fetch` asks pip for the container's Python and platform, hashes required; here pip's
    download is served from the wheels bootstrap already fetched (no network in tests)."""
    calls = []

    def download(command: list[str], check: bool) -> None:
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        for wheel in shipped_wheels():
            shutil.copyfile(wheel, dest / wheel.name)

    monkeypatch.setattr(serving_wheels.subprocess, "run", download)
    assert len(serving_wheels.fetch(tmp_path / "w")) == len(locked_pins())
    (command,) = calls
    assert "--require-hashes" in command and "--no-deps" in command
    assert command[command.index("--python-version") + 1] == "3.12"


def test_the_wheels_need_nothing_but_each_other_and_the_containers_numpy() -> None:
    """The container installs with --no-index: every dependency a shipped wheel declares (for
    Linux, CPython 3.12, no extras) is another shipped wheel, or numpy, which the container has."""
    environment = {"python_version": "3.12", "sys_platform": "linux", "platform_system": "Linux"}
    shipped = {pin.name.lower().replace("_", "-") for pin in locked_pins()}
    needed = set()
    for wheel in shipped_wheels():
        with zipfile.ZipFile(wheel) as archive:
            [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            lines = archive.read(metadata).decode().splitlines()
        for line in lines:
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.split(":", 1)[1].strip())
            marker: Marker | None = requirement.marker
            if marker is None or marker.evaluate(environment | {"extra": ""}):
                needed.add(requirement.name.lower().replace("_", "-"))
    assert "numpy" in needed  # (what the container must bring)
    assert needed - {"numpy"} <= shipped
