module "system" {
  source = "../../modules/system"

  stage                = "prod"
  model_data_url       = var.model_data_url
  model_image_uri      = var.model_image_uri
  lambda_manifest_path = coalesce(var.lambda_manifest_path, "${path.root}/../../../build/lambda/manifest.json")
  drift_job_zip_path   = coalesce(var.drift_job_zip_path, "${path.root}/../../../build/monitoring_lambda.zip")

  endpoint = {
    instance_type     = "ml.m5.xlarge"
    min_capacity      = 2
    max_capacity      = 6
    canary_percentage = 10
  }
  log_retention_days = 400
}
