# The whole system for one stage. Stage roots only choose values; the wiring lives here once.
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  name         = "${var.project}-${var.stage}"
  asl_dir      = coalesce(var.stepfunctions_dir, "${path.module}/../../../stepfunctions")
  manifest_dir = dirname(var.lambda_manifest_path)
  # lambdas/README.md: {"functions": {name: {path, sha256, handler, layers}}, "layers": {name:
  # {path, sha256}}}: the workflow's functions and the drift job (drift_job), one build.
  manifest  = jsondecode(file(var.lambda_manifest_path))
  drift_job = local.manifest.functions.drift_job
  # The drift job's dependencies (numpy, Pillow, matplotlib: `--with-drift-deps`, ~40 MB) go
  # through S3 to the monitoring module; the workflow module gets the other layers.
  drift_deps_layer = lookup(local.manifest.layers, "drift_deps_layer", null)
  # One threshold for routing (filter Lambda) and for the drift job's below_threshold: the
  # model's own, unless the stage pins its own.
  decision_threshold = coalesce(var.decision_threshold_override, var.decision_threshold)
  # The release step publishes the baseline to the stage's data bucket; the drift job may read
  # that one object only.
  baseline_bucket = regex("^s3://([^/]+)/", var.baseline_s3_uri)[0]

  # One value for both deciders: a driver routed by the model or by a reviewer gets the same bay.
  routing_rules = jsonencode(var.routing)

  # What each workflow function may do besides logging and tracing (lambdas/README.md).
  function_permissions = {
    serialize_image = ["read_images"]
    classify_image  = ["read_images", "invoke_endpoint"]
    record_label    = ["write_labels"]
    start_workflow  = ["start_uploads"]
  }
  function_environment = {
    classify_image = {
      ENDPOINT_NAME = module.model_endpoint.endpoint_name
      MODEL_VERSION = var.model_version
    }
    filter_inferences = {
      CONFIDENCE_THRESHOLD = tostring(local.decision_threshold)
      AUDIT_SAMPLE_RATE    = tostring(var.review.audit_sample_rate)
      ROUTING_RULES        = local.routing_rules
    }
    # Label records go under labels/ of the data bucket, with the stage key. It routes answered
    # reviews, by the same rules as the filter.
    record_label = {
      LABELS_BUCKET     = module.storage.data_bucket
      LABELS_PREFIX     = var.review.labels_prefix
      LABELS_KMS_KEY_ID = module.storage.kms_key_arn
      ROUTING_RULES     = local.routing_rules
    }
  }
  # serialize_image decodes uploads up to 48 MP (contract/limits.py): a PNG photo decodes at full
  # size (about 340 MB with alpha), and Lambda's CPU share grows with its memory.
  function_memory = {
    serialize_image = 1024
  }

  # The public Powertools v3 layer is published per runtime: AWSLambdaPowertoolsPythonV3-python313-x86_64.
  powertools_layer_arns = var.powertools_layer_version == null ? [] : [
    "arn:aws:lambda:${data.aws_region.current.id}:017000801446:layer:AWSLambdaPowertoolsPythonV3-${replace(var.lambda_runtime, ".", "")}-x86_64:${var.powertools_layer_version}"
  ]
}

# A real stage without release roles: any role with s3:PutObject on the data bucket may replace the
# model or the drift baseline the next deploy or drift run trusts. prod refuses it (its variable's
# validation); elsewhere every plan says so.
check "trusted_artifacts_have_writers" {
  assert {
    condition     = var.stage == "local" || length(var.release_role_arns) > 0
    error_message = "release_role_arns is empty: models/, baselines/ and lambda-artifacts/ of ${local.name}'s data bucket are writable by any role with s3:PutObject on it. Set the release (deploy) role(s)."
  }
}

module "storage" {
  source = "../storage"

  name                     = local.name
  force_destroy            = var.force_destroy
  kms_deletion_window_days = var.kms_deletion_window_days
  # Training jobs write models/ themselves; the release roles write the rest.
  artifact_writer_arns = length(var.release_role_arns) == 0 ? [] : concat(var.release_role_arns, [module.training.execution_role_arn])
  tags                 = var.tags
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
  serverless_memory_mb            = var.endpoint.serverless_memory_mb
  off_hours                       = var.endpoint.off_hours
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
      filename         = "${local.manifest_dir}/${basename(p.path)}"
      source_code_hash = p.sha256
      handler          = p.handler
      environment      = lookup(local.function_environment, k, {})
      # The layers the build made for it (the Pillow layer only where images are decoded).
      layers      = p.layers
      permissions = lookup(local.function_permissions, k, [])
      memory_size = lookup(local.function_memory, k, 256)
    } if k != "drift_job"
  }
  layers = {
    for k, l in local.manifest.layers : k => {
      filename         = "${local.manifest_dir}/${basename(l.path)}"
      source_code_hash = l.sha256
    } if k != "drift_deps_layer"
  }
  extra_layer_arns  = local.powertools_layer_arns
  runtime           = var.lambda_runtime
  endpoint_arn      = module.model_endpoint.endpoint_arn
  images_bucket     = module.storage.data_bucket
  images_prefix     = module.storage.uploads_prefix
  images_bucket_arn = module.storage.data_bucket_arn
  kms_key_arn       = module.storage.kms_key_arn
  # The automatic path runs as Express (billed per request and duration, not per state
  # transition); the machines that wait, for a person (review) or for a Distributed Map
  # (classify_batch), stay Standard (stepfunctions/README.md).
  state_machines = {
    classify_image = { template = "${local.asl_dir}/classify_image.asl.json", type = "EXPRESS" }
    classify_batch = { template = "${local.asl_dir}/classify_batch.asl.json" }
    review         = { template = "${local.asl_dir}/review.asl.json" }
  }
  trigger_state_machine            = "classify_image"
  upload_starts_per_minute         = var.upload_starts_per_minute
  upload_starter_enabled           = var.upload_starter_enabled
  reserved_concurrency             = var.workflow_reserved_concurrency
  review_timeout_seconds           = var.review.timeout_seconds
  review_timed_out_alarm_threshold = var.review.timed_out_alarm_threshold
  live_misroute_alarm              = var.review.live_misroute_alarm
  alarm_actions                    = [module.monitoring.oncall_topic_arn]
  labels_bucket_arn                = module.storage.data_bucket_arn
  labels_prefix                    = var.review.labels_prefix
  log_retention_days               = var.log_retention_days
  tags                             = var.tags
}

locals {
  state_machine_arns      = { for k, m in module.inference_workflow.state_machines : k => m.arn }
  workflow_function_names = { for k, f in module.inference_workflow.functions : k => f.name }
}

module "monitoring" {
  source = "../monitoring"

  name  = local.name
  stage = var.stage
  drift_job = {
    filename         = "${local.manifest_dir}/${basename(local.drift_job.path)}"
    source_code_hash = local.drift_job.sha256
    handler          = local.drift_job.handler
  }
  drift_job_deps_layer = local.drift_deps_layer == null ? null : {
    filename         = "${local.manifest_dir}/${basename(local.drift_deps_layer.path)}"
    source_code_hash = local.drift_deps_layer.sha256
  }
  artifacts_bucket               = module.storage.data_bucket
  layer_arns                     = local.powertools_layer_arns
  runtime                        = var.lambda_runtime
  schedule_expression            = var.monitoring.schedule_expression
  runner                         = var.monitoring.runner
  container                      = var.monitoring.container
  drift_score_threshold          = var.monitoring.drift_score_threshold
  decision_threshold             = local.decision_threshold
  low_confidence_threshold       = var.monitoring.low_confidence_threshold
  no_data_periods                = var.monitoring.no_data_periods
  oncall_emails                  = var.monitoring.oncall_emails
  monthly_budget_usd             = var.monthly_budget_usd
  endpoint_name                  = module.model_endpoint.endpoint_name
  variant_name                   = module.model_endpoint.variant_name
  endpoint_alarm_arns            = module.model_endpoint.alarm_arns
  state_machine_arns             = local.state_machine_arns
  throttle_function_names        = local.workflow_function_names
  trigger_dead_letter_queue_name = module.inference_workflow.trigger_dead_letter_queue_name
  capture_bucket                 = module.storage.capture_bucket
  capture_bucket_arn             = module.storage.capture_bucket_arn
  reports_bucket                 = module.storage.reports_bucket
  reports_bucket_arn             = module.storage.reports_bucket_arn
  baseline_s3_uri                = var.baseline_s3_uri
  baseline_bucket_arn            = "arn:${data.aws_partition.current.partition}:s3:::${local.baseline_bucket}"
  model_sha256                   = var.model_sha256
  kms_key_arn                    = module.storage.kms_key_arn
  log_retention_days             = var.log_retention_days
  tags                           = var.tags
}
