variable "name" {
  description = "Name prefix for every resource, e.g. `vehicle-classifier-dev`. Lower-case letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets. Keep false outside throwaway stages."
  type        = bool
  default     = false
}

variable "capture_expiration_days" {
  description = "Days after which SageMaker data-capture objects expire (they hold raw request payloads)."
  type        = number
  default     = 90

  validation {
    condition     = var.capture_expiration_days >= 1 && var.capture_expiration_days <= 3650
    error_message = "capture_expiration_days must be between 1 and 3650."
  }
}

variable "report_expiration_days" {
  description = "Days after which drift reports expire."
  type        = number
  default     = 365

  validation {
    condition     = var.report_expiration_days >= 1 && var.report_expiration_days <= 3650
    error_message = "report_expiration_days must be between 1 and 3650."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current object versions are removed from every bucket."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_log_expiration_days" {
  description = "Days after which S3 server access logs expire."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be at least 1."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after `terraform destroy` (7-30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "uploads_prefix" {
  description = "Prefix of the data bucket that uploaders write images to (it starts the workflow); the uploader policy can write only here."
  type        = string
  default     = "incoming/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]*/$", var.uploads_prefix))
    error_message = "uploads_prefix must be one lower-case path segment ending in '/', e.g. incoming/."
  }
}

variable "uploads_infrequent_access_days" {
  description = "Days after which uploaded images (uploads_prefix) move to S3 Standard-IA: the workflow has read them by then, retraining reads them rarely. null keeps them in Standard."
  type        = number
  default     = 30

  validation {
    condition     = var.uploads_infrequent_access_days == null || try(var.uploads_infrequent_access_days >= 30 && floor(var.uploads_infrequent_access_days) == var.uploads_infrequent_access_days, false)
    error_message = "uploads_infrequent_access_days must be a whole number of days >= 30 (S3's minimum for Standard-IA), or null."
  }
}

variable "uploads_expiration_days" {
  description = "Days after which uploaded images are deleted, for a stage whose retention policy requires it. null (default) keeps them: label records point at them and retraining reads them."
  type        = number
  default     = null

  validation {
    condition     = var.uploads_expiration_days == null || try(var.uploads_expiration_days >= 1 && floor(var.uploads_expiration_days) == var.uploads_expiration_days, false)
    error_message = "uploads_expiration_days must be a whole number of days >= 1, or null."
  }
}

variable "protected_prefixes" {
  description = "Data-bucket prefixes whose objects the system trusts (model artifacts, drift baselines, Lambda layer zips): only artifact_writer_arns may write or delete there."
  type        = list(string)
  default     = ["models/", "baselines/", "lambda-artifacts/"]

  validation {
    condition     = alltrue([for p in var.protected_prefixes : can(regex("^[a-z0-9][a-z0-9._-]*/$", p))])
    error_message = "protected_prefixes must be path segments ending in '/'."
  }
}

variable "artifact_writer_arns" {
  description = "IAM role ARNs allowed to write or delete under protected_prefixes (the release/deploy role, the training role). Empty: no such deny (the deployer's role is unknown); set it for every real stage."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.artifact_writer_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "artifact_writer_arns must be IAM role ARNs (arn:aws:iam::<account>:role/...)."
  }
}
