#!/usr/bin/env bash
# Terraform: formatting, `validate` of every stage root, `terraform test` (mock provider) of every
# module. Offline-capable through devkit.terraform; working dirs go to a temp dir, not the tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
tf() { .venv/bin/python -m devkit.terraform "$@"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "terraform fmt -check -recursive terraform"
tf fmt -check -recursive -diff terraform

echo "module READMEs' input/output tables match the .tf files"
.venv/bin/python -m devkit.module_docs --check

for root in terraform/stages/*/; do
  name="$(basename "$root")"
  echo "validate stage $name"
  export TF_DATA_DIR="$work/stage-$name"
  tf -chdir="$root" init -backend=false -input=false -no-color >/dev/null
  tf -chdir="$root" validate -no-color
done

for module in terraform/modules/*/; do
  name="$(basename "$module")"
  compgen -G "$module*.tftest.hcl" >/dev/null || { echo "module $name has no terraform test" >&2; exit 1; }
  echo "terraform test module $name"
  export TF_DATA_DIR="$work/module-$name"
  tf -chdir="$module" init -backend=false -input=false -no-color >/dev/null
  tf -chdir="$module" test -no-color
done
