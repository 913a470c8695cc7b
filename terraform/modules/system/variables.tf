variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "vehicle-classifier"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,24}$", var.project))
    error_message = "project must be 3-25 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "stage" {
  description = "Stage deployed: dev, prod or local (the emulator)."
  type        = string

  validation {
    condition     = contains(["dev", "prod", "local"], var.stage)
    error_message = "stage must be one of dev, prod, local."
  }
}

variable "model_data_url" {
  description = "Promoted model artifact (written by `python -m training.promote` into model.auto.tfvars.json)."
  type        = string
}

variable "model_image_uri" {
  description = "Inference image of the promoted model (written by `python -m training.promote`)."
  type        = string
}

variable "decision_threshold" {
  description = "The promoted model's routing threshold (its decision.json, written by `python -m training.promote`): an image is routed iff its top probability is >= it; in (0, 1)."
  type        = number

  validation {
    condition     = var.decision_threshold > 0 && var.decision_threshold < 1
    error_message = "decision_threshold must lie strictly between 0 and 1 (run python -m training.promote)."
  }
}

variable "decision_threshold_override" {
  description = "The stage's own routing threshold instead of the model's; null uses the model's. In (0, 1); the output effective_decision_threshold shows which applies."
  type        = number
  default     = null

  validation {
    condition     = var.decision_threshold_override == null ? true : var.decision_threshold_override > 0 && var.decision_threshold_override < 1
    error_message = "decision_threshold_override must be null or lie strictly between 0 and 1."
  }
}

variable "model_sha256" {
  description = "sha256 of the promoted model archive (written by the release step, `python -m training.promote ... --images DIR`): the drift job refuses a baseline of another model."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.model_sha256))
    error_message = "model_sha256 must be 64 lower-case hex digits (run python -m training.promote ... --images DIR)."
  }
}

variable "baseline_s3_uri" {
  description = "The promoted model's drift baseline, published by the release step at a per-model key in the stage's data bucket (`s3://<data bucket>/baselines/<model_version>/...`)."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/baselines/.+\\.json$", var.baseline_s3_uri))
    error_message = "baseline_s3_uri must be an s3://<bucket>/baselines/.../*.json URI (run python -m training.promote ... --images DIR)."
  }
}

variable "baseline_threshold" {
  description = "The threshold the release step counted the baseline's below_threshold at. It must equal the stage's effective threshold (decision_threshold_override, else decision_threshold): a pin changed without a rebuilt baseline is refused at plan, not by the hourly drift job."
  type        = number

  validation {
    condition     = var.baseline_threshold == coalesce(var.decision_threshold_override, var.decision_threshold)
    error_message = "the drift baseline was built at another threshold than the stage routes at (decision_threshold_override, else the model's decision_threshold): release the model again, which rebuilds the baseline at the stage's threshold (python -m training.promote --stage <stage> ... --images DIR)."
  }
}

variable "model_environment" {
  description = "Environment of the inference container."
  type        = map(string)
  default     = {}
}

variable "endpoint" {
  description = "Endpoint sizing: serverless (and its memory) or instance type, min/max instances, target invocations per instance per minute, blue/green bake time (s), canary share (%) and an optional off-hours scale-down schedule."
  type = object({
    serverless                      = optional(bool, false)
    instance_type                   = optional(string, "ml.m5.large")
    min_capacity                    = optional(number, 1)
    max_capacity                    = optional(number, 2)
    target_invocations_per_instance = optional(number, 200)
    deployment_wait_seconds         = optional(number, 300)
    canary_percentage               = optional(number, 0)
    capture_sampling_percentage     = optional(number, 100)
    latency_threshold_ms            = optional(number, 500)
    serverless_memory_mb            = optional(number, 2048)
    # Scheduled scale-down of an instance endpoint (modules/model_endpoint: off_hours).
    off_hours = optional(object({
      scale_down_cron = string
      scale_up_cron   = string
      timezone        = optional(string, "UTC")
      capacity        = optional(number, 1)
    }))
  })
  default = {}
}

variable "expected_images_per_month" {
  description = "Images the stage is sized and budgeted for a month (the cost table in README: Costs and cost controls, printed by benchmarks.bench_costs). A whole number >= 0."
  type        = number

  validation {
    condition     = var.expected_images_per_month >= 0 && floor(var.expected_images_per_month) == var.expected_images_per_month
    error_message = "expected_images_per_month must be a whole number >= 0."
  }
}

variable "monthly_budget_usd" {
  description = "AWS Budgets cost budget of the stage a month (USD, costs tagged Stage=<stage>): on-call is paged at 80 % actual and 100 % forecast. null: no budget (the emulator stage)."
  type        = number
  default     = null

  validation {
    condition     = var.monthly_budget_usd == null ? true : var.monthly_budget_usd >= 1 && var.monthly_budget_usd <= 1000000
    error_message = "monthly_budget_usd must be null or an amount from 1 to 1,000,000 USD."
  }
}

variable "lambda_runtime" {
  description = "Lambda runtime of every function and layer of the stage (workflow and drift job); the packages must be built for it (`lambdas.build --runtime`). README: Lambda runtime."
  type        = string
  default     = "python3.13"

  validation {
    condition     = contains(["python3.13", "python3.14"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.13 or python3.14: Lambda runtimes on Amazon Linux 2023 with AWS standard support to 2029-06-30 (python3.11 loses it on 2026-06-30)."
  }

  validation {
    condition     = try(jsondecode(file(var.lambda_manifest_path)).runtime, null) == var.lambda_runtime
    error_message = "lambda_runtime must be the runtime the workflow packages were built for (\"runtime\" in the manifest at lambda_manifest_path): rebuild with `python -m lambdas.build --runtime <lambda_runtime>`."
  }
}

variable "lambda_manifest_path" {
  description = "Path of the manifest.json written by `python -m lambdas.build --out <dir> --with-pillow --with-drift-deps` (every function's zip, hash, handler and layers: the workflow's and the drift job's). The local stage may leave out the layers that need PyPI."
  type        = string

  validation {
    condition     = can(jsondecode(file(var.lambda_manifest_path)).functions.drift_job.handler)
    error_message = "lambda_manifest_path has no drift_job function: rebuild with `python -m lambdas.build` (it packages the drift job beside the workflow's functions)."
  }

  validation {
    condition     = var.stage == "local" || can(jsondecode(file(var.lambda_manifest_path)).layers.drift_deps_layer.sha256)
    error_message = "The drift job needs its dependencies layer outside the local stage: build with `python -m lambdas.build --with-drift-deps`."
  }
}

variable "powertools_layer_version" {
  description = "Version of the AWS-managed Powertools for AWS Lambda (Python) v3 layer for lambda_runtime (AWSLambdaPowertoolsPythonV3-<python3NN>-x86_64); null adds no public layer (the emulator stage)."
  type        = number
  default     = 27
}

variable "stepfunctions_dir" {
  description = "Directory holding the ASL templates classify_image.asl.json, classify_batch.asl.json and review.asl.json; null for the repo's stepfunctions/."
  type        = string
  default     = null
}

variable "monitoring" {
  description = "Drift monitoring: schedule expression, DriftScore alarm threshold, low-confidence-rate alarm threshold in (0, 1), hours without data before paging, on-call e-mails (the low-confidence threshold is the effective decision threshold), and what runs the drift job: `runner` (`lambda`, `processing_job` or `model_monitor`) with `container` for the last two."
  type = object({
    schedule_expression      = optional(string, "cron(5 * * * ? *)")
    drift_score_threshold    = optional(number, 1.0)
    low_confidence_threshold = optional(number, 0.5)
    no_data_periods          = optional(number, 2)
    oncall_emails            = optional(list(string), [])
    # What runs the scheduled drift job: lambda, processing_job or model_monitor (with container);
    # see modules/monitoring and the README, "Where the drift job runs".
    runner = optional(string, "lambda")
    container = optional(object({
      image_uri           = string
      instance_type       = optional(string, "ml.m5.xlarge")
      volume_size_gb      = optional(number, 30)
      max_runtime_seconds = optional(number, 3000)
    }))
  })
  default = {}
}

variable "workflow_reserved_concurrency" {
  description = "Reserved concurrent executions of each upload-path function: caps the endpoint calls (cost) an uploader can cause; overflow is retried by the workflow and alarmed (Throttles). null: unreserved pool (accounts with the 10-execution starter quota cannot reserve)."
  type        = number
  default     = null

  validation {
    condition     = var.workflow_reserved_concurrency == null ? true : (var.workflow_reserved_concurrency >= 1 && var.workflow_reserved_concurrency <= 100 && floor(var.workflow_reserved_concurrency) == var.workflow_reserved_concurrency)
    error_message = "workflow_reserved_concurrency must be null or a whole number from 1 to 100."
  }
}

variable "upload_starts_per_minute" {
  description = "Cap on the classify executions the upload path starts per minute: a burst beyond it waits in the buffer queue (UploadsDeferred), pages when the oldest upload waits 15 min (<name>-upload-backlog), and is never dropped. Size it to what the endpoint serves."
  type        = number
  default     = 60

  validation {
    condition     = var.upload_starts_per_minute >= 1 && var.upload_starts_per_minute <= 18000 && floor(var.upload_starts_per_minute) == var.upload_starts_per_minute
    error_message = "upload_starts_per_minute must be a whole number from 1 to 18000."
  }
}

variable "upload_starter_enabled" {
  description = "false only for the emulator (stage local): the starter then leaves uploads in the buffer (see the inference_workflow module)."
  type        = bool
  default     = true
}

variable "release_role_arns" {
  description = "IAM roles that release and deploy (write model artifacts, baselines, layer zips). Non-empty: only these and the training role may write or delete under models/, baselines/, lambda-artifacts/ of the data bucket. Empty: no such deny (set it for every real stage)."
  type        = list(string)
  default     = []
}

variable "model_version" {
  description = "Version label of the promoted model; classify_image carries it into review messages and label records."
  type        = string
  default     = "unknown"
}

variable "review" {
  description = "Human review: share of confident images audited anyway (audit_sample_rate, in [0, 1]), how long a review waits for an answer (timeout_seconds, at most 14 days), ReviewTimedOut count per hour that pages on-call, the key prefix of the label records in the data bucket, and the LiveMisrouteRate alarm on the audits (live_misroute_alarm: target, min_audits per day, z; see the inference_workflow module)."
  type = object({
    audit_sample_rate         = optional(number, 0.02)
    timeout_seconds           = optional(number, 86400)
    timed_out_alarm_threshold = optional(number, 1)
    labels_prefix             = optional(string, "labels/")
    # Unset fields (null) take the inference_workflow module's defaults: one place holds them.
    live_misroute_alarm = optional(object({
      target     = optional(number)
      min_audits = optional(number)
      z          = optional(number)
    }), {})
  })
  default = {}

  validation {
    condition     = var.review.audit_sample_rate >= 0 && var.review.audit_sample_rate <= 1
    error_message = "review.audit_sample_rate must lie in [0, 1]."
  }
}

variable "routing" {
  description = "Where each vehicle loads and how far its orders may be: loading_bay and order_radius_km (0 < km <= 20000) per label. Both deciders (filter_inferences for the model's routes, record_label for the reviewer's) get the same value as ROUTING_RULES; the default is the functions' own (lambdas/shared/routing.py)."
  type = object({
    bicycle    = object({ loading_bay = string, order_radius_km = number })
    motorcycle = object({ loading_bay = string, order_radius_km = number })
  })
  default = {
    bicycle    = { loading_bay = "bay-bicycle", order_radius_km = 3 }
    motorcycle = { loading_bay = "bay-motorcycle", order_radius_km = 15 }
  }

  validation {
    condition = alltrue([
      for route in [var.routing.bicycle, var.routing.motorcycle] :
      length(trimspace(route.loading_bay)) > 0 && route.order_radius_km > 0 && route.order_radius_km <= 20000
    ])
    error_message = "routing: each label needs a non-empty loading_bay and 0 < order_radius_km <= 20000."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group of the stage."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let `terraform destroy` empty the buckets (throwaway stages only)."
  type        = bool
  default     = false
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the stage key is deleted after destroy."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource (the stages also set provider default_tags)."
  type        = map(string)
  default     = {}
}
