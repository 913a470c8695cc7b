#!/usr/bin/env bash
# Build the packages the stage roots deploy, where their defaults look for them: the Lambda zips
# + build/lambda/manifest.json, and the drift job's zip and dependencies layer in
# build/monitoring/. The builds are reproducible (byte-identical rebuilds), so a plan made from
# them applies the same code.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-locked.sh
python -m lambdas.build --out build/lambda --with-pillow
python -m monitoring.package --out build/monitoring --with-deps
