"""Build the drift job's Lambda artifacts: a code zip and (optionally) a dependencies layer.

    python -m monitoring.package --out build/monitoring [--with-deps]

- `monitoring_lambda.zip`: the `monitoring/` package, the shared module it imports
  (`lambdas/shared/bounded_json.py`) and the `contract/` package (handler
  `monitoring.handler.lambda_handler`, runtime `lambdas.build.RUNTIME`, python3.13), reproducible
  byte for byte through
  `lambdas.build.deterministic_zip` (sorted entries, fixed timestamps and modes), so Terraform's
  `source_code_hash` changes only when the code does.
- `monitoring_deps_layer.zip` (`--with-deps`, needs PyPI): numpy, Pillow, matplotlib, tqdm,
  orjson, pybase64 and deflate as wheels for the runtime's CPython on Amazon Linux 2023
  (glibc 2.34: any manylinux wheel up to manylinux_2_34, see `lambdas.build.LAMBDA_PLATFORMS`)
  under `python/`; the manifest lists the versions pip picked.
  Measured for python3.13: 39 MB zipped, 127 MB unpacked, numpy 2.5.5 (inside Lambda's 250 MB;
  upload through S3 when the zip nears the 50 MB direct-upload limit). boto3 comes with the
  runtime.
  numba is left out on purpose: with numba + llvmlite the layer and code unpack to ~320 MB
  (measured), so the Lambda computes image statistics with Pillow + numpy (same features, ~2x
  the CPU per record); the command / Processing-job route has the compiled path.

Prints a JSON manifest (`path`, `sha256` base64 as Terraform's filebase64sha256, `size`,
`unpacked_size`, `handler`) and writes it to `<out>/manifest.json`; fails when the function and
layer unpack to more than Lambda's 250 MB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from contract import source_files
from contract.cli import CliParser
from lambdas.build import (
    RUNTIME,
    SUPPORTED_RUNTIMES,
    build_failure,
    deterministic_zip,
    pip_layer_entries,
)

PACKAGE_ROOT = Path(__file__).resolve().parent
HANDLER = "monitoring.handler.lambda_handler"
# python-dateutil < 3: the runtime's botocore needs it, and the layer comes first on sys.path.
DEPENDENCIES = (
    "numpy>=1.26",
    "Pillow>=10.3",
    "matplotlib>=3.8",
    "tqdm>=4.66",
    # the fast paths of the per-record parse and PNG inflate (see pyproject.toml)
    "orjson>=3.9",
    "pybase64>=1.3",
    "deflate>=0.7",
    "python-dateutil>=2.8,<3",
)
# Lambda's limit on the unzipped function code plus all its layers.
UNPACKED_LIMIT = 250 * 1024 * 1024
# Not needed at run time and large: test suites and matplotlib's sample data.
_SKIP_PARTS = frozenset({"tests", "sample_data"})


# Modules of the workflow Lambdas' shared code that the drift job imports (bounded JSON parsing).
SHARED_MODULES = (
    "lambdas/__init__.py",
    "lambdas/shared/__init__.py",
    "lambdas/shared/bounded_json.py",
)


def code_entries() -> list[tuple[str, bytes]]:
    """The `monitoring/` package, the shared modules and the `contract` package it imports."""
    own = [
        (f"monitoring/{path.relative_to(PACKAGE_ROOT).as_posix()}", path.read_bytes())
        for path in sorted(PACKAGE_ROOT.rglob("*"))
        if path.is_file() and path.suffix in (".py", ".md") and "__pycache__" not in path.parts
    ]
    shared = [(name, (PACKAGE_ROOT.parent / name).read_bytes()) for name in SHARED_MODULES]
    return sorted(own + shared + source_files())


def dependency_entries(runtime: str = RUNTIME) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    return pip_layer_entries(DEPENDENCIES, runtime=runtime, skip_parts=_SKIP_PARTS)


def _write(path: Path, entries: list[tuple[str, bytes]]) -> dict[str, object]:
    content = deterministic_zip(entries)
    path.write_bytes(content)
    return {
        "path": str(path),
        "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode("ascii"),
        "size": len(content),
        "unpacked_size": sum(len(data) for _, data in entries),
    }


def build(out: Path, with_deps: bool = False, runtime: str = RUNTIME) -> dict[str, object]:
    if runtime not in SUPPORTED_RUNTIMES:
        raise ValueError(f"runtime {runtime!r} is not one of {', '.join(SUPPORTED_RUNTIMES)}")
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {
        "runtime": runtime,
        "function": {
            "handler": HANDLER,
            **_write(out / "monitoring_lambda.zip", code_entries()),
        },
    }
    if with_deps:
        entries, versions = dependency_entries(runtime)
        layer = _write(out / "monitoring_deps_layer.zip", entries)
        manifest["layer"] = {**layer, "packages": versions}
        unpacked = sum(len(data) for _, data in entries + code_entries())
        if unpacked > UNPACKED_LIMIT:
            raise ValueError(f"function + layer unpack to {unpacked:,} bytes > {UNPACKED_LIMIT:,}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Build the drift job's Lambda zip(s).")
    parser.add_argument("--out", type=Path, default=Path("build/monitoring"))
    parser.add_argument("--with-deps", action="store_true", help="also build the deps layer")
    parser.add_argument(
        "--runtime",
        choices=SUPPORTED_RUNTIMES,
        default=RUNTIME,
        help=f"Lambda runtime the layer is built for (default {RUNTIME})",
    )
    args = parser.parse_args(argv)
    try:
        document = json.dumps(build(args.out, args.with_deps, args.runtime), indent=2) + "\n"
        (args.out / "manifest.json").write_text(document)
    except (OSError, subprocess.CalledProcessError) as error:  # --out a file; pip offline
        print(f"error: {build_failure(error)}", file=sys.stderr)
        return 2
    except ValueError as error:  # over Lambda's unpacked limit
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
