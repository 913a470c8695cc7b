"""Every socket connection to a non-loopback address raises `RealNetworkBlocked`.

tests/conftest.py installs the guard before any test runs: a test that would reach a real AWS
endpoint (or anything else outside this machine) fails.
"""

from __future__ import annotations

import ipaddress
import socket


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


def install() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
