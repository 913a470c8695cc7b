"""Run Terraform so that `init` works both online (the registry) and offline (a provider mirror).

Online, init uses the registry as usual. When the registry cannot be reached and a filesystem
mirror holding hashicorp/aws exists, init passes `-plugin-dir=<mirror>`. Nothing is written to the
user's home configuration: the choice is made per command line.

    python -m devkit.terraform -chdir=terraform/stages/dev init
    python -m devkit.terraform -chdir=terraform/stages/dev validate
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

REGISTRY_HOST = "registry.terraform.io"
PROVIDER_SUBPATH = Path("registry.terraform.io/hashicorp/aws")
# Where Terraform's implied local mirrors and common preinstalled mirrors live.
CANDIDATE_MIRRORS = (
    "/opt/tf-plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
)


class TerraformError(RuntimeError):
    """Terraform is missing or a Terraform command failed."""


def os_arch() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{platform.system().lower()}_{arch}"


def find_mirror(candidates: Iterable[str] | None = None) -> Path | None:
    """The first plugin directory that holds hashicorp/aws for this platform, if any.

    TF_PROVIDER_MIRROR, when set, is the only candidate.
    """
    override = os.environ.get("TF_PROVIDER_MIRROR")
    paths = [override] if override else list(candidates or CANDIDATE_MIRRORS)
    for raw in paths:
        root = Path(raw).expanduser()
        provider_dir = root / PROVIDER_SUBPATH
        if provider_dir.is_dir() and any(
            provider_dir.glob(f"*/{os_arch()}/terraform-provider-aws*")
        ):
            return root
    return None


def registry_reachable(host: str = REGISTRY_HOST, timeout: float = 3.0) -> bool:
    """True when a TCP connection to the registry's HTTPS port opens within `timeout`."""
    if os.environ.get("TF_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def terraform_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CHECKPOINT_DISABLE", "1")  # no version phone-home
    env.setdefault("TF_IN_AUTOMATION", "1")
    env.update(extra or {})
    return env


def init_args(
    args: Sequence[str], online: bool | None = None, mirror: Path | None = None
) -> list[str]:
    """Add `-plugin-dir` to an init command line when offline and a mirror exists."""
    args = list(args)
    if "init" not in args or any(a.startswith("-plugin-dir") for a in args):
        return args
    if online is None:
        online = registry_reachable()
    if online:
        return args
    mirror = mirror or find_mirror()
    if mirror is None:
        raise TerraformError(
            f"{REGISTRY_HOST} is unreachable and no provider mirror was found "
            f"(looked in {', '.join(CANDIDATE_MIRRORS)}; set TF_PROVIDER_MIRROR)"
        )
    position = args.index("init") + 1
    return [*args[:position], f"-plugin-dir={mirror}", *args[position:]]


def terraform_binary() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        raise TerraformError("terraform is not on PATH; install Terraform ~> 1.11")
    return binary


def run(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    check: bool = True,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run terraform with `args` (init made offline-capable). Raise TerraformError on failure."""
    command = [terraform_binary(), *init_args(args)]
    result = subprocess.run(
        command,
        env=terraform_env(env),
        text=True,
        capture_output=capture,
        check=False,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or "")[-4000:] if capture else ""
        raise TerraformError(f"terraform {' '.join(args)} failed ({result.returncode}) {detail}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return run(args, check=False).returncode
    except TerraformError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
