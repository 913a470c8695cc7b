"""Start the AWS emulator (moto in server mode) on 127.0.0.1 with a free port and dummy credentials.

Used by the pytest fixtures and by the local stage (`python -m devkit.emulator`). Emulator-side
glue for gaps in moto lives in `devkit/moto_patches/`, one module per area, each applied here
when the server starts; nothing else in the project patches moto.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pkgutil
import signal
import socket
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from contract.cli import CliParser
from devkit import moto_patches

DEFAULT_REGION = "us-east-1"
DUMMY_ACCOUNT_ID = "123456789012"
# moto's default account; credentials are dummies that no real AWS account accepts.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Settings moto reads from its HTTP config API before resources are created.
EMULATOR_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


class EmulatorError(RuntimeError):
    """The emulator cannot start here (its port is taken, or not a port)."""


def check_port_free(port: int) -> None:
    """EmulatorError now, instead of a server thread that dies while the caller waits forever."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise EmulatorError(f"port {port} on 127.0.0.1 is not free: {error.strerror}") from None


def free_port() -> int:
    """Ask the kernel for an unused TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aws_env(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Environment variables that point every AWS SDK and CLI at the emulator."""
    return {
        **DUMMY_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL": endpoint_url,
        # Never pick up a real profile or instance role by accident.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def apply_patches() -> list[str]:
    """Import every module in devkit.moto_patches and call its `apply()`; return their names."""
    applied = []
    for info in sorted(pkgutil.iter_modules(moto_patches.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"devkit.moto_patches.{info.name}")
        apply = getattr(module, "apply", None)
        if callable(apply):
            apply()
            applied.append(info.name)
    return applied


@dataclass
class Emulator:
    """A running moto server in a background thread of this process."""

    endpoint_url: str
    port: int
    region: str = DEFAULT_REGION

    def env(self) -> dict[str, str]:
        return aws_env(self.endpoint_url, self.region)

    def post(self, path: str, payload: object) -> bytes:
        """POST JSON to one of moto's control APIs (`/moto-api/...`)."""
        request = urllib.request.Request(  # noqa: S310 - loopback URL built here
            f"{self.endpoint_url}{path}",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return bytes(response.read())

    def reset(self) -> None:
        """Drop every emulated resource (and re-apply the config), for test isolation."""
        self.post("/moto-api/reset", {})
        self.configure()

    def configure(self) -> None:
        self.post("/moto-api/config", EMULATOR_CONFIG)

    def set_sagemaker_results(self, results: list[dict[str, object]], region: str = "") -> None:
        """Queue canned InvokeEndpoint answers (moto memoises them by request body)."""
        payload = {
            "results": results,
            "region": region or self.region,
        }
        self.post("/moto-api/static/sagemaker/endpoint-results", payload)


_lock = threading.Lock()
_running: Emulator | None = None


def start(port: int = 0, region: str = DEFAULT_REGION) -> Emulator:
    """Start (once per process) the emulator and return it; later calls return the same one."""
    global _running
    with _lock:
        if _running is not None:
            return _running
        if port:
            check_port_free(port)
        port = port or free_port()
        # moto's Step Functions interpreter calls Lambda through this port.
        os.environ["MOTO_PORT"] = str(port)
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        for key, value in DUMMY_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        from moto.server import ThreadedMotoServer

        apply_patches()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        emulator = Emulator(endpoint_url=f"http://127.0.0.1:{port}", port=port, region=region)
        emulator.configure()
        _running = emulator
        return emulator


@contextlib.contextmanager
def running(port: int = 0) -> Iterator[Emulator]:
    yield start(port)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535; 0: any free one)")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Run the local AWS emulator (moto server).")
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument(
        "--env-file",
        type=Path,
        help="write the AWS_* variables for the emulator to this file (shell `export` lines)",
    )
    args = parser.parse_args(argv)
    try:
        if args.env_file:  # (a fresh clone has no .local/ yet)
            args.env_file.parent.mkdir(parents=True, exist_ok=True)
        emulator = start(args.port)
        lines = [f"export {key}={value}" for key, value in sorted(emulator.env().items())]
        if args.env_file:
            args.env_file.write_text("\n".join(lines) + "\n")
    except (EmulatorError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"emulator listening on {emulator.endpoint_url}", flush=True)
    print("\n".join(lines), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
