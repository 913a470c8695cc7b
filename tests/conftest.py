"""Test-wide guards and fixtures.

- Dummy credentials and a dead endpoint are set before any test imports an AWS client, so an
  unconfigured client fails fast instead of reaching AWS.
- Every socket connection to a non-loopback address raises `RealNetworkBlocked`: a test that
  would reach a real AWS endpoint (or anything else outside this machine) fails.
- `emulator` starts moto in server mode on 127.0.0.1 once per test process; `aws` resets it for
  each test that wants a clean account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import emulator as emulator_module
from tests import network_guard

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Before anything creates a client: dummy credentials, no real profile, a dead endpoint.
os.environ.update(emulator_module.aws_env("http://127.0.0.1:9"))
network_guard.install()


@pytest.fixture(scope="session")
def emulator() -> Iterator[emulator_module.Emulator]:
    """The moto server for this test process, with the environment pointing at it."""
    running = emulator_module.start()
    os.environ.update(running.env())
    yield running


@pytest.fixture
def aws(emulator: emulator_module.Emulator) -> Iterator[emulator_module.Emulator]:
    """A freshly reset emulated AWS account."""
    emulator.reset()
    yield emulator


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real CIFAR images and a real capture file); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA
