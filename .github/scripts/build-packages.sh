#!/usr/bin/env bash
# Build the packages the stage roots deploy, where their defaults look for them: every Lambda zip
# (the workflow's functions and the drift job), the shared, Pillow and drift-dependencies layers
# and build/lambda/manifest.json. The builds are reproducible (byte-identical rebuilds), so a plan
# made from them applies the same code.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-locked.sh
python -m lambdas.build --out build/lambda --with-pillow --with-drift-deps
