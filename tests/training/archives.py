"""Model archives and stage roots for the promotion and release tests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path


def decision(threshold: object = 0.8125, **fields: object) -> bytes:
    body = {"format": 1, "decision_threshold": threshold, "max_misroute_rate": 0.01,
            "method": "test", "certified": True, "validation_images": 500, **fields}  # fmt: skip
    return json.dumps(body).encode()


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    """A gzipped tar at `path` holding `members` (name -> content), in that order."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def archive_bytes(decision_json: bytes | None, weights: bytes = b"w" * 1000) -> bytes:
    """A model.tar.gz as training writes it: decision.json first, then the (large) weights."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        members = [("decision.json", decision_json)] if decision_json is not None else []
        for name, data in [*members, ("model.pt", weights), ("code/inference.py", b"# x")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def stage_root(stages: Path, stage: str = "dev", pin: str = "null") -> Path:
    """A stage directory with the one pin line of the repo's stage roots."""
    root = stages / stage
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.tf").write_text(
        f'module "system" {{\n  decision_threshold_override = {pin}\n}}\n'
    )
    return root


def real_archive(trained: Path, decision_json: bytes | None, out: Path) -> Path:
    """The session's trained model.tar.gz with `decision_json` as its decision.json (or none)."""
    with tarfile.open(trained, "r:gz") as source, tarfile.open(out, "w:gz") as target:
        if decision_json is not None:
            info = tarfile.TarInfo("decision.json")
            info.size = len(decision_json)
            target.addfile(info, io.BytesIO(decision_json))
        for member in source.getmembers():
            if member.name.removeprefix("./") != "decision.json":
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return out
