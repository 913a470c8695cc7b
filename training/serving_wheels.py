"""ONNX Runtime for the serving container, shipped inside the model archive.

The endpoint runs SageMaker's PyTorch inference container with network isolation: it has torch,
numpy and Pillow, and installs `code/requirements.txt` at start-up, but cannot download. So the
archive carries the wheels (`code/wheels/`, locked with hashes in `requirements/serving.txt`
for the container's CPython 3.12 on Linux x86_64) and a requirements file that installs only
from them (`--no-index`; pip reads `--find-links` relative to the requirements file).

    python -m training.serving_wheels fetch [--dest build/serving-wheels]   (needs PyPI)
    python -m training.serving_wheels check [--dest build/serving-wheels]

`scripts/bootstrap.sh` fetches them. Without them (an offline machine that never fetched) the
archive has no requirements file and the endpoint serves TorchScript: slower, the same answers.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contract.cli import CliParser

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = REPO_ROOT / "requirements" / "serving.txt"
WHEELS = REPO_ROOT / "build" / "serving-wheels"
# The SageMaker PyTorch 2.6 inference container (training.launch.PYTORCH_PY_VERSION).
CONTAINER_PYTHON = "3.12"
CONTAINER_PLATFORM = "manylinux_2_28_x86_64"
WHEEL_DIR_IN_CODE = "wheels"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pin:
    """One locked package: its name, version and the sha256 of each of its files on PyPI."""

    name: str
    version: str
    hashes: frozenset[str]

    def matches(self, wheel: Path) -> bool:
        """Whether `wheel` is a file of this pin (name and version in the file name)."""
        parts = wheel.name.split("-")
        return (
            wheel.suffix == ".whl"
            and len(parts) >= 5
            and _normal(parts[0]) == _normal(self.name)
            and parts[1] == self.version
        )


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def locked_pins(lock: Path = LOCK) -> list[Pin]:
    """The pins of a hashed lock file (as `scripts/lock.sh` writes it)."""
    pins: list[Pin] = []
    for line in lock.read_text().splitlines():
        pin = _PIN.match(line.strip())
        if pin:
            pins.append(Pin(pin.group(1), pin.group(2), frozenset()))
        elif pins and _HASH.search(line):
            last = pins[-1]
            pins[-1] = Pin(last.name, last.version, last.hashes | set(_HASH.findall(line)))
    if not pins or any(not pin.hashes for pin in pins):
        raise ValueError(f"{lock}: need pins, each with its --hash=sha256 lines")
    return pins


def fetch(dest: Path = WHEELS, lock: Path = LOCK) -> list[Path]:
    """Download the locked wheels for the container's Python and platform into `dest` (pip
    checks every file against the lock's hashes); return the wheels `code_files` will ship."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--only-binary=:all:", "--require-hashes", "--implementation", "cp"]
    command += ["--python-version", CONTAINER_PYTHON, "--platform", CONTAINER_PLATFORM]
    subprocess.run([*command, "--dest", str(dest), "-r", str(lock)], check=True)
    return shipped_wheels(dest, lock)


def shipped_wheels(dest: Path = WHEELS, lock: Path = LOCK) -> list[Path]:
    """One wheel per pin found in `dest` whose sha256 is the lock's; [] unless every pin has
    one (a partial set would fail the container's install, which is worse than no set)."""
    found = []
    candidates = sorted(dest.glob("*.whl")) if dest.is_dir() else []
    for pin in locked_pins(lock):
        verified = [
            wheel for wheel in candidates if pin.matches(wheel) and _sha256(wheel) in pin.hashes
        ]
        if not verified:
            return []
        found.append(verified[0])
    return found


def requirements_text(wheels: list[Path], lock: Path = LOCK) -> str:
    """`code/requirements.txt`: the pins, installed only from the archive's own wheels."""
    pins = "".join(f"{pin.name}=={pin.version}\n" for pin in locked_pins(lock))
    names = ", ".join(wheel.name for wheel in wheels)
    return (
        "# The serving container's ONNX Runtime (training.serving_wheels): installed from the\n"
        f"# wheels beside this file, never from the network. Wheels: {names}\n"
        f"--no-index\n--find-links {WHEEL_DIR_IN_CODE}\n{pins}"
    )


def archive_files(dest: Path = WHEELS, lock: Path = LOCK) -> list[tuple[str, bytes]]:
    """`requirements.txt` and `wheels/<file>` for the archive's `code/` (paths under code/), or
    [] with a warning when the wheels were never fetched (the endpoint then serves TorchScript)."""
    wheels = shipped_wheels(dest, lock)
    if not wheels:
        logger.warning(
            "no serving wheels in %s (python -m training.serving_wheels fetch): the archive "
            "will serve through TorchScript, not ONNX Runtime",
            dest,
        )
        return []
    files = [("requirements.txt", requirements_text(wheels, lock).encode())]
    return files + [(f"{WHEEL_DIR_IN_CODE}/{wheel.name}", wheel.read_bytes()) for wheel in wheels]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("fetch", "check"))
    parser.add_argument("--dest", type=Path, default=WHEELS, help="the wheel folder")
    args: argparse.Namespace = parser.parse_args(argv)
    wheels = fetch(args.dest) if args.action == "fetch" else shipped_wheels(args.dest)
    if not wheels:
        print(f"{args.dest}: not every wheel of {LOCK.name} is there; run fetch", file=sys.stderr)
        return 1
    size = sum(wheel.stat().st_size for wheel in wheels) / 1e6
    print(f"{len(wheels)} wheels for the serving container ({size:.1f} MB) in {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
