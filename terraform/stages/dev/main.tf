locals {
  stage = "dev"
}

module "system" {
  source = "../../modules/system"

  stage                = local.stage
  release_role_arns    = var.release_role_arns
  model_data_url       = var.model_data_url
  model_image_uri      = var.model_image_uri
  model_version        = var.model_version
  lambda_manifest_path = coalesce(var.lambda_manifest_path, "${path.root}/../../../build/lambda/manifest.json")
  drift_job_zip_path   = coalesce(var.drift_job_zip_path, "${path.root}/../../../build/monitoring/monitoring_lambda.zip")
  # numpy, Pillow and matplotlib for the drift job (`python -m monitoring.package --with-deps`).
  drift_job_deps_layer_path = coalesce(var.drift_job_deps_layer_path, "${path.root}/../../../build/monitoring/monitoring_deps_layer.zip")

  # One small instance; set serverless = true for a scale-to-zero dev endpoint (no data capture,
  # blue/green or autoscaling there).
  # Sized like prod from the model's throughput (README: Costs and cost controls).
  endpoint = {
    serverless                      = false
    instance_type                   = "ml.c6i.large"
    min_capacity                    = 1
    max_capacity                    = 2
    target_invocations_per_instance = 150
    # Nights and weekends: max to one instance (a real-time endpoint cannot go to 0; serverless
    # = true is the scale-to-zero dev). README: Costs and cost controls.
    off_hours = {
      scale_down_cron = "cron(0 20 ? * MON-FRI *)"
      scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
      timezone        = "UTC"
    }
  }
  # Pages on-call at 80 % spent and 100 % forecast (costs tagged Stage=dev).
  monthly_budget_usd = 150
  # Sizing and the cost table (README: Costs and cost controls) assume this traffic.
  expected_images_per_month = 100000
  log_retention_days        = 30
  kms_deletion_window_days  = 7
  # Uploads start at most 60 classifications a minute; a bigger burst waits in the buffer.
  upload_starts_per_minute = 60

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
}
