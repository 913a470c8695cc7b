"""Packaging: small reproducible zips, one shared layer, a manifest Terraform can use."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from lambdas import build


def test_rebuild_is_byte_identical(tmp_path):
    first = build.build(tmp_path / "a")
    os.utime(build.PACKAGE_ROOT / "shared" / "errors.py")  # mtimes must not matter
    second = build.build(tmp_path / "b")
    assert [(a.name, a.sha256) for a in first] == [(b.name, b.sha256) for b in second]
    for a, b in zip(first, second, strict=True):
        assert Path(a.path).read_bytes() == Path(b.path).read_bytes()


def test_zip_contents_and_metadata(tmp_path):
    artifacts = {artifact.name: artifact for artifact in build.build(tmp_path)}
    assert set(artifacts) == {*build.FUNCTIONS, build.SHARED_LAYER}
    for name in build.FUNCTIONS:
        with zipfile.ZipFile(artifacts[name].path) as archive:
            names = archive.namelist()
            assert names == sorted(names)
            assert all(n.startswith(f"lambdas/{name}/") and n.endswith(".py") for n in names)
            assert f"lambdas/{name}/handler.py" in names
            for info in archive.infolist():
                assert info.date_time == (1980, 1, 1, 0, 0, 0)
                assert info.external_attr >> 16 == 0o100644
    with zipfile.ZipFile(artifacts[build.SHARED_LAYER].path) as archive:
        names = archive.namelist()
    assert "python/lambdas/shared/errors.py" in names
    assert {"python/contract/__init__.py", "python/contract/images.py"} <= set(names)
    assert all(n.startswith(("python/lambdas/shared/", "python/contract/")) for n in names)
    everything = " ".join(n for a in artifacts.values() for n in zipfile.ZipFile(a.path).namelist())
    assert "boto" not in everything and "lambdas/__init__.py" not in everything
    assert max(a.size for a in artifacts.values()) < 50_000


def test_manifest_matches_the_files(tmp_path):
    out = tmp_path / "out"
    printed = subprocess.run(
        [sys.executable, "-m", "lambdas.build", "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    manifest = json.loads(printed)
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["runtime"] == "python3.13"
    for name, entry in {**manifest["functions"], **manifest["layers"]}.items():
        content = Path(entry["path"]).read_bytes()
        assert entry["sha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
        assert entry["size"] == len(content)
        if name in build.FUNCTIONS:
            assert entry["handler"] == f"lambdas.{name}.handler.handler"


def test_handlers_import_from_the_deployed_layout(tmp_path):
    """Unzipped like /var/task + /opt, without the repo on the path: every handler imports."""
    artifacts = {artifact.name: artifact for artifact in build.build(tmp_path / "zips")}
    layer = tmp_path / "opt"
    zipfile.ZipFile(artifacts[build.SHARED_LAYER].path).extractall(layer)
    site = sysconfig.get_paths()["purelib"]
    for name in build.FUNCTIONS:
        task = tmp_path / name
        zipfile.ZipFile(artifacts[name].path).extractall(task)
        module = build.handler_of(name).rsplit(".", 1)[0]
        probe = (
            f"import {module} as m, lambdas, contract; "
            "print(m.handler.__name__, list(lambdas.__path__), contract.__file__)"
        )
        result = subprocess.run(
            [sys.executable, "-S", "-c", probe],
            capture_output=True,
            text=True,
            cwd=task,
            env={"PYTHONPATH": os.pathsep.join([str(task), str(layer / "python"), site])},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "handler" in result.stdout and str(build.PACKAGE_ROOT) not in result.stdout
        # the contract package comes from the layer (each artifact carries its own copy)
        assert str(layer / "python" / "contract" / "__init__.py") in result.stdout


def test_unsupported_runtime_is_refused_before_anything_is_built(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lambdas.build", "--out", str(tmp_path), "--runtime", "python3.11"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice: 'python3.11'" in result.stderr
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"python3\.12. is not one of"):
        build.build(tmp_path / "out", runtime="python3.12")
    assert not (tmp_path / "out").exists()


def test_wheels_target_the_runtime_python_and_amazon_linux_2023():
    assert build.python_version("python3.13") == "3.13"
    assert build.python_version("python3.14") == "3.14"
    # AL2023's glibc 2.34 down to manylinux2014 (glibc 2.17), each tag named for pip.
    assert build.LAMBDA_PLATFORMS[0] == "manylinux_2_34_x86_64"
    assert {"manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"} <= set(
        build.LAMBDA_PLATFORMS
    )
    assert not any("2_35" in platform for platform in build.LAMBDA_PLATFORMS)


def test_terraform_admits_exactly_the_runtimes_the_build_targets():
    """One runtime list: the build's and the three Terraform validations agree; the system
    default is the build's default."""
    modules = build.PACKAGE_ROOT.parent / "terraform" / "modules"
    expected = "[" + ", ".join(f'"{r}"' for r in build.SUPPORTED_RUNTIMES) + "]"
    for module, variable in (
        ("system", "lambda_runtime"),
        ("inference_workflow", "runtime"),
        ("monitoring", "runtime"),
    ):
        text = (modules / module / "variables.tf").read_text()
        assert f"contains({expected}, var.{variable})" in text, module
    system = (modules / "system" / "variables.tf").read_text()
    block = system[system.index('variable "lambda_runtime"') :]
    assert f'default     = "{build.RUNTIME}"' in block.split("validation")[0]


@pytest.fixture(scope="module")
def heif_build(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`--with-pillow --with-heif`, built once (pip fetches the runtime's wheels)."""
    out = tmp_path_factory.mktemp("heif")
    result = subprocess.run(
        [sys.executable, "-m", "lambdas.build", "--out", str(out), "--with-pillow", "--with-heif"],
        capture_output=True,
        text=True,
        check=False,
    )
    if "pip could not fetch" in result.stderr:
        pytest.skip("PyPI is not reachable: the layer's wheels cannot be fetched")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_with_heif_the_pillow_layer_carries_pillow_heif_and_the_manifest_says_so(heif_build):
    manifest = heif_build
    assert manifest["heic"] is True
    names = zipfile.ZipFile(manifest["layers"][build.PILLOW_LAYER]["path"]).namelist()
    assert "python/pillow_heif/__init__.py" in names
    assert any(name.startswith("python/_pillow_heif.cpython-313-x86_64") for name in names)
    assert f"python/pillow_heif-{build.PILLOW_HEIF_LAYER_VERSION}.dist-info/METADATA" in names
    assert f"python/pillow-{build.PILLOW_LAYER_VERSION}.dist-info/metadata" in {
        name.lower() for name in names
    }
    assert build.manifest([])["heic"] is False  # the default build: HEIC refused


def test_heif_flag_needs_the_pillow_layer(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lambdas.build", "--out", str(tmp_path / "o"), "--with-heif"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--with-heif needs --with-pillow" in result.stderr
    assert not (tmp_path / "o").exists()


def runtime_python() -> str | None:
    """A working python3.13 (the Lambda runtime's Python) on PATH, if there is one."""
    found = shutil.which("python3.13")
    if found is None:
        return None
    works = subprocess.run([found, "-c", "pass"], capture_output=True, check=False)
    return found if works.returncode == 0 else None


def test_the_heif_layer_imports_on_the_runtime_python_and_the_gate_accepts_heic(
    heif_build, tmp_path
):
    """Unzipped like /opt under python3.13 without site-packages: the contract registers the
    opener from the layer and prepares a real HEIC photo."""
    python = runtime_python()
    if python is None:
        pytest.skip("no working python3.13 (the Lambda runtime's Python) on PATH")
    manifest = heif_build
    opt = tmp_path / "opt"
    for layer in (build.PILLOW_LAYER, build.SHARED_LAYER):
        zipfile.ZipFile(manifest["layers"][layer]["path"]).extractall(opt)
    # The dev environment's pillow-heif encodes the photo (an optional package).
    pytest.importorskip("pillow_heif").register_heif_opener()
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo, format="HEIF")
    probe = (
        "import sys, pillow_heif; from contract.images import HEIF_ENABLED, prepare;"
        "header, image = prepare(sys.stdin.buffer.read());"
        "print(HEIF_ENABLED, header.format, image.size, pillow_heif.__file__)"
    )
    result = subprocess.run(
        [python, "-S", "-c", probe],
        input=photo.getvalue(),
        capture_output=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(opt / "python"), "PATH": os.environ["PATH"]},
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert result.stdout.decode().startswith("True HEIC (32, 32) " + str(opt)), result.stdout
