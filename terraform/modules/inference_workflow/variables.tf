variable "name" {
  description = "Name prefix of every resource, e.g. `vehicle-classifier-dev`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "functions" {
  description = <<-EOT
    Lambda functions by short name (e.g. serialize_image), from the repo's reproducible build
    (`python -m lambdas.build`): zip `filename`, its base64 SHA-256 `source_code_hash`, `handler`,
    extra `environment`, `memory_size` (MB), `timeout` (s), the keys of `layers` it uses, and the
    `permissions` it needs, each one of read_images (s3:GetObject/GetObjectVersion under
    images_prefix), invoke_endpoint (sagemaker:InvokeEndpoint on the endpoint),
    send_to_review_queue (sqs:SendMessage on the review queue), write_labels (s3:PutObject under
    labels_prefix of the labels bucket), start_uploads (the upload starter: consume the upload
    buffer queue, count and record starts in its ledger table, StartExecution on the
    trigger_state_machine; exactly one function has it when there is a trigger).
  EOT
  type = map(object({
    filename         = string
    source_code_hash = string
    handler          = string
    environment      = optional(map(string), {})
    memory_size      = optional(number, 256)
    timeout          = optional(number, 30)
    layers           = optional(list(string), [])
    permissions      = optional(list(string), [])
  }))

  validation {
    condition     = alltrue([for k, f in var.functions : can(regex("^[a-z][a-z0-9_]{0,30}$", k))])
    error_message = "function keys must be snake_case names of at most 31 characters (they become `<name>-<key>`)."
  }

  validation {
    condition = alltrue(flatten([for f in var.functions : [
      for p in f.permissions : contains(["read_images", "invoke_endpoint", "send_to_review_queue", "write_labels", "start_uploads"], p)
    ]]))
    error_message = "permissions may only be read_images, invoke_endpoint, send_to_review_queue, write_labels or start_uploads."
  }

  validation {
    condition     = alltrue([for f in var.functions : f.memory_size >= 128 && f.memory_size <= 10240 && f.timeout >= 1 && f.timeout <= 900])
    error_message = "memory_size must be 128-10240 MB and timeout 1-900 seconds."
  }

  validation {
    condition     = alltrue([for f in var.functions : can(regex("^[A-Za-z0-9+/]{43}=$", f.source_code_hash))])
    error_message = "source_code_hash must be the base64-encoded SHA-256 of the zip (as filebase64sha256 returns)."
  }
}

variable "layers" {
  description = "Layer zips from the same build by key (e.g. shared_layer, pillow_layer): `filename`, `source_code_hash`. Functions name the keys they use."
  type = map(object({
    filename         = string
    source_code_hash = string
  }))
  default = {}

  validation {
    condition     = alltrue([for k, l in var.layers : can(regex("^[a-z][a-z0-9_]{0,40}$", k)) && can(regex("^[A-Za-z0-9+/]{43}=$", l.source_code_hash))])
    error_message = "layer keys must be snake_case and source_code_hash the base64 SHA-256 of the zip."
  }
}

variable "extra_layer_arns" {
  description = "Further layers for every function, e.g. the AWS-managed Powertools for AWS Lambda (Python) layer ARN of the region."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.extra_layer_arns : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", arn))])
    error_message = "extra_layer_arns must be versioned Lambda layer ARNs (arn:aws:lambda:<region>:<account>:layer:<name>:<version>)."
  }
}

variable "runtime" {
  description = "Lambda runtime of every function and of the layers: the one the packages were built for (`lambdas.build --runtime`, recorded in its manifest)."
  type        = string

  validation {
    condition     = contains(["python3.13", "python3.14"], var.runtime)
    error_message = "runtime must be python3.13 or python3.14: Lambda runtimes on Amazon Linux 2023 with AWS standard support to 2029-06-30 (python3.11 loses it on 2026-06-30)."
  }
}

variable "architecture" {
  description = "Lambda architecture: x86_64 or arm64 (must match the wheels in the layer)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function; null leaves them on the unreserved pool (accounts with a low concurrency quota cannot reserve)."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null ? true : var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be null or at least 1."
  }
}

variable "code_signing_config_arn" {
  description = "Optional Lambda code-signing config (AWS Signer) enforced on every function."
  type        = string
  default     = null
}

variable "endpoint_arn" {
  description = "ARN of that endpoint (sagemaker:InvokeEndpoint is granted on it only)."
  type        = string
}

variable "images_bucket" {
  description = "Bucket that holds the images to classify."
  type        = string
}

variable "images_bucket_arn" {
  description = "ARN of the images bucket."
  type        = string
}

variable "images_prefix" {
  description = "Key prefix of the images to classify; read_images is scoped to it and uploads there start the workflow."
  type        = string
  default     = "incoming/"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_/-]*/$", var.images_prefix))
    error_message = "images_prefix must be a key prefix ending in '/', e.g. incoming/."
  }
}

variable "kms_key_arn" {
  description = "KMS key for log groups, the review queue, Lambda environments, the images bucket and the state machines' execution data."
  type        = string
}

variable "kms_data_key_reuse_period_seconds" {
  description = "How long Step Functions reuses a data key of kms_key_arn before asking KMS for a new one (60-900 s): fewer KMS calls against a shorter exposure of one key."
  type        = number
  default     = 300

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 900
    error_message = "kms_data_key_reuse_period_seconds must be between 60 and 900."
  }
}

variable "state_machines" {
  description = <<-EOT
    State machines by short name: `template` is the path of the ASL template (stepfunctions/*.asl.json)
    rendered with templatefile; `variables` are extra template values. Every template also gets
    `<function>_function_arn` (the `live` alias) for each function, `review_queue_url`,
    `review_state_machine_arn` (of the machine keyed `review`), `review_timeout_seconds`,
    `metrics_namespace`, `retry_interval_seconds`, `retry_max_delay_seconds`,
    `batch_results_bucket`, `batch_results_prefix` and `batch_max_concurrency`.
  EOT
  type = map(object({
    template  = string
    type      = optional(string, "STANDARD")
    variables = optional(map(string), {})
  }))

  validation {
    condition     = alltrue([for k, sm in var.state_machines : can(regex("^[a-z][a-z0-9_]{0,40}$", k)) && contains(["STANDARD", "EXPRESS"], sm.type)])
    error_message = "state machine keys must be snake_case (<= 41 chars) and type STANDARD or EXPRESS."
  }
}

variable "retry_interval_seconds" {
  description = "First retry interval of the workflow's Task retries (backoff x2)."
  type        = number
  default     = 2

  validation {
    condition     = var.retry_interval_seconds >= 1 && var.retry_interval_seconds <= 60
    error_message = "retry_interval_seconds must be between 1 and 60."
  }
}

variable "retry_max_delay_seconds" {
  description = "Cap of the retry backoff."
  type        = number
  default     = 30

  validation {
    condition     = var.retry_max_delay_seconds >= 1 && var.retry_max_delay_seconds <= 3600
    error_message = "retry_max_delay_seconds must be between 1 and 3600."
  }
}

variable "batch_results_prefix" {
  description = "Key prefix in the images bucket where batch runs write their results (ends with /)."
  type        = string
  default     = "batch-results/"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_/-]*/$", var.batch_results_prefix))
    error_message = "batch_results_prefix must be a key prefix ending in '/'."
  }
}

variable "batch_max_concurrency" {
  description = "Child executions a batch runs at a time (mind the endpoint's capacity)."
  type        = number
  default     = 50

  validation {
    condition     = var.batch_max_concurrency >= 1 && var.batch_max_concurrency <= 10000
    error_message = "batch_max_concurrency must be between 1 and 10000."
  }
}

variable "trigger_state_machine" {
  description = "Key of the state machine started for every object created under images_prefix (EventBridge -> buffer queue -> the start_uploads function, at most upload_starts_per_minute); null for no trigger."
  type        = string
  default     = null
}

variable "upload_starts_per_minute" {
  description = "Cap on the executions the upload path starts per minute (the stage's rate limit); uploads beyond it wait in the buffer queue, counted as UploadsDeferred."
  type        = number
  default     = 60

  validation {
    condition     = var.upload_starts_per_minute >= 1 && var.upload_starts_per_minute <= 18000 && floor(var.upload_starts_per_minute) == var.upload_starts_per_minute
    error_message = "upload_starts_per_minute must be a whole number from 1 to 18000 (Step Functions' StartExecution refill of 300/s)."
  }
}

variable "upload_starter_enabled" {
  description = "Whether the starter reads the upload buffer. false only in the emulator (stage local), where moto runs an event source mapping on every send and would start a second execution of each upload the demo and tests start themselves; uploads then wait in the buffer."
  type        = bool
  default     = true
}

variable "upload_backlog_alarm_seconds" {
  description = "Age of the oldest upload waiting in the buffer queue that pages on-call (<name>-upload-backlog)."
  type        = number
  default     = 900

  validation {
    condition     = var.upload_backlog_alarm_seconds >= 60 && var.upload_backlog_alarm_seconds <= 86400
    error_message = "upload_backlog_alarm_seconds must be between 60 and 86400."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda and Step Functions log groups."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_level" {
  description = "Powertools log level of the functions."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "review_message_retention_seconds" {
  description = "How long low-confidence cases wait in the review queue (60 s - 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.review_message_retention_seconds >= 60 && var.review_message_retention_seconds <= 1209600
    error_message = "review_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "review_timeout_seconds" {
  description = "How long a review waits for a reviewer's answer before it ends ReviewTimedOut (the review machine's TimeoutSeconds); at most review_message_retention_seconds."
  type        = number
  default     = 86400

  validation {
    condition     = var.review_timeout_seconds >= 1 && var.review_timeout_seconds <= 1209600 && floor(var.review_timeout_seconds) == var.review_timeout_seconds
    error_message = "review_timeout_seconds must be a whole number of seconds between 1 and 1209600 (14 days, the queue's longest retention)."
  }
}

variable "review_timed_out_alarm_threshold" {
  description = "ReviewTimedOut count per hour that raises the alarm."
  type        = number
  default     = 1

  validation {
    condition     = var.review_timed_out_alarm_threshold >= 1
    error_message = "review_timed_out_alarm_threshold must be at least 1."
  }
}

variable "live_misroute_alarm" {
  description = "The LiveMisrouteRate alarm on the audit sample (with a review machine): over one day with at least min_audits audited answers, page when the audited misroute rate exceeds target by more than z binomial standard errors. z 3.72 is a one-sided 1e-4 test: at most 0.1 % false pages per day at 200 or more audits (README \"Live quality\")."
  type = object({
    target     = optional(number, 0.01)
    min_audits = optional(number, 200)
    z          = optional(number, 3.72)
  })
  default = {}

  validation {
    condition     = var.live_misroute_alarm.target > 0 && var.live_misroute_alarm.target < 1
    error_message = "live_misroute_alarm.target must lie in (0, 1)."
  }

  validation {
    condition     = var.live_misroute_alarm.min_audits >= 30 && floor(var.live_misroute_alarm.min_audits) == var.live_misroute_alarm.min_audits
    error_message = "live_misroute_alarm.min_audits must be a whole number of at least 30 (fewer make the normal approximation page falsely)."
  }

  validation {
    condition     = var.live_misroute_alarm.z >= 2
    error_message = "live_misroute_alarm.z must be at least 2 standard errors."
  }
}

variable "alarm_actions" {
  description = "Actions (SNS topic ARNs) of the ReviewTimedOut and LiveMisrouteRate alarms, e.g. the on-call topic."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "review_state_machine_arn" {
  description = "The state machine that waits for reviewers (`.waitForTaskToken`); null means this module's `review` machine. The reviewer policy is created only when one of them exists."
  type        = string
  default     = null

  validation {
    condition     = var.review_state_machine_arn == null ? true : can(regex("^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}$", var.review_state_machine_arn))
    error_message = "review_state_machine_arn must be a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)."
  }
}

variable "labels_bucket_arn" {
  description = "Bucket of the label records (record_label writes them, reviewers may too; KMS-encrypted with kms_key_arn); null means the images bucket."
  type        = string
  default     = null
}

variable "labels_prefix" {
  description = "Key prefix of the label records (ends with /); write_labels and the reviewer policy may write only there."
  type        = string
  default     = "labels/"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_/-]*/$", var.labels_prefix))
    error_message = "labels_prefix must be a key prefix ending in '/', e.g. labels/."
  }
}
