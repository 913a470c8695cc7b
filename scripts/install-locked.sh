#!/usr/bin/env bash
# Install the project into an environment exactly as locked:
#   1. with --torch: torch ($TORCH_SPEC, default torch==2.13.0, from $TORCH_INDEX_URL when set)
#      and the pretrained-weights wheels (requirements/torch.txt, hashed, no dependencies);
#   2. requirements/dev.txt: the core dependencies and the dev, lambda, sagemaker and fast
#      extras, every file checked against its sha256 (--require-hashes);
#   3. the project itself, editable, without dependencies.
#
#   PYTHON=.venv/bin/python scripts/install-locked.sh [--torch]
#
# torch is the one package outside the hashes: the CPU build is a different file on each side
# (this machine installs a local torch-2.13.0+cpu wheel, GitHub runners download the one on the
# PyTorch CPU index, which this machine cannot reach to compare), and PyPI's torch 2.13.0 is the
# CUDA build (GBs of nvidia-* packages). It is pinned exactly instead, and installed first so the
# locked versions of its dependencies win. Regenerate the locks with scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
pip=("$PYTHON" -m pip install -q --disable-pip-version-check)

case "${1:-}" in
  --torch)
    index=()
    [[ -n "${TORCH_INDEX_URL:-}" ]] && index=(--extra-index-url "$TORCH_INDEX_URL")
    "${pip[@]}" "${index[@]}" "$TORCH_SPEC"
    "${pip[@]}" --require-hashes --no-deps -r requirements/torch.txt
    ;;
  "") ;;
  *) echo "usage: $0 [--torch]" >&2; exit 2 ;;
esac
"${pip[@]}" --require-hashes -r requirements/dev.txt
"${pip[@]}" --no-deps -e .
