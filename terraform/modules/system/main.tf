# The whole system for one stage. Stage roots only choose values; the wiring lives here once.
data "aws_region" "current" {}

locals {
  name          = "${var.project}-${var.stage}"
  asl_dir       = coalesce(var.stepfunctions_dir, "${path.module}/../../../stepfunctions")
  manifest_dir  = dirname(var.lambda_manifest_path)
  manifest      = jsondecode(file(var.lambda_manifest_path))
  package_files = { for k, p in local.manifest.functions : k => "${local.manifest_dir}/${p.filename}" }

  # What each workflow function may do besides logging and tracing.
  function_permissions = {
    serialize_image   = ["read_images"]
    classify_image    = ["invoke_endpoint"]
    filter_inferences = ["send_to_review_queue"]
  }

  powertools_layer_arns = var.powertools_layer_version == null ? [] : [
    "arn:aws:lambda:${data.aws_region.current.name}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:${var.powertools_layer_version}"
  ]
}

module "storage" {
  source = "../storage"

  name                     = local.name
  force_destroy            = var.force_destroy
  kms_deletion_window_days = var.kms_deletion_window_days
  tags                     = var.tags
}

module "training" {
  source = "../training"

  name            = local.name
  stage           = var.stage
  data_bucket     = module.storage.data_bucket
  data_bucket_arn = module.storage.data_bucket_arn
  kms_key_arn     = module.storage.kms_key_arn
  tags            = var.tags
}

module "model_endpoint" {
  source = "../model_endpoint"

  name                            = local.name
  model_data_url                  = var.model_data_url
  model_image_uri                 = var.model_image_uri
  model_environment               = var.model_environment
  model_bucket_arn                = "arn:aws:s3:::${regex("^s3://([^/]+)/", var.model_data_url)[0]}"
  kms_key_arn                     = module.storage.kms_key_arn
  serverless                      = var.endpoint.serverless
  instance_type                   = var.endpoint.instance_type
  min_capacity                    = var.endpoint.min_capacity
  max_capacity                    = var.endpoint.max_capacity
  target_invocations_per_instance = var.endpoint.target_invocations_per_instance
  deployment_wait_seconds         = var.endpoint.deployment_wait_seconds
  canary_percentage               = var.endpoint.canary_percentage
  capture_sampling_percentage     = var.endpoint.capture_sampling_percentage
  latency_threshold_ms            = var.endpoint.latency_threshold_ms
  capture_bucket                  = module.storage.capture_bucket
  capture_bucket_arn              = module.storage.capture_bucket_arn
  alarm_actions                   = [module.monitoring.oncall_topic_arn]
  log_retention_days              = var.log_retention_days
  tags                            = var.tags
}

module "inference_workflow" {
  source = "../inference_workflow"

  name = local.name
  functions = {
    for k, p in local.manifest.functions : k => {
      filename         = local.package_files[k]
      source_code_hash = p.source_code_hash
      handler          = p.handler
      memory_size      = try(p.memory_size, 256)
      timeout          = try(p.timeout, 30)
      environment      = try(p.environment, {})
      permissions      = lookup(local.function_permissions, k, [])
    }
  }
  layer = try({
    filename         = "${local.manifest_dir}/${local.manifest.layer.filename}"
    source_code_hash = local.manifest.layer.source_code_hash
  }, null)
  extra_layer_arns  = local.powertools_layer_arns
  endpoint_name     = module.model_endpoint.endpoint_name
  endpoint_arn      = module.model_endpoint.endpoint_arn
  images_bucket     = module.storage.data_bucket
  images_bucket_arn = module.storage.data_bucket_arn
  kms_key_arn       = module.storage.kms_key_arn
  state_machines = {
    classify_image = { template = "${local.asl_dir}/classify_image.asl.json" }
    classify_batch = { template = "${local.asl_dir}/classify_batch.asl.json" }
  }
  trigger_state_machine = "classify_image"
  log_retention_days    = var.log_retention_days
  tags                  = var.tags
}

module "monitoring" {
  source = "../monitoring"

  name  = local.name
  stage = var.stage
  drift_job = {
    filename         = "${local.manifest_dir}/${local.manifest.drift_job.filename}"
    source_code_hash = local.manifest.drift_job.source_code_hash
    handler          = local.manifest.drift_job.handler
  }
  layer_arns               = concat(compact([module.inference_workflow.layer_arn]), local.powertools_layer_arns)
  schedule_expression      = var.monitoring.schedule_expression
  drift_threshold          = var.monitoring.drift_threshold
  low_confidence_threshold = var.monitoring.low_confidence_threshold
  no_data_periods          = var.monitoring.no_data_periods
  oncall_emails            = var.monitoring.oncall_emails
  endpoint_name            = module.model_endpoint.endpoint_name
  variant_name             = module.model_endpoint.variant_name
  endpoint_alarm_arns      = module.model_endpoint.alarm_arns
  state_machine_arns       = module.inference_workflow.state_machine_arns
  capture_bucket           = module.storage.capture_bucket
  capture_bucket_arn       = module.storage.capture_bucket_arn
  reports_bucket           = module.storage.reports_bucket
  reports_bucket_arn       = module.storage.reports_bucket_arn
  baseline_s3_uri          = "s3://${module.storage.data_bucket}/${var.monitoring.baseline_key}"
  baseline_bucket_arn      = module.storage.data_bucket_arn
  kms_key_arn              = module.storage.kms_key_arn
  log_retention_days       = var.log_retention_days
  tags                     = var.tags
}
