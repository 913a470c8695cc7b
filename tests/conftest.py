"""Test-wide guards and fixtures.

- Dummy credentials and a dead endpoint are set before any test imports an AWS client, so an
  unconfigured client fails fast instead of reaching AWS.
- Every socket connection to a non-loopback address raises `RealNetworkBlocked`: a test that
  would reach a real AWS endpoint (or anything else outside this machine) fails.
- `emulator` starts moto in server mode on 127.0.0.1 once per test process; `aws` resets it for
  each test that wants a clean account.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import emulator as emulator_module

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Before anything creates a client: dummy credentials, no real profile, a dead endpoint.
os.environ.update(emulator_module.aws_env("http://127.0.0.1:9"))


class RealNetworkBlocked(RuntimeError):
    """A test tried to open a connection to an address outside this machine."""


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like
    host = str(address[0])
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise RealNetworkBlocked(f"tests must not reach {address!r}: use the emulator")
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise RealNetworkBlocked(f"tests must not reach {address!r}: use the emulator")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


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


def endpoint_bodies(endpoint: str) -> list[bytes]:
    """The request bodies the emulated endpoint has answered (moto memoises them)."""
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    return [
        base64.b64decode(json.loads(base64.b64decode(key))["Body"])
        for regions in sagemakerruntime_backends.values()
        for backend in regions.values()
        for key in backend.results.get(endpoint, {})
    ]
