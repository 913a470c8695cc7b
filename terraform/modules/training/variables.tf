variable "name" {
  description = "Name prefix of every resource, e.g. `vehicle-classifier-dev`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "stage" {
  description = "Stage name: dev, prod or local (part of the SSM parameter path)."
  type        = string

  validation {
    condition     = contains(["dev", "prod", "local"], var.stage)
    error_message = "stage must be one of dev, prod, local."
  }
}

variable "data_bucket" {
  description = "Bucket with the staged data channels and the model artifacts."
  type        = string
}

variable "data_bucket_arn" {
  description = "ARN of the data bucket."
  type        = string
}

variable "input_prefixes" {
  description = "Key prefixes (no trailing /) training jobs may read: the staged data channels."
  type        = list(string)
  default     = ["data", "baselines"]

  validation {
    condition     = length(var.input_prefixes) > 0 && alltrue([for p in var.input_prefixes : can(regex("^[A-Za-z0-9][A-Za-z0-9_/-]*[A-Za-z0-9]$", p))])
    error_message = "input_prefixes must be non-empty key prefixes without leading or trailing '/'."
  }
}

variable "output_prefix" {
  description = "Key prefix (no trailing /) where training jobs write model artifacts, checkpoints and reports."
  type        = string
  default     = "models"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_/-]*[A-Za-z0-9]$", var.output_prefix))
    error_message = "output_prefix must be a key prefix without leading or trailing '/'."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the data bucket; training volumes and outputs use it too."
  type        = string
}

variable "training_image_repository_arns" {
  description = "ECR repositories of custom training images the role may pull; AWS-owned built-in and framework images need none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.training_image_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", arn))])
    error_message = "training_image_repository_arns must be ECR repository ARNs."
  }
}

variable "parameter_prefix" {
  description = "SSM parameter path prefix; parameters land under <prefix>/<stage>/training/."
  type        = string
  default     = "/vehicle-classifier"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.parameter_prefix))
    error_message = "parameter_prefix must start with '/' and not end with '/', e.g. /vehicle-classifier."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
