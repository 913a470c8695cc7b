"""`serving` ships alone as the model archive's `code/`: it may import `contract` and its
third-party packages, never `training` or any other project package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import serving

SERVING_DIR = Path(serving.__file__).resolve().parent
REPO_ROOT = SERVING_DIR.parent
# What the archive carries beside the handlers; anything else of ours is absent there.
SHIPPED_WITH_IT = {"serving", "contract"}
OUR_PACKAGES = {
    path.parent.name for path in REPO_ROOT.glob("*/__init__.py") if path.parent.name != "tests"
}


def imported_modules(source: Path) -> set[str]:
    """Every absolute module a file imports, at module top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_project_packages_are_found() -> None:
    assert {"serving", "contract", "training"} <= OUR_PACKAGES


def test_serving_imports_no_project_package_but_contract() -> None:
    sources = sorted(SERVING_DIR.glob("*.py"))
    assert sources
    for source in sources:
        tops = {name.partition(".")[0] for name in imported_modules(source)}
        assert not (tops & OUR_PACKAGES) - SHIPPED_WITH_IT, source.name


def test_serving_imports_and_answers_with_training_unimportable() -> None:
    """In a fresh process where `import training` fails: the handlers load and refuse a bad
    request with their typed error (so nothing reached for `training` on the way)."""
    probe = f"""
import sys
sys.path[:0] = [{str(REPO_ROOT)!r}]

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {sorted(OUR_PACKAGES - SHIPPED_WITH_IT)!r}:
            raise ImportError("not shipped in the archive: " + name)
        return None

sys.meta_path.insert(0, Refuse())
import serving.inference as handlers, serving.network
try:
    handlers.input_fn(b"not an image", "image/png")
except handlers.InvalidImageError as error:
    print("refused", type(error).__name__)
print(sorted(m for m in sys.modules if m.partition(".")[0] == "training"))
"""
    completed = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("\n")[:2] == ["refused InvalidImageError", "[]"]
