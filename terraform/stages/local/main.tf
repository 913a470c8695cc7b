locals {
  stage = "local"
}

module "system" {
  source = "../../modules/system"

  stage                = local.stage
  model_data_url       = var.model_data_url
  model_image_uri      = var.model_image_uri
  model_version        = var.model_version
  lambda_manifest_path = coalesce(var.lambda_manifest_path, "${path.root}/../../../build/lambda/manifest.json")

  # The public Powertools layer lives in AWS accounts the emulator does not have.
  powertools_layer_version = null
  # The demo and the tests start (and follow) each execution themselves; moto would run the
  # upload starter on every upload and start a second one. tests/stepfunctions/
  # test_upload_rate_cap.py runs the upload path end to end instead.
  upload_starter_enabled = false
  endpoint = {
    deployment_wait_seconds = 0
  }
  # The emulator bills nothing (benchmarks.bench_costs prices dev and prod only).
  expected_images_per_month = 0
  log_retention_days        = 1
  force_destroy             = true
  kms_deletion_window_days  = 7

  # The promoted model's routing threshold (model.auto.tfvars.json). null: route with it; a
  # number in (0, 1) pins this stage's own instead (then release the model again: the release
  # step rebuilds the drift baseline at the pin; a plan refuses a stale one); the outputs
  # effective_decision_threshold / decision_threshold_pinned show which applies.
  decision_threshold          = var.decision_threshold
  decision_threshold_override = null

  # The served model's drift baseline, built by the release step at the effective threshold.
  model_sha256       = var.model_sha256
  baseline_s3_uri    = var.baseline_s3_uri
  baseline_threshold = var.baseline_threshold

  # The demo answers reviews at once; an unanswered one ends ReviewTimedOut within minutes. No
  # audit sample here, so a confident image always routes (deterministic local runs and tests).
  review = {
    timeout_seconds   = 600
    audit_sample_rate = 0
  }
}
