#!/usr/bin/env bash
# The whole test suite and every check, as CI runs it: set up, lint, types, the checks in
# scripts/checks/ (Terraform, checkov, ASL, workflows), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"
export CHECKPOINT_DISABLE=1

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

step "ruff (lint and format)"
ruff check .
ruff format --check .
step "mypy"
mypy contract serving training lambdas monitoring devkit benchmarks review
for check in scripts/checks/[0-9]*.sh; do
  [[ -e "$check" ]] || continue
  step "$(basename "$check" .sh)"
  bash "$check"
done
step "pytest"
pytest -n 2 --dist loadgroup "$@"
