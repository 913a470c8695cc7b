"""Packaging: small reproducible zips, one shared layer, a manifest Terraform can use."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

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
    assert all(n.startswith("python/lambdas/shared/") for n in names)
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
    assert manifest["runtime"] == "python3.11"
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
        probe = f"import {module} as m, lambdas; print(m.handler.__name__, list(lambdas.__path__))"
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
