"""Build every Lambda package of the system: one small zip per function, one manifest.

    python -m lambdas.build --out build/lambda [--with-pillow [--with-heif]] [--with-drift-deps]

Six functions: the five of the inference workflow (`lambdas/<name>/`, sharing the `shared_layer`
with `lambdas.shared` and `contract`) and the hourly drift job (`drift_job`: the `monitoring/`
runtime with `lambdas.shared` and `contract` inside its zip, so it needs no layer of ours but
its dependencies). Zips are reproducible (entries sorted, timestamps 1980-01-01, permissions
0644, fixed compression), so a rebuild of the same source is byte-identical and Terraform's
`source_code_hash` only changes when code does. A JSON manifest goes to stdout and to
`<out>/manifest.json`: every artifact with its path, base64 sha256, sizes, and for a function its
handler, runtime and layers. Nothing from the AWS SDK is vendored: boto3 is in the Lambda runtime
and Powertools comes from the public Powertools layer. Optional layers (pip wheels for the
Lambda platform, need PyPI): `--with-pillow` (Pillow, serialize_image only); `--with-heif`
(opt-in: GPLv2 wheels, ~27 MB unpacked) adds pillow-heif to it, so the gate accepts HEIC (the
manifest's `"heic": true`); `--with-drift-deps` (numpy, Pillow, matplotlib, ..., the drift job).
A function and its layers must unpack within Lambda's 250 MB, or the build fails.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from contract import source_files
from contract.cli import CliParser

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
# The inference workflow's functions (lambdas/<name>/handler.py).
FUNCTIONS = (
    "serialize_image",
    "classify_image",
    "filter_inferences",
    "record_label",
    "start_workflow",
)
# The hourly drift job (monitoring/handler.py).
DRIFT_JOB = "drift_job"
SHARED_LAYER = "shared_layer"
PILLOW_LAYER = "pillow_layer"
DRIFT_DEPS_LAYER = "drift_deps_layer"
# The layers each function runs with, when the build has them (every other workflow function:
# the shared layer only). The public Powertools layer comes on top, from Terraform.
FUNCTION_LAYERS = {
    "serialize_image": (SHARED_LAYER, PILLOW_LAYER),
    DRIFT_JOB: (DRIFT_DEPS_LAYER,),
}
# What the drift job needs besides boto3 (in the runtime). python-dateutil < 3: the runtime's
# botocore needs it, and the layer comes first on sys.path. numba is left out on purpose: with
# numba + llvmlite the function unpacks to ~320 MB (measured), so the Lambda computes image
# statistics with Pillow + numpy (same features, ~2x the CPU per record).
DRIFT_DEPENDENCIES = (
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
# Not needed at run time and large: test suites and matplotlib's sample data.
_DRIFT_DEPS_SKIP = frozenset({"tests", "sample_data"})
# Lambda's limit on a function's unzipped code plus all its layers.
UNPACKED_LIMIT = 250 * 1024 * 1024
# The Lambda runtime the zips and layers are built for (the Terraform variable `lambda_runtime`
# must name the same one; the manifest carries it). python3.13 and python3.14 run on Amazon
# Linux 2023 with AWS standard support to 2029-06-30; see README "Lambda runtime".
RUNTIME = "python3.13"
SUPPORTED_RUNTIMES = ("python3.13", "python3.14")
# Amazon Linux 2023 ships glibc 2.34: every manylinux wheel up to that tag runs there. pip matches
# platform tags exactly, so all of them are named (manylinux2014 is manylinux_2_17).
AL2023_GLIBC_MINOR = 34
LAMBDA_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(AL2023_GLIBC_MINOR, 16, -1)),
    "manylinux2014_x86_64",
)
# Pinned so the layer is reproducible; the release the repo's own tests run with.
PILLOW_LAYER_VERSION = "13.0.0"
# pillow-heif (libheif + x265, GPLv2 wheels): only with --with-heif; pinned like Pillow.
PILLOW_HEIF_LAYER_VERSION = "1.9.0"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str  # "function" or "layer"
    path: str
    sha256: str  # base64, as Terraform's filebase64sha256() / source_code_hash
    size: int
    unpacked_size: int
    handler: str | None = None
    layers: tuple[str, ...] = ()  # a function's layers in this build
    packages: dict[str, str] = field(default_factory=dict)  # a pip layer's versions


def handler_of(function: str) -> str:
    if function == DRIFT_JOB:
        return "monitoring.handler.handler"
    return f"lambdas.{function}.handler.handler"


def _sources(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.rglob("*.py")
        if "__pycache__" not in path.parts and path.is_file()
    )


def deterministic_zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of (archive name, content) pairs whose bytes depend on nothing but the inputs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = _FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode bits are honoured everywhere
            archive.writestr(info, content, compresslevel=9)
    return buffer.getvalue()


def _package(directory: Path, prefix: str = "") -> list[tuple[str, bytes]]:
    """The package's sources named by their path from the repository root, under `prefix`."""
    return [
        (f"{prefix}{path.relative_to(REPO_ROOT).as_posix()}", path.read_bytes())
        for path in _sources(directory)
    ]


def function_entries(function: str) -> list[tuple[str, bytes]]:
    """A workflow function: only its own package; `lambdas` stays a namespace package (no
    __init__.py), so `lambdas.shared` is found in the layer under /opt/python. The drift job:
    `monitoring/` with `lambdas.shared` and `contract` beside it (it runs without our layer)."""
    if function == DRIFT_JOB:
        return (
            _package(REPO_ROOT / "monitoring") + _package(PACKAGE_ROOT / "shared") + source_files()
        )
    return _package(PACKAGE_ROOT / function)


def shared_layer_entries() -> list[tuple[str, bytes]]:
    """`lambdas.shared` and the `contract` package (class names, image limits and the one image
    preparation) under `python/`, importable by every workflow function."""
    shared = _package(PACKAGE_ROOT / "shared", "python/")
    return shared + [(f"python/{name}", content) for name, content in source_files()]


def python_version(runtime: str) -> str:
    """`python3.13` -> `3.13`; a clear error for anything the build does not target."""
    if runtime not in SUPPORTED_RUNTIMES:
        raise ValueError(f"runtime {runtime!r} is not one of {', '.join(SUPPORTED_RUNTIMES)}")
    return runtime.removeprefix("python")


def pip_layer_entries(
    requirements: Sequence[str],
    *,
    runtime: str = RUNTIME,
    no_deps: bool = False,
    skip_parts: frozenset[str] = frozenset(),
) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """Wheels for the Lambda `runtime` (x86_64, Amazon Linux 2023) as layer entries `python/...`.

    Returns the entries and the installed versions (from the .dist-info folders). Files with a
    path part in `skip_parts` (besides __pycache__) are left out.
    """
    skip = {"__pycache__", *skip_parts}
    with tempfile.TemporaryDirectory() as target:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                *(["--no-deps"] if no_deps else []),
                "--only-binary=:all:",
                *(f"--platform={platform}" for platform in LAMBDA_PLATFORMS),
                f"--python-version={python_version(runtime)}",
                "--implementation=cp",
                f"--target={target}",
                *requirements,
            ],
            check=True,
        )
        root = Path(target)
        versions: dict[str, str] = {}
        for info in sorted(root.glob("*.dist-info")):
            name, _, release = info.name.removesuffix(".dist-info").partition("-")
            versions[name] = release
        entries = [
            (f"python/{path.relative_to(root).as_posix()}", path.read_bytes())
            for path in sorted(root.rglob("*"))
            if path.is_file() and not skip & set(path.relative_to(root).parts)
        ]
        return entries, versions


def pillow_layer_entries(
    runtime: str = RUNTIME, with_heif: bool = False
) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """Pillow (and with `with_heif` pillow-heif) for the Lambda `runtime` (x86_64), `python/...`,
    and the versions installed (the manifest lists them, as for the drift job's layer)."""
    wheels = [f"Pillow=={PILLOW_LAYER_VERSION}"]
    if with_heif:
        wheels.append(f"pillow-heif=={PILLOW_HEIF_LAYER_VERSION}")
    return pip_layer_entries(wheels, runtime=runtime, no_deps=True)


def drift_deps_layer_entries(
    runtime: str = RUNTIME,
) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """The drift job's dependencies (with theirs) for the Lambda `runtime`, `python/...`."""
    return pip_layer_entries(DRIFT_DEPENDENCIES, runtime=runtime, skip_parts=_DRIFT_DEPS_SKIP)


def write(
    out: Path,
    name: str,
    entries: list[tuple[str, bytes]],
    *,
    handler: str | None = None,
    layers: tuple[str, ...] = (),
    packages: dict[str, str] | None = None,
) -> Artifact:
    """`<out>/<name>.zip`: a function when it has a handler, else a layer."""
    content = deterministic_zip(entries)
    path = out / f"{name}.zip"
    path.write_bytes(content)
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")
    return Artifact(
        name,
        "layer" if handler is None else "function",
        str(path),
        digest,
        len(content),
        sum(len(data) for _, data in entries),
        handler,
        layers,
        packages or {},
    )


def build(
    out: Path,
    with_pillow: bool = False,
    runtime: str = RUNTIME,
    with_heif: bool = False,
    with_drift_deps: bool = False,
) -> list[Artifact]:
    """Every function and the layers asked for; ValueError when a function and its layers
    unpack to more than Lambda allows."""
    python_version(runtime)  # refuse an unsupported runtime before writing anything
    if with_heif and not with_pillow:
        raise ValueError("--with-heif adds pillow-heif to the Pillow layer: give --with-pillow too")
    out.mkdir(parents=True, exist_ok=True)
    layers = [write(out, SHARED_LAYER, shared_layer_entries())]
    if with_pillow:
        entries, versions = pillow_layer_entries(runtime, with_heif)
        layers.append(write(out, PILLOW_LAYER, entries, packages=versions))
    if with_drift_deps:
        entries, versions = drift_deps_layer_entries(runtime)
        layers.append(write(out, DRIFT_DEPS_LAYER, entries, packages=versions))
    built = {layer.name: layer for layer in layers}
    functions = [
        write(
            out,
            name,
            function_entries(name),
            handler=handler_of(name),
            layers=tuple(
                layer for layer in FUNCTION_LAYERS.get(name, (SHARED_LAYER,)) if layer in built
            ),
        )
        for name in (*FUNCTIONS, DRIFT_JOB)
    ]
    for function in functions:
        unpacked = function.unpacked_size + sum(built[n].unpacked_size for n in function.layers)
        if unpacked > UNPACKED_LIMIT:
            raise ValueError(
                f"{function.name} and its layers unpack to {unpacked:,} bytes > {UNPACKED_LIMIT:,}"
            )
    return functions + layers


def manifest(
    artifacts: list[Artifact], runtime: str = RUNTIME, heic: bool = False
) -> dict[str, object]:
    """`{"runtime", "heic", "functions": {name: {...}}, "layers": {name: {...}}}`, keyed for
    Terraform; `heic` says whether the Pillow layer carries pillow-heif."""
    sections: dict[str, dict[str, object]] = {"functions": {}, "layers": {}}
    for artifact in artifacts:
        entry: dict[str, object] = {
            "path": artifact.path,
            "sha256": artifact.sha256,
            "size": artifact.size,
            "unpacked_size": artifact.unpacked_size,
        }
        if artifact.kind == "function":
            entry.update(handler=artifact.handler, runtime=runtime, layers=list(artifact.layers))
            sections["functions"][artifact.name] = entry
        else:
            if artifact.packages:
                entry["packages"] = artifact.packages
            sections["layers"][artifact.name] = entry
    return {"runtime": runtime, "heic": heic, **sections}


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Build every Lambda zip (workflow, drift job) and layer.")
    parser.add_argument("--out", type=Path, default=Path("build/lambda"))
    parser.add_argument(
        "--with-pillow", action="store_true", help="also build the Pillow layer (needs PyPI)"
    )
    parser.add_argument(
        "--runtime",
        choices=SUPPORTED_RUNTIMES,
        default=RUNTIME,
        help=f"Lambda runtime the layers are built for (default {RUNTIME})",
    )
    parser.add_argument(
        "--with-heif",
        action="store_true",
        help="add pillow-heif (GPLv2 wheels, ~27 MB) to the Pillow layer: the gate accepts HEIC",
    )
    parser.add_argument(
        "--with-drift-deps",
        action="store_true",
        help="also build the drift job's dependencies layer (numpy, Pillow, ...; needs PyPI)",
    )
    args = parser.parse_args(argv)
    if args.with_heif and not args.with_pillow:
        parser.error("--with-heif needs --with-pillow (pillow-heif goes into the Pillow layer)")
    try:
        artifacts = build(
            args.out, args.with_pillow, args.runtime, args.with_heif, args.with_drift_deps
        )
        document = json.dumps(manifest(artifacts, args.runtime, args.with_heif), indent=2) + "\n"
        (args.out / "manifest.json").write_text(document)
    except (OSError, subprocess.CalledProcessError) as error:  # --out a file; pip offline
        print(f"error: {build_failure(error)}", file=sys.stderr)
        return 2
    except ValueError as error:  # over Lambda's unpacked limit
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(document)
    return 0


def build_failure(error: OSError | subprocess.CalledProcessError) -> str:
    """One line for the expected ways a build fails."""
    if isinstance(error, subprocess.CalledProcessError):
        return f"pip could not fetch the layer's wheels (exit {error.returncode}; offline?)"
    where = f": {error.filename}" if error.filename else ""
    return f"cannot write the build{where}: {error.strerror or error}"


if __name__ == "__main__":
    sys.exit(main())
