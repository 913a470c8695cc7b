"""Build the Lambda deployment packages: one small zip per function and one shared layer.

    python -m lambdas.build --out build/lambda [--with-pillow [--with-heif]]

Zips are reproducible (entries sorted, timestamps 1980-01-01, permissions 0644, fixed
compression), so a rebuild of the same source is byte-identical and Terraform's
`source_code_hash` only changes when code does. A JSON manifest goes to stdout and to
`<out>/manifest.json`. Nothing from the AWS SDK is vendored: boto3 is in the Lambda runtime and
Powertools comes from the public Powertools layer. `--with-pillow` adds a layer with the Pillow
wheel for the Lambda platform (downloaded by pip), needed by serialize_image only. `--with-heif`
(opt-in: GPLv2 wheels, ~27 MB unpacked) adds pillow-heif to that layer, so the gate accepts HEIC;
the manifest records it (`"heic": true`).
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
from dataclasses import asdict, dataclass
from pathlib import Path

from contract import source_files
from contract.cli import CliParser

PACKAGE_ROOT = Path(__file__).resolve().parent
FUNCTIONS = (
    "serialize_image",
    "classify_image",
    "filter_inferences",
    "record_label",
    "start_workflow",
)
SHARED_LAYER = "shared_layer"
PILLOW_LAYER = "pillow_layer"
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
    handler: str | None = None


def handler_of(function: str) -> str:
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


def function_entries(function: str) -> list[tuple[str, bytes]]:
    """Only the function's own package; `lambdas` stays a namespace package (no __init__.py),
    so `lambdas.shared` is found in the layer under /opt/python."""
    directory = PACKAGE_ROOT / function
    return [
        (f"lambdas/{function}/{path.relative_to(directory).as_posix()}", path.read_bytes())
        for path in _sources(directory)
    ]


def shared_layer_entries() -> list[tuple[str, bytes]]:
    """`lambdas.shared` and the `contract` package (class names, image limits and the one image
    preparation) under `python/`, importable by every function."""
    directory = PACKAGE_ROOT / "shared"
    shared = [
        (f"python/lambdas/shared/{path.relative_to(directory).as_posix()}", path.read_bytes())
        for path in _sources(directory)
    ]
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
) -> list[tuple[str, bytes]]:
    """Pillow (and with `with_heif` pillow-heif) for the Lambda `runtime` (x86_64), `python/...`."""
    wheels = [f"Pillow=={PILLOW_LAYER_VERSION}"]
    if with_heif:
        wheels.append(f"pillow-heif=={PILLOW_HEIF_LAYER_VERSION}")
    return pip_layer_entries(wheels, runtime=runtime, no_deps=True)[0]


def write(out: Path, name: str, kind: str, content: bytes, handler: str | None) -> Artifact:
    path = out / f"{name}.zip"
    path.write_bytes(content)
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")
    return Artifact(name, kind, str(path), digest, len(content), handler)


def build(
    out: Path, with_pillow: bool = False, runtime: str = RUNTIME, with_heif: bool = False
) -> list[Artifact]:
    python_version(runtime)  # refuse an unsupported runtime before writing anything
    if with_heif and not with_pillow:
        raise ValueError("--with-heif adds pillow-heif to the Pillow layer: give --with-pillow too")
    out.mkdir(parents=True, exist_ok=True)
    artifacts = [
        write(out, name, "function", deterministic_zip(function_entries(name)), handler_of(name))
        for name in FUNCTIONS
    ]
    layer = deterministic_zip(shared_layer_entries())
    artifacts.append(write(out, SHARED_LAYER, "layer", layer, None))
    if with_pillow:
        pillow = deterministic_zip(pillow_layer_entries(runtime, with_heif))
        artifacts.append(write(out, PILLOW_LAYER, "layer", pillow, None))
    return artifacts


def manifest(
    artifacts: list[Artifact], runtime: str = RUNTIME, heic: bool = False
) -> dict[str, object]:
    """`{"runtime", "heic", "functions": {name: {...}}, "layers": {name: {...}}}`, keyed for
    Terraform; `heic` says whether the Pillow layer carries pillow-heif."""
    sections: dict[str, dict[str, object]] = {"functions": {}, "layers": {}}
    for artifact in artifacts:
        entry = asdict(artifact)
        del entry["name"], entry["kind"]
        if artifact.kind == "layer":
            entry.pop("handler")
            sections["layers"][artifact.name] = entry
        else:
            sections["functions"][artifact.name] = entry
    return {"runtime": runtime, "heic": heic, **sections}


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Build the Lambda zips and the shared layer.")
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
    args = parser.parse_args(argv)
    if args.with_heif and not args.with_pillow:
        parser.error("--with-heif needs --with-pillow (pillow-heif goes into the Pillow layer)")
    try:
        artifacts = build(args.out, args.with_pillow, args.runtime, args.with_heif)
        document = json.dumps(manifest(artifacts, args.runtime, args.with_heif), indent=2) + "\n"
        (args.out / "manifest.json").write_text(document)
    except (OSError, subprocess.CalledProcessError) as error:  # --out a file; pip offline
        print(f"error: {build_failure(error)}", file=sys.stderr)
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
