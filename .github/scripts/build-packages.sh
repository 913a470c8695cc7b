#!/usr/bin/env bash
# Build the packages the stage roots deploy: the Lambda zips + build/lambda/manifest.json, and
# the drift job's zip (build/monitoring/monitoring_lambda.zip, exported to the stage roots as
# TF_VAR_drift_job_zip_path for the following steps). Both builds are reproducible
# (byte-identical rebuilds), so a plan made from them applies the same code.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m pip install -q -e .
python -m lambdas.build --out build/lambda --with-pillow
python -m monitoring.package --out build/monitoring
if [[ -n "${GITHUB_ENV:-}" ]]; then
  echo "TF_VAR_drift_job_zip_path=$PWD/build/monitoring/monitoring_lambda.zip" >> "$GITHUB_ENV"
fi
