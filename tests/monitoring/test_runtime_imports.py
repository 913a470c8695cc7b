"""The drift job's zip carries `monitoring`, `contract` and the bounded JSON parser only, so no
monitoring module may import the packages it leaves out (not even inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import monitoring

LEFT_OUT = {"training", "serving", "devkit", "review", "benchmarks", "tests"}


def imported_packages(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_no_monitoring_module_imports_what_the_drift_zip_leaves_out() -> None:
    sources = sorted(Path(monitoring.__file__).parent.glob("*.py"))
    assert len(sources) > 10
    found = {
        source.name: sorted(imported_packages(source) & LEFT_OUT)
        for source in sources
        if imported_packages(source) & LEFT_OUT
    }
    assert found == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text("def build():\n    from training.predict import Predictor\n")
    assert imported_packages(source) == {"training"}
