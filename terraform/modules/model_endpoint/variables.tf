variable "name" {
  description = "Endpoint name, e.g. `vehicle-classifier-dev`. Also the prefix of the model, endpoint configs, role and alarms."
  type        = string

  validation {
    # Endpoint config names are the prefix "<name>-" plus 26 generated characters, at most 63.
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,35}$", var.name)) && length(var.name) <= 36
    error_message = "name must be 1-36 letters, digits and hyphens (SageMaker names; endpoint configs add 27 characters), not starting or ending with a hyphen."
  }
}

variable "model_data_url" {
  description = "S3 URL of the promoted model artifact (`s3://bucket/key/model.tar.gz`), written by `python -m training.promote`."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be an s3://bucket/key URL of a .tar.gz model artifact."
  }
}

variable "model_image_uri" {
  description = "ECR image URI of the inference container (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` or `@sha256:<digest>`)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$", var.model_image_uri))
    error_message = "model_image_uri must be an ECR image URI: <12-digit account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or @sha256:<digest>."
  }
}

variable "model_environment" {
  description = "Environment variables of the inference container, e.g. `SAGEMAKER_MODEL_SERVER_WORKERS` (serving workers; each gets its share of the vCPUs) and `SERVING_RUNTIME` (`auto`, `onnx` or `torch`: serving/inference.py)."
  type        = map(string)
  default     = {}

  validation {
    condition     = contains(["auto", "onnx", "torch"], lookup(var.model_environment, "SERVING_RUNTIME", "auto"))
    error_message = "model_environment.SERVING_RUNTIME must be auto, onnx or torch (the serving code refuses anything else at start-up)."
  }

  validation {
    condition     = can(regex("^[1-9][0-9]?$", lookup(var.model_environment, "SAGEMAKER_MODEL_SERVER_WORKERS", "1")))
    error_message = "model_environment.SAGEMAKER_MODEL_SERVER_WORKERS must be a whole number from 1 to 99."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the model artifact, the endpoint storage volume, the data capture and the log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "serverless" {
  description = "Serve from a serverless variant instead of instances. Serverless endpoints support neither data capture, blue/green guardrails nor Application Auto Scaling, so those are off; use it for dev only."
  type        = bool
  default     = false
}

variable "instance_type" {
  description = "Instance type of the production variant (ignored when serverless)."
  type        = string
  default     = "ml.m5.large"

  validation {
    condition     = can(regex("^ml\\.[a-z][a-z0-9]*\\.(medium|large|[0-9]*xlarge)$", var.instance_type))
    error_message = "instance_type must be a SageMaker hosting instance type such as ml.m5.large, ml.c5.xlarge or ml.g4dn.2xlarge."
  }
}

variable "min_capacity" {
  description = "Minimum instance count (also the initial count of a new endpoint config)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_capacity >= 1 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number >= 1."
  }
}

variable "max_capacity" {
  description = "Maximum instance count the target-tracking policy may scale to; must be >= min_capacity."
  type        = number
  default     = 2

  validation {
    condition     = var.max_capacity >= var.min_capacity && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number >= min_capacity."
  }
}

variable "target_invocations_per_instance" {
  description = "Target of the SageMakerVariantInvocationsPerInstance tracking policy (invocations per instance per minute)."
  type        = number
  default     = 200

  validation {
    condition     = var.target_invocations_per_instance > 0
    error_message = "target_invocations_per_instance must be positive."
  }
}

variable "scale_in_cooldown_seconds" {
  description = "Seconds between scale-in activities."
  type        = number
  default     = 300
}

variable "scale_out_cooldown_seconds" {
  description = "Seconds between scale-out activities."
  type        = number
  default     = 60
}

variable "serverless_memory_mb" {
  description = "Memory of the serverless variant: 1024-6144 in steps of 1024."
  type        = number
  default     = 2048

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless_memory_mb)
    error_message = "serverless_memory_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144."
  }
}

variable "serverless_max_concurrency" {
  description = "Maximum concurrent invocations of the serverless variant (1-200)."
  type        = number
  default     = 5

  validation {
    condition     = var.serverless_max_concurrency >= 1 && var.serverless_max_concurrency <= 200
    error_message = "serverless_max_concurrency must be between 1 and 200."
  }
}

variable "capture_bucket" {
  description = "Bucket that receives SageMaker data capture (instance variants only)."
  type        = string
}

variable "capture_bucket_arn" {
  description = "ARN of the capture bucket."
  type        = string
}

variable "capture_prefix" {
  description = "Key prefix of captured JSON Lines inside the capture bucket."
  type        = string
  default     = "datacapture"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_/-]*[A-Za-z0-9]$", var.capture_prefix))
    error_message = "capture_prefix must be letters, digits, '_', '-' and '/', without leading or trailing '/'."
  }
}

variable "capture_sampling_percentage" {
  description = "Percentage of requests captured (1-100)."
  type        = number
  default     = 100

  validation {
    condition     = var.capture_sampling_percentage >= 1 && var.capture_sampling_percentage <= 100
    error_message = "capture_sampling_percentage must be between 1 and 100."
  }
}

variable "deployment_wait_seconds" {
  description = "Seconds the blue/green update bakes the new fleet, watching the rollback alarms, before shifting traffic."
  type        = number
  default     = 300

  validation {
    condition     = var.deployment_wait_seconds >= 0 && var.deployment_wait_seconds <= 3600
    error_message = "deployment_wait_seconds must be between 0 and 3600."
  }
}

variable "canary_percentage" {
  description = "Traffic share of the canary step of a blue/green update; 0 shifts all traffic at once after the bake."
  type        = number
  default     = 0

  validation {
    condition     = var.canary_percentage >= 0 && var.canary_percentage < 100
    error_message = "canary_percentage must be in [0, 100)."
  }
}

variable "error_5xx_threshold" {
  description = "Invocation5XXErrors per minute at which the rollback/on-call alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.error_5xx_threshold >= 1
    error_message = "error_5xx_threshold must be at least 1."
  }
}

variable "latency_threshold_ms" {
  description = "p90 ModelLatency (milliseconds) at which the rollback/on-call alarm fires."
  type        = number
  default     = 500

  validation {
    condition     = var.latency_threshold_ms > 0
    error_message = "latency_threshold_ms must be positive."
  }
}

variable "alarm_actions" {
  description = "ARNs notified when the endpoint alarms fire or recover (the on-call SNS topic)."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the endpoint's CloudWatch log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "vpc_config" {
  description = "Optional VPC for the model containers (subnets and security groups)."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "off_hours" {
  description = "Off-hours scale-down of an instance endpoint: at scale_down_cron min and max capacity go to `capacity` (at least 1: a real-time endpoint cannot run 0 instances; serverless is what scales to 0), at scale_up_cron back to min_capacity/max_capacity. Crons are Application Auto Scaling `cron(M H ? * DAYS *)` in `timezone` (IANA name). null: no schedule."
  type = object({
    scale_down_cron = string
    scale_up_cron   = string
    timezone        = optional(string, "UTC")
    capacity        = optional(number, 1)
  })
  default = null

  validation {
    condition = var.off_hours == null ? true : alltrue([
      for cron in [var.off_hours.scale_down_cron, var.off_hours.scale_up_cron] :
      can(regex("^cron\\(([0-5]?[0-9]) ([01]?[0-9]|2[0-3]) \\? \\* (\\*|(MON|TUE|WED|THU|FRI|SAT|SUN)(-(MON|TUE|WED|THU|FRI|SAT|SUN))?(,(MON|TUE|WED|THU|FRI|SAT|SUN)(-(MON|TUE|WED|THU|FRI|SAT|SUN))?)*) \\*\\)$", cron))
    ])
    error_message = "off_hours.scale_down_cron and scale_up_cron must be cron(M H ? * DAYS *) with DAYS * or MON..SUN names, ranges and lists, e.g. cron(0 20 ? * MON-FRI *)."
  }

  validation {
    condition     = var.off_hours == null ? true : can(regex("^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$", var.off_hours.timezone))
    error_message = "off_hours.timezone must be UTC or an IANA time zone name such as Europe/Berlin."
  }

  validation {
    condition     = var.off_hours == null ? true : var.off_hours.capacity >= 1 && floor(var.off_hours.capacity) == var.off_hours.capacity
    error_message = "off_hours.capacity must be a whole number >= 1: a real-time endpoint cannot scale to 0 instances (use serverless for that)."
  }
}
