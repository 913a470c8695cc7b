from pathlib import Path

import pytest

from devkit import terraform


def _make_mirror(root: Path) -> Path:
    target = root / "registry.terraform.io/hashicorp/aws/5.100.0" / terraform.os_arch()
    target.mkdir(parents=True)
    (target / "terraform-provider-aws_v5.100.0_x5").write_bytes(b"")
    return root


def test_offline_init_uses_mirror(tmp_path):
    mirror = _make_mirror(tmp_path)
    args = terraform.init_args(["-chdir=x", "init", "-backend=false"], online=False, mirror=mirror)
    assert args == ["-chdir=x", "init", f"-plugin-dir={mirror}", "-backend=false"]


def test_online_init_uses_registry(tmp_path):
    args = terraform.init_args(["init"], online=True, mirror=_make_mirror(tmp_path))
    assert args == ["init"]


def test_non_init_commands_untouched():
    assert terraform.init_args(["validate"], online=False) == ["validate"]


def test_find_mirror_honours_override(tmp_path, monkeypatch):
    mirror = _make_mirror(tmp_path)
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(mirror))
    assert terraform.find_mirror() == mirror


def test_offline_without_mirror_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(tmp_path / "missing"))
    with pytest.raises(terraform.TerraformError, match="no provider mirror"):
        terraform.init_args(["init"], online=False)


def test_registry_unreachable_when_forced_offline(monkeypatch):
    monkeypatch.setenv("TF_OFFLINE", "1")
    assert terraform.registry_reachable() is False
