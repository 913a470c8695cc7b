"""The module READMEs' input/output tables are generated from the .tf files and kept current."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devkit import module_docs

TRICKY_VARIABLES = """
variable "plain" {
  description = "A \\"quoted\\" word and a {brace} | pipe."
  type        = string
}

variable "shaped" {
  description = <<-EOT
    Spread over (templates/*.json, # not a comment,
    "a quote) two lines.
  EOT
  type = map(object({
    filename = string
    size     = optional(number, 256)
  }))
  default = {
    a = { filename = "x", size = 1 }
  }

  validation {
    condition     = alltrue([for k, v in var.shaped : v.size > 0])
    error_message = "size must be positive."
  }
}

# a comment with a { brace
variable "listed" {
  # why: a comment inside the block, with "quotes" and a { brace
  description = "Prefixes ${var.x == "a" ? "}" : "b"}." // trailing comment
  /* a block
     comment */
  type        = list(string)
  default     = ["models/", "baselines/"]
}
"""


def test_reads_descriptions_types_and_defaults_as_written() -> None:
    plain, shaped, listed = module_docs.read_variables(TRICKY_VARIABLES)

    assert plain == module_docs.Variable(
        "plain", 'A "quoted" word and a {brace} | pipe.', "string", None
    )
    assert shaped.description == (
        'Spread over (templates/*.json, # not a comment, "a quote) two lines.'
    )
    assert shaped.type == "map(object(...))"
    assert shaped.default == '{ a = { filename = "x", size = 1 } }'
    assert listed.description == 'Prefixes ${var.x == "a" ? "}" : "b"}.'
    assert listed.default == '["models/", "baselines/"]'


def test_nested_block_attributes_are_not_mistaken_for_the_variables() -> None:
    (shaped,) = [v for v in module_docs.read_variables(TRICKY_VARIABLES) if v.name == "shaped"]
    assert "condition" not in shaped.description
    assert shaped.default is not None and "size must" not in shaped.default


def test_a_block_without_description_is_a_typed_error() -> None:
    with pytest.raises(module_docs.ModuleDocsError, match="'bare' has no description"):
        module_docs.read_outputs('output "bare" {\n  value = 1\n}\n')


def test_rendered_table_escapes_pipes_and_marks_required() -> None:
    table = module_docs.render_tables(module_docs.read_variables(TRICKY_VARIABLES), [])
    assert (
        '| `plain` | A "quoted" word and a {brace} \\| pipe. | `string` | **required** |' in table
    )


def test_every_module_readme_is_current() -> None:
    assert module_docs.main(["--check"]) == 0


def test_a_changed_variable_makes_the_check_fail_until_regenerated(tmp_path: Path) -> None:
    module = tmp_path / "storage"
    shutil.copytree(module_docs.MODULES_DIR / "storage", module)
    variables = module / "variables.tf"
    variables.write_text(
        variables.read_text()
        + 'variable "added_knob" {\n  description = "A new knob."\n'
        + "  type = bool\n  default = true\n}\n"
    )

    assert module_docs.main(["--check", "--modules", str(tmp_path)]) == 1
    assert module_docs.main(["--modules", str(tmp_path)]) == 0
    assert "| `added_knob` | A new knob. | `bool` | `true` |" in (module / "README.md").read_text()
    assert module_docs.main(["--check", "--modules", str(tmp_path)]) == 0


def test_a_readme_without_markers_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "bare"
    module.mkdir()
    (module / "variables.tf").write_text(TRICKY_VARIABLES)
    (module / "README.md").write_text("# bare\n")

    assert module_docs.main(["--check", "--modules", str(tmp_path)]) == 2
    assert "BEGIN_TF_DOCS" in capsys.readouterr().err
