#!/usr/bin/env bash
# Validate both Step Functions templates, rendered with dummy values, with asl-validator.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for template in stepfunctions/*.asl.json; do
  name="$(basename "$template")"
  .venv/bin/python -m devkit.stepfunctions_local "$name" > "$out/$name"
  node_modules/.bin/asl-validator --json-path "$out/$name"
done
