"""Generate the Inputs/Outputs tables of each Terraform module's README from its .tf files.

The tables sit between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->`` (the markers
terraform-docs uses, so a team that prefers that tool can switch). ``--check`` fails when a README
is out of date, which CI runs; without it the READMEs are rewritten in place.

The source text of ``type`` and ``default`` is shown as written (one line), object types shortened
to ``object(...)``: a reader wants the shape at a glance, the variables.tf has the detail.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from contract.cli import CliParser

MODULES_DIR = Path(__file__).resolve().parent.parent / "terraform" / "modules"
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
_BLOCK = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{', re.MULTILINE)
_ATTRIBUTE = re.compile(r"^\s*([a-z_]+)\s*=\s*", re.MULTILINE)
_HEREDOC = re.compile(r"<<-?([A-Z]+)\n(.*?)\n\s*\1", re.DOTALL)
_OPEN, _CLOSE = "([{", ")]}"


class ModuleDocsError(Exception):
    """A .tf file this generator cannot read (unbalanced braces, a block without description)."""


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    type: str
    default: str | None  # None: required


@dataclass(frozen=True)
class Output:
    name: str
    description: str


def _skip_string(text: str, start: int) -> int:
    """Index just past the string literal opening at ``start``; ``${...}`` may hold quotes."""
    index = start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text[index] == '"':
            return index + 1
        elif text.startswith("${", index) or text.startswith("%{", index):
            index = _skip_template(text, index + 2)
        else:
            index += 1
    raise ModuleDocsError("unterminated string")


def _skip_template(text: str, index: int) -> int:
    """Index just past the ``}`` closing an interpolation whose body starts at ``index``."""
    depth = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _skip_string(text, index)
            continue
        depth += char == "{"
        depth -= char == "}"
        index += 1
        if depth == 0:
            return index
    raise ModuleDocsError("unterminated interpolation")


def _without_comments(text: str) -> str:
    """The text with ``#``, ``//`` and ``/* */`` comments blanked (string literals kept)."""
    kept: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        heredoc = _HEREDOC.match(text, index) if char == "<" else None
        if heredoc:
            kept.append(heredoc.group(0))
            index = heredoc.end()
        elif char == '"':
            end = _skip_string(text, index)
            kept.append(text[index:end])
            index = end
        elif char == "#" or text.startswith("//", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            if close < 0:
                raise ModuleDocsError("unterminated comment")
            index = close + 2
        else:
            kept.append(char)
            index += 1
    return "".join(kept)


def _scan(text: str, start: int) -> Iterator[tuple[int, str, int]]:
    """(index, character, brackets open before it) from ``start``, outside string literals and
    heredocs: the one walk the block, attribute and expression readers share."""
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _skip_string(text, index)
            continue
        heredoc = _HEREDOC.match(text, index) if char == "<" else None
        if heredoc:
            index = heredoc.end()
            continue
        yield index, char, depth
        depth += char in _OPEN
        depth -= char in _CLOSE
        index += 1


def _block_end(text: str, open_index: int) -> int:
    """Index of the brace closing the one at ``open_index``."""
    for index, char, depth in _scan(text, open_index):
        if char in _CLOSE and depth == 1:
            return index
    raise ModuleDocsError("unbalanced braces")


def _top_level_attributes(body: str) -> dict[str, str]:
    """``name = expression`` pairs at the block's own level (not inside nested blocks)."""
    attributes: dict[str, str] = {}
    resume = 0  # the end of the last expression read
    for index, _, depth in _scan(body, 0):
        if index < resume or depth != 0 or (index > 0 and body[index - 1] != "\n"):
            continue
        match = _ATTRIBUTE.match(body, index)
        if match:
            attributes[match.group(1)], resume = _expression(body, match.end())
    return attributes


def _expression(body: str, start: int) -> tuple[str, int]:
    """The expression starting at ``start``: to the end of line, or of its brackets/heredoc."""
    heredoc = _HEREDOC.match(body, start)
    if heredoc:
        return " ".join(heredoc.group(2).split()), heredoc.end()
    for index, char, depth in _scan(body, start):
        if char == "\n" and depth <= 0:
            return body[start:index].strip(), index
    return body[start:].strip(), len(body)


def _string_value(expression: str) -> str:
    if expression.startswith('"') and expression.endswith('"'):
        return expression[1:-1].replace('\\"', '"')
    return expression


def _one_line(expression: str) -> str:
    flat = " ".join(expression.split())
    return re.sub(r"object\(\{.*\}\)", "object(...)", flat)


def _blocks(text: str, kind: str) -> list[tuple[str, dict[str, str]]]:
    text = _without_comments(text)
    blocks = []
    for match in _BLOCK.finditer(text):
        if match.group(1) != kind:
            continue
        open_index = match.end() - 1
        body = text[open_index + 1 : _block_end(text, open_index)]
        blocks.append((match.group(2), _top_level_attributes(body)))
    return blocks


def _described_blocks(text: str, kind: str) -> Iterator[tuple[str, dict[str, str], str]]:
    """(name, attributes, description) of each `kind` block; one without a description fails."""
    for name, attributes in _blocks(text, kind):
        if "description" not in attributes:
            raise ModuleDocsError(f"{kind} {name!r} has no description")
        yield name, attributes, _string_value(attributes["description"])


def read_variables(text: str) -> list[Variable]:
    variables = []
    for name, attributes, description in _described_blocks(text, "variable"):
        default = attributes.get("default")
        variables.append(
            Variable(
                name=name,
                description=description,
                type=_one_line(attributes.get("type", "any")),
                default=None if default is None else _one_line(default),
            )
        )
    return variables


def read_outputs(text: str) -> list[Output]:
    return [Output(name, description) for name, _, description in _described_blocks(text, "output")]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render(module_dir: Path) -> str:
    """The Markdown between the markers for one module (all its .tf files, in file order)."""
    sources = [path.read_text() for path in sorted(module_dir.glob("*.tf"))]
    variables = [v for text in sources for v in read_variables(text)]
    outputs = [o for text in sources for o in read_outputs(text)]
    return render_tables(variables, outputs)


def render_tables(variables: list[Variable], outputs: list[Output]) -> str:
    lines = [
        BEGIN,
        "<!-- generated from the module's .tf files by `python -m devkit.module_docs` -->",
        "## Inputs",
        "",
        "| name | description | type | default |",
        "| --- | --- | --- | --- |",
    ]
    for v in variables:
        default = "**required**" if v.default is None else _cell(_code(v.default))
        lines.append(
            f"| `{v.name}` | {_cell(v.description)} | {_cell(_code(v.type))} | {default} |"
        )
    lines += ["", "## Outputs", "", "| name | description |", "| --- | --- |"]
    lines += [f"| `{o.name}` | {_cell(o.description)} |" for o in outputs]
    lines.append(END)
    return "\n".join(lines)


def updated_readme(readme: str, tables: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ModuleDocsError(f"no {BEGIN} ... {END} section")
    return readme[:start] + tables + readme[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="python -m devkit.module_docs", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a README is out of date")
    parser.add_argument("--modules", type=Path, default=MODULES_DIR, help="modules directory")
    args = parser.parse_args(argv)
    stale = []
    for module_dir in sorted(p for p in args.modules.iterdir() if (p / "variables.tf").exists()):
        readme_path = module_dir / "README.md"
        try:
            current = readme_path.read_text()
            wanted = updated_readme(current, render(module_dir))
        except (OSError, ModuleDocsError) as error:
            print(f"{readme_path}: {error}", file=sys.stderr)
            return 2
        if wanted != current:
            stale.append(readme_path)
            if not args.check:
                readme_path.write_text(wanted)
    if args.check and stale:
        names = ", ".join(str(p) for p in stale)
        print(f"out of date: {names} (run python -m devkit.module_docs)", file=sys.stderr)
        return 1
    for path in stale:
        print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
