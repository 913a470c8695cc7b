#!/usr/bin/env bash
# Plan or apply one Terraform stage root (terraform/stages/<stage>) in GitHub Actions.
#
#   terraform-stage.sh plan  STAGE OUTDIR   init, `plan -out OUTDIR/tfplan`, and write
#                                           OUTDIR/plan.txt, OUTDIR/comment.md (pull-request
#                                           comment, first line = the stage's marker), the job
#                                           summary and the `changes` step output (true|false)
#   terraform-stage.sh apply STAGE OUTDIR   apply exactly the saved plan OUTDIR/tfplan, then verify
#   terraform-stage.sh verify STAGE OUTDIR  the rollout check alone (devkit.verify_rollout): the
#                                           endpoint InService on the endpoint config Terraform
#                                           applied, serving the promoted model data URL and image
#                                           (model.auto.tfvars.json), and a smoke request through
#                                           classify_image routed; else exit 2 with the reason on
#                                           one line (monitoring/RUNBOOK.md: "Provider and
#                                           SageMaker disagree")
#
# Environment: TF_STATE_BUCKET (required: the stage roots use a partial S3 backend; passed as
# -backend-config=bucket=..., with region=$AWS_REGION), PLAN_LOCK (true|false, default true:
# pull-request plans pass false so they never hold the state lock). AWS credentials and
# AWS_REGION come from the calling job (OIDC role assumption). The packages the stage deploys
# are built first by build-packages.sh (or named by TF_VAR_lambda_manifest_path, the drift
# job's among them). ROLLOUT_TIMEOUT (seconds to InService, default 1800) and
# ROLLOUT_SMOKE (true|false, default true) tune the verification; PYTHON is the interpreter with
# the repository's dependencies (default python).
set -euo pipefail

usage() { echo "usage: $0 plan|apply|verify STAGE OUTDIR" >&2; exit 2; }
[[ $# -eq 3 ]] || usage
mode=$1 stage=$2 out=$3
[[ "$mode" == plan || "$mode" == apply || "$mode" == verify ]] || usage
[[ "$stage" =~ ^[a-z][a-z0-9_-]*$ ]] || { echo "invalid stage name: $stage" >&2; exit 2; }

cd "$(dirname "$0")/../.."
root="terraform/stages/$stage"
[[ -d "$root" ]] || { echo "::error::no Terraform root at $root" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
max_plan_chars=40000 # with the resource list, stays under GitHub's 65536-character comments

if [[ ! -f "$root/model.auto.tfvars.json" ]]; then
  echo "::error title=no model promoted to ${stage}::${root}/model.auto.tfvars.json is missing: run the train workflow (or python -m training.promote --stage ${stage} ...) and merge its pull request" >&2
  exit 1
fi
[[ -n "${TF_STATE_BUCKET:-}" ]] || { echo "::error::TF_STATE_BUCKET is not set" >&2; exit 1; }

init_args=(-input=false -lockfile=readonly "-backend-config=bucket=${TF_STATE_BUCKET}")
if [[ -n "${AWS_REGION:-}" ]]; then
  init_args+=("-backend-config=region=${AWS_REGION}")
fi
terraform -chdir="$root" init "${init_args[@]}"

# After an apply Terraform may report success while SageMaker rolled the update back: ask
# SageMaker what it serves, and the workflow to answer.
verify_rollout() {
  local verdict rc=0
  local smoke=()
  [[ "${ROLLOUT_SMOKE:-true}" == true ]] || smoke=(--no-smoke)
  terraform -chdir="$root" output -json > "$out/outputs.json"
  verdict=$("${PYTHON:-python}" -m devkit.verify_rollout --outputs "$out/outputs.json" \
    --tfvars "$root/model.auto.tfvars.json" --timeout "${ROLLOUT_TIMEOUT:-1800}" "${smoke[@]}" \
    2>&1) || rc=$?
  echo "$verdict"
  if [[ $rc -ne 0 ]]; then
    printf '### rollout of %s: FAILED\n\n%s\n\nRunbook: monitoring/RUNBOOK.md.\n' \
      "$stage" "$(tail -n 1 <<< "$verdict")" >> "$summary"
    return 2
  fi
  printf '### rollout of %s: verified\n\n%s\n' "$stage" "$verdict" >> "$summary"
}

if [[ "$mode" == verify ]]; then
  verify_rollout
  exit $?
fi

if [[ "$mode" == apply ]]; then
  [[ -f "$out/tfplan" ]] || { echo "::error::no saved plan at $out/tfplan" >&2; exit 1; }
  terraform -chdir="$root" apply -input=false -no-color "$out/tfplan"
  # shellcheck disable=SC2016 # markdown backticks, not a command substitution
  printf '### terraform apply (%s): done\n\nCommit `%s`.\n' "$stage" "${GITHUB_SHA:-local}" \
    >> "$summary"
  verify_rollout
  exit $?
fi

set +e
terraform -chdir="$root" plan -input=false -no-color -detailed-exitcode \
  -lock="${PLAN_LOCK:-true}" -out="$out/tfplan" 2>&1 | tee "$out/plan.log"
rc=${PIPESTATUS[0]}
set -e

marker="<!-- terraform-plan:${stage} -->"
case "$rc" in
  0) changes=false status="no changes" ;;
  2) changes=true status="changes" ;;
  *) changes=false status="FAILED (exit $rc)" ;;
esac
if [[ "$rc" == 0 || "$rc" == 2 ]]; then
  terraform -chdir="$root" show -no-color "$out/tfplan" > "$out/plan.txt"
  terraform -chdir="$root" show -json "$out/tfplan" > "$out/plan.json"
  summary_line=$(grep -E '^(Plan:|No changes\.)' "$out/plan.log" | tail -n 1 || true)
  # Reviewers read the list of changed resources first; the full plan follows, folded.
  changed=$(python3 - "$out/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
for change in plan.get("resource_changes", []):
    actions = change["change"]["actions"]
    if actions == ["no-op"] or actions == ["read"]:
        continue
    label = "replace" if sorted(actions) == ["create", "delete"] else "/".join(actions)
    print(f"- `{label}` {change['address']}")
PY
)
else
  # The errors come last in the log, after any partial plan: show them first.
  if grep -qE '^(│ )?Error: ' "$out/plan.log"; then
    awk '/^(│ )?Error: /{found=1} found' "$out/plan.log" > "$out/plan.txt"
  else
    tail -c "$max_plan_chars" "$out/plan.log" > "$out/plan.txt"
  fi
  summary_line="terraform plan failed; the errors are below."
  changed=""
fi

body=$(head -c "$max_plan_chars" "$out/plan.txt")
truncated=""
if [[ $(wc -c < "$out/plan.txt") -gt $max_plan_chars ]]; then
  truncated=$'\n\n_Plan truncated; the full plan is in the job log._'
fi
{
  echo "$marker"
  echo "### terraform plan: \`${stage}\` — ${status}"
  echo
  echo "${summary_line}"
  echo
  echo "Commit \`${GITHUB_SHA:-local}\`, run ${GITHUB_SERVER_URL:-}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"
  echo
  if [[ -n "$changed" ]]; then
    echo "<details><summary>Changed resources</summary>"
    echo
    printf '%s\n' "$changed" | head -c 20000
    echo
    echo "</details>"
    echo
  fi
  echo "<details><summary>Show plan</summary>"
  echo
  echo '```'
  printf '%s\n' "$body"
  echo '```'
  echo "</details>${truncated}"
} > "$out/comment.md"
tail -n +2 "$out/comment.md" >> "$summary"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "changes=${changes}" >> "$GITHUB_OUTPUT"
fi
[[ "$rc" == 0 || "$rc" == 2 ]]
