#!/usr/bin/env bash
# The main job on one machine, offline: set up, then run the local system end to end against
# the embedded AWS emulator (see README "Quick start"). Extra arguments go to `devkit.demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
exec python -m devkit.demo "$@"
