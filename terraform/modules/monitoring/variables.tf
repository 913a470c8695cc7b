variable "name" {
  description = "Name prefix of every resource, e.g. `vehicle-classifier-dev`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "stage" {
  description = "Stage name (CloudWatch dimension Stage of the drift metrics): dev, prod or local."
  type        = string

  validation {
    condition     = contains(["dev", "prod", "local"], var.stage)
    error_message = "stage must be one of dev, prod, local."
  }
}

variable "drift_job" {
  description = "The drift job Lambda package from the repo's build: zip `filename`, base64 SHA-256 `source_code_hash`, `handler`, extra `environment`, `memory_size` (MB), `timeout` (s)."
  type = object({
    filename         = string
    source_code_hash = string
    handler          = string
    environment      = optional(map(string), {})
    memory_size      = optional(number, 1024)
    timeout          = optional(number, 900)
  })

  validation {
    condition     = var.drift_job.memory_size >= 128 && var.drift_job.memory_size <= 10240 && var.drift_job.timeout >= 1 && var.drift_job.timeout <= 900
    error_message = "drift_job.memory_size must be 128-10240 MB and timeout 1-900 seconds."
  }
}

variable "runner" {
  description = "What runs the scheduled drift job: `lambda` (default: EventBridge Scheduler invokes the function), `processing_job` (EventBridge Scheduler starts a SageMaker Processing job running `container`: capture volumes past one 15-minute Lambda run) or `model_monitor` (a SageMaker Model Monitor schedule runs `container` hourly under the bring-your-own-container contract; only accounts that have Model Monitor, closed to new customers). The Lambda stays deployed in every mode for runs by hand."
  type        = string
  default     = "lambda"

  validation {
    condition     = contains(["lambda", "processing_job", "model_monitor"], var.runner)
    error_message = "runner must be lambda, processing_job or model_monitor."
  }
}

variable "container" {
  description = "The drift job's container for runner `processing_job` or `model_monitor`: `image_uri` (ECR image with this repository installed, e.g. `pip install '.[fast]'`; for `model_monitor` its ENTRYPOINT must be `python3 -m monitoring`, Model Monitor takes no entry point), `instance_type`, `volume_size_gb`, `max_runtime_seconds`. Ignored by runner `lambda`."
  type = object({
    image_uri           = string
    instance_type       = optional(string, "ml.m5.xlarge")
    volume_size_gb      = optional(number, 30)
    max_runtime_seconds = optional(number, 3000)
  })
  default = null

  validation {
    condition     = var.runner == "lambda" || var.container != null
    error_message = "runner processing_job and model_monitor need container (image_uri at least)."
  }

  validation {
    condition     = var.container == null ? true : can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$", var.container.image_uri))
    error_message = "container.image_uri must be an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>)."
  }

  validation {
    condition     = var.container == null ? true : startswith(var.container.instance_type, "ml.") && var.container.volume_size_gb >= 1 && var.container.max_runtime_seconds >= 60 && var.container.max_runtime_seconds <= 3600
    error_message = "container: instance_type an ml.* type, volume_size_gb >= 1, max_runtime_seconds 60-3600 (one hourly window must finish before the next starts; Model Monitor allows at most 3600 for an hourly data-quality schedule)."
  }
}

variable "drift_job_deps_layer" {
  description = "Optional dependencies layer of the drift job (numpy, Pillow, matplotlib: `python -m lambdas.build --with-drift-deps`, `drift_deps_layer.zip`): zip `filename` and base64 SHA-256 `source_code_hash`. At ~45 MB it is uploaded through `artifacts_bucket`, not directly."
  type = object({
    filename         = string
    source_code_hash = string
  })
  default = null
}

variable "artifacts_bucket" {
  description = "Bucket for large deployment artifacts (the deps layer zip), under lambda-artifacts/."
  type        = string
  default     = null
}

variable "layer_arns" {
  description = "Further layers of the drift job (e.g. the Powertools layer)."
  type        = list(string)
  default     = []
}

variable "runtime" {
  description = "Lambda runtime of the drift job and its layer: the one `lambdas.build --runtime` built them for."
  type        = string

  validation {
    condition     = contains(["python3.13", "python3.14"], var.runtime)
    error_message = "runtime must be python3.13 or python3.14: Lambda runtimes on Amazon Linux 2023 with AWS standard support to 2029-06-30 (python3.11 loses it on 2026-06-30)."
  }
}

variable "schedule_expression" {
  description = "When the drift job runs: an EventBridge Scheduler `rate(...)` or `cron(...)` expression. The default runs 5 minutes past every hour so the last capture files of the hour have landed."
  type        = string
  default     = "cron(5 * * * ? *)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\))$", var.schedule_expression))
    error_message = "schedule_expression must be rate(<n> minute(s)|hour(s)|day(s)) or a six-field cron(...) expression, e.g. rate(1 hour) or cron(0 * * * ? *)."
  }
}

variable "schedule_timezone" {
  description = "Time zone of cron schedules."
  type        = string
  default     = "UTC"
}

variable "endpoint_name" {
  description = "SageMaker endpoint watched (dimension EndpointName)."
  type        = string
}

variable "variant_name" {
  description = "Production variant watched (dimension VariantName)."
  type        = string
}

variable "endpoint_alarm_arns" {
  description = "ARNs of the endpoint's own alarms (5xx, latency) shown on the dashboard."
  type        = list(string)
  default     = []
}

variable "state_machine_arns" {
  description = "Workflow state machines by short name; each gets an execution-failure alarm."
  type        = map(string)
  default     = {}
}

variable "throttle_function_names" {
  description = "Upload-path Lambda functions by short name (FunctionName values); each gets an alarm on its Throttles, the overflow of its reserved concurrency."
  type        = map(string)
  default     = {}
}

variable "trigger_dead_letter_queue_name" {
  description = "SQS dead-letter queue of the upload trigger (uploads whose workflow start failed); null: no alarm."
  type        = string
  default     = null
}

variable "workflow_metric_namespace" {
  description = "EMF namespace of the workflow functions' metrics (lambdas/shared/observability.py)."
  type        = string
  default     = "VehicleClassifier"
}

variable "workflow_error_alarms" {
  description = "Workflow function error metrics that page on-call: `metric` (an error class name the function counts), `service` (its POWERTOOLS_SERVICE_NAME dimension), `threshold` per 5 minutes. Every classify_image execution ends SUCCEEDED by design (stepfunctions/README.md), so these, not ExecutionsFailed, show a broken model or deployment."
  type = map(object({
    metric    = string
    service   = string
    threshold = optional(number, 1)
  }))
  default = {
    model_errors            = { metric = "ModelError", service = "classify_image" }
    serialize_misconfigured = { metric = "ConfigurationError", service = "serialize_image" }
    classify_misconfigured  = { metric = "ConfigurationError", service = "classify_image" }
    filter_misconfigured    = { metric = "ConfigurationError", service = "filter_inferences" }
    record_misconfigured    = { metric = "ConfigurationError", service = "record_label" }
  }

  validation {
    condition     = alltrue([for a in values(var.workflow_error_alarms) : a.threshold >= 1])
    error_message = "workflow_error_alarms thresholds must be at least 1."
  }
}

variable "capture_bucket" {
  description = "Bucket with the endpoint's data capture (the drift job reads it)."
  type        = string
}

variable "capture_bucket_arn" {
  description = "ARN of the capture bucket."
  type        = string
}

variable "capture_prefix" {
  description = "Key prefix of the captured JSON Lines."
  type        = string
  default     = "datacapture"
}

variable "reports_bucket" {
  description = "Bucket the drift job writes its reports and plots to."
  type        = string
}

variable "reports_bucket_arn" {
  description = "ARN of the reports bucket."
  type        = string
}

variable "baseline_s3_uri" {
  description = "S3 URI of the served model's drift baseline, published by the release step (`python -m training.promote ... --images DIR`); the job reads only this object."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$", var.baseline_s3_uri))
    error_message = "baseline_s3_uri must be an s3://bucket/key URI."
  }
}

variable "model_sha256" {
  description = "sha256 of the served model archive (the release step's `model_sha256`): the job (MODEL_SHA256) refuses a baseline built with another model, failing and publishing JobFailed."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.model_sha256))
    error_message = "model_sha256 must be 64 lower-case hex digits (the sha256 of model.tar.gz, written by python -m training.promote)."
  }
}

variable "baseline_bucket_arn" {
  description = "ARN of the bucket holding the baseline (read access is limited to baseline_s3_uri)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the topic, the log group, the schedule and the buckets."
  type        = string
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the drift job's metrics."
  type        = string
  default     = "VehicleClassifier/Monitoring"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./#:-]{1,255}$", var.metric_namespace)) && !startswith(var.metric_namespace, "AWS/")
    error_message = "metric_namespace must be 1-255 of letters, digits and _ . / # : - and may not start with AWS/."
  }
}

variable "metric_names" {
  description = "Names of the drift job's metrics (monitoring/metrics.py): drift score (>= 1.0 means drift), low-confidence rate, records seen, invalid records, job failed."
  type = object({
    drift_score         = optional(string, "DriftScore")
    low_confidence_rate = optional(string, "LowConfidenceRate")
    records_seen        = optional(string, "RecordsSeen")
    invalid_records     = optional(string, "InvalidRecords")
    job_failed          = optional(string, "JobFailed")
  })
  default = {}
}

variable "drift_score_threshold" {
  description = "DriftScore at or above which the drift alarm fires. The job scales scores so that 1.0 is its calibrated drift boundary."
  type        = number
  default     = 1.0

  validation {
    condition     = var.drift_score_threshold > 0
    error_message = "drift_score_threshold must be positive (1.0 is the job's calibrated drift boundary)."
  }
}

variable "decision_threshold" {
  description = "The stage's routing threshold (the model's, or the stage's pin): a prediction whose top probability is below it counts as low-confidence (below_threshold, LowConfidenceRate); in (0, 1). Must equal the baseline's threshold, or the job refuses to run."
  type        = number

  validation {
    condition     = var.decision_threshold > 0 && var.decision_threshold < 1
    error_message = "decision_threshold must be strictly between 0 and 1."
  }
}

variable "low_confidence_threshold" {
  description = "Share of low-confidence predictions (LowConfidenceRate) above which the alarm fires; in (0, 1)."
  type        = number
  default     = 0.5

  validation {
    condition     = var.low_confidence_threshold > 0 && var.low_confidence_threshold < 1
    error_message = "low_confidence_threshold must be strictly between 0 and 1."
  }
}

variable "no_data_periods" {
  description = "Consecutive hourly periods without captured records before the no-data alarm fires."
  type        = number
  default     = 2

  validation {
    condition     = var.no_data_periods >= 1 && var.no_data_periods <= 24
    error_message = "no_data_periods must be between 1 and 24."
  }
}

variable "oncall_emails" {
  description = "E-mail addresses subscribed to the on-call topic (each must confirm)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.oncall_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "oncall_emails must be e-mail addresses."
  }
}

variable "log_retention_days" {
  description = "Retention of the drift job's log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "monthly_budget_usd" {
  description = "Monthly AWS Budgets cost budget of the stage in USD (costs tagged Stage=<stage>); notifications go to the on-call topic. null: no budget."
  type        = number
  default     = null

  validation {
    condition     = var.monthly_budget_usd == null ? true : var.monthly_budget_usd >= 1 && var.monthly_budget_usd <= 1000000
    error_message = "monthly_budget_usd must be null or an amount from 1 to 1,000,000 USD."
  }
}
