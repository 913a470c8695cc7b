"""Packaging: every function (workflow and drift job) in small reproducible zips, one shared
layer, one manifest Terraform can use."""

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

from contract import source_files
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
    assert set(artifacts) == {*build.FUNCTIONS, build.DRIFT_JOB, build.SHARED_LAYER}
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
    assert max(a.size for name, a in artifacts.items() if name != build.DRIFT_JOB) < 50_000


def test_the_drift_job_zip_carries_its_runtime_and_what_it_imports(tmp_path):
    """The drift job runs without our layer: monitoring/, lambdas.shared and contract inside;
    the dev-kit tools and tests stay out."""
    drift = next(a for a in build.build(tmp_path) if a.name == build.DRIFT_JOB)
    assert drift.handler == "monitoring.handler.handler" and drift.layers == ()
    with zipfile.ZipFile(drift.path) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {"monitoring/handler.py", "monitoring/job.py", "monitoring/metrics.py"} <= set(names)
    assert {"lambdas/shared/config.py", "lambdas/shared/observability.py"} <= set(names)
    assert {name for name, _ in source_files()} <= set(names)
    assert all(n.startswith(("monitoring/", "lambdas/shared/", "contract/")) for n in names)
    assert not any("test" in name.split("/")[-1] for name in names)
    assert "monitoring/inject.py" not in names  # a dev-kit tool, not the deployed runtime
    assert drift.unpacked_size == sum(len(d) for _, d in build.function_entries(build.DRIFT_JOB))


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
    assert set(manifest["functions"]) == {*build.FUNCTIONS, build.DRIFT_JOB}
    for entry in {**manifest["functions"], **manifest["layers"]}.values():
        content = Path(entry["path"]).read_bytes()
        assert entry["sha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
        assert entry["size"] == len(content)
        unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(content)).infolist())
        assert entry["unpacked_size"] == unpacked
    for name, entry in manifest["functions"].items():
        assert entry["runtime"] == "python3.13"
        assert entry["handler"] == build.handler_of(name)
        # only layers this build made: no Pillow or drift dependencies without their flags
        assert entry["layers"] == ([] if name == build.DRIFT_JOB else [build.SHARED_LAYER])
    assert manifest["functions"]["classify_image"]["handler"] == (
        "lambdas.classify_image.handler.handler"
    )


def test_a_function_over_lambdas_unpacked_limit_fails_the_build(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build, "UNPACKED_LIMIT", 100_000)  # the drift job unpacks to more
    assert build.main(["--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: drift_job and its layers unpack to") and error.count("\n") == 1


def test_build_into_a_file_is_a_one_line_error(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    assert build.main(["--out", str(target)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: cannot write the build") and error.count("\n") == 1


def test_handlers_import_from_the_deployed_layout(tmp_path):
    """Unzipped like /var/task + /opt, without the repo on the path: every handler imports, the
    workflow's with the shared layer, the drift job's from its own zip."""
    artifacts = {artifact.name: artifact for artifact in build.build(tmp_path / "zips")}
    layer = tmp_path / "opt"
    zipfile.ZipFile(artifacts[build.SHARED_LAYER].path).extractall(layer)
    site = sysconfig.get_paths()["purelib"]
    for name in (*build.FUNCTIONS, build.DRIFT_JOB):
        task = tmp_path / name
        zipfile.ZipFile(artifacts[name].path).extractall(task)
        module = build.handler_of(name).rsplit(".", 1)[0]
        probe = (
            f"import {module} as m, lambdas.shared.aws, contract; "
            "print(m.handler.__name__, lambdas.shared.aws.__file__, contract.__file__)"
        )
        opt = [] if name == build.DRIFT_JOB else [str(layer / "python")]
        result = subprocess.run(
            [sys.executable, "-S", "-c", probe],
            capture_output=True,
            text=True,
            cwd=task,
            env={"PYTHONPATH": os.pathsep.join([str(task), *opt, site])},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "handler" in result.stdout and str(build.REPO_ROOT) not in result.stdout
        # lambdas.shared and contract come from the layer, or the drift job's own zip
        home = task if name == build.DRIFT_JOB else layer / "python"
        assert str(home / "lambdas" / "shared" / "aws.py") in result.stdout, name
        assert str(home / "contract" / "__init__.py") in result.stdout, name


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
    # python3.14, the other supported runtime, builds every function for it
    manifest = build.manifest(build.build(tmp_path / "next", runtime="python3.14"), "python3.14")
    assert {entry["runtime"] for entry in manifest["functions"].values()} == {"python3.14"}


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
    # The manifest names what the layer holds, as it does for the drift job's layer.
    assert manifest["layers"][build.PILLOW_LAYER]["packages"] == {
        "pillow": build.PILLOW_LAYER_VERSION,
        "pillow_heif": build.PILLOW_HEIF_LAYER_VERSION,
    }


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


def test_the_terraform_fixture_manifest_has_the_builds_shape(tmp_path):
    """The Terraform tests plan from a fixture manifest: it must keep the shape the build
    writes (every function, the drift job too, with the fields Terraform reads)."""
    fixture_path = build.REPO_ROOT / "tests" / "terraform" / "fixtures" / "lambda" / "manifest.json"
    fixture = json.loads(fixture_path.read_text())
    real = build.manifest(build.build(tmp_path))
    assert set(fixture) == set(real)
    assert set(fixture["functions"]) == set(real["functions"])
    for name, entry in real["functions"].items():
        assert set(fixture["functions"][name]) == set(entry), name
        assert fixture["functions"][name]["handler"] == entry["handler"]
    assert set(real["layers"]) <= set(fixture["layers"])
