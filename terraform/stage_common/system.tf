# Shared by the dev and prod roots (linked from their system.tf): the system module wired to the
# stage's inputs and to the values in the `locals` of the root's main.tf. The local stage wires
# its own (the emulator has no Powertools layer, starts no uploads, answers reviews at once).
module "system" {
  source = "../../modules/system"

  stage                = local.stage
  release_role_arns    = var.release_role_arns
  model_data_url       = var.model_data_url
  model_image_uri      = var.model_image_uri
  model_version        = var.model_version
  lambda_manifest_path = coalesce(var.lambda_manifest_path, "${path.root}/../../../build/lambda/manifest.json")

  endpoint                      = local.endpoint
  model_environment             = local.model_environment
  monthly_budget_usd            = local.monthly_budget_usd
  expected_images_per_month     = local.expected_images_per_month
  log_retention_days            = local.log_retention_days
  kms_deletion_window_days      = local.kms_deletion_window_days
  workflow_reserved_concurrency = local.workflow_reserved_concurrency
  upload_starts_per_minute      = local.upload_starts_per_minute
  routing                       = local.routing

  decision_threshold          = var.decision_threshold
  decision_threshold_override = local.decision_threshold_override

  # The served model's drift baseline, built by the release step at the effective threshold.
  model_sha256       = var.model_sha256
  baseline_s3_uri    = var.baseline_s3_uri
  baseline_threshold = var.baseline_threshold
}
