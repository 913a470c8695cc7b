"""Every documented command line fails an unknown flag the same way: one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contract.cli import CliParser, at_least, finite_number

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = (
    "benchmarks",
    "contract",
    "devkit",
    "lambdas",
    "monitoring",
    "review",
    "training",
)
# Wrappers that hand their arguments to another program (terraform) rather than parse them.
PASS_THROUGH = {"devkit.terraform"}


def documented_commands() -> list[str]:
    """The project's `python -m <module>` commands that any Markdown file of the repo shows."""
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = set()
    for name in listed:
        text = (REPO_ROOT / name).read_text(encoding="utf-8")
        found |= set(re.findall(r"python3? -m ([a-z_]+(?:\.[a-z_]+)*)", text))
    return sorted(m for m in found - PASS_THROUGH if m.split(".")[0] in PROJECT_PACKAGES)


def test_the_parser_error_is_one_line_with_exit_2(capsys):
    parser = CliParser(prog="python -m example")
    parser.add_argument("--count", type=int, required=True)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--count", "many"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "python -m example: error: argument --count: invalid int value: 'many' (see --help)\n"
    )


def test_sub_command_parsers_inherit_it(capsys):
    parser = CliParser(prog="tool")
    parser.add_subparsers(dest="command", required=True).add_parser("list")
    with pytest.raises(SystemExit):
        parser.parse_args(["list", "--bogus"])
    [line] = capsys.readouterr().err.splitlines()
    assert line == "tool: error: unrecognized arguments: --bogus (see --help)"


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        (at_least(1), "0", "0 is below 1"),
        (at_least(0), "-1", "-1 is below 0"),
        (at_least(1), "2.5", "not an integer: '2.5'"),
        (finite_number, "nan", "not a finite number: 'nan'"),
        (finite_number, "-inf", "not a finite number: '-inf'"),
        (finite_number, "x", "not a number: 'x'"),
    ],
)
def test_the_shared_argument_types_refuse_as_usage_errors(argument, value, message, capsys):
    parser = CliParser(prog="tool")
    parser.add_argument("--n", type=argument)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([f"--n={value}"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"tool: error: argument --n: {message} (see --help)\n"


def test_the_shared_argument_types_pass_good_values():
    assert at_least(1)("7") == 7 and at_least(0)("0") == 0
    assert finite_number("0.25") == 0.25 and finite_number("-3") == -3.0


def test_the_documentation_shows_the_commands_this_test_runs():
    commands = documented_commands()
    assert {
        "training.train",
        "training.launch",
        "monitoring",
        "review",
        "lambdas.build",
    } <= set(commands)
    assert len(commands) >= 20, commands


@pytest.mark.parametrize("module", documented_commands())
def test_a_documented_command_fails_a_bad_command_line_in_one_line(module, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", module, "--no-such-flag", "1"],
        cwd=tmp_path,  # as from a fresh checkout elsewhere: nothing found by accident
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert len(lines) == 1, completed.stderr[-2000:]
    # argparse names the first problem: the unknown flag, or a required argument missing first.
    assert lines[0].startswith(f"python -m {module}: error: "), lines[0]
    assert lines[0].endswith("(see --help)"), lines[0]


# Commands that are torch code by nature; every other one answers --help without loading the
# heavy optional packages (pyproject's banned-module-level-imports keep them lazy).
NEEDS_TORCH = {"training.predict"}
LAZY_PACKAGES = ("torch", "sagemaker", "matplotlib")
HELP_PROBE = """
import contextlib, io, json, runpy, sys, warnings
warnings.simplefilter("ignore")  # runpy's note on packages already imported
loaded = {}
for module in sys.argv[1:]:
    before = {name.split(".")[0] for name in sys.modules}
    sys.argv = [module, "--help"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    loaded[module] = sorted({name.split(".")[0] for name in sys.modules} - before)
print(json.dumps(loaded))
"""


def test_the_commands_answer_help_without_torch_sagemaker_or_matplotlib(tmp_path):
    modules = [
        module
        for module in documented_commands()
        if not module.startswith("benchmarks.") and module not in NEEDS_TORCH
    ]
    completed = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, *modules],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert list(loaded) == modules  # what each one loaded that the ones before it had not
    heavy = {module: set(names) & set(LAZY_PACKAGES) for module, names in loaded.items()}
    assert {module: names for module, names in heavy.items() if names} == {}
