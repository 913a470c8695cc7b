variable "name" {
  description = "Queue name, e.g. `vehicle-classifier-dev-review`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,80}$", var.name))
    error_message = "name must be 1-80 letters, digits, hyphens or underscores (an SQS standard queue name)."
  }
}

variable "kms_key_arn" {
  description = "The stage key the queue's messages are encrypted with."
  type        = string
}

variable "kms_data_key_reuse_period_seconds" {
  description = "How long SQS reuses a data key before calling KMS again (60-86400)."
  type        = number
  default     = 300
}

variable "message_retention_seconds" {
  description = "How long a message is kept (60-1209600); the default, 14 days, is the most SQS keeps."
  type        = number
  default     = 1209600
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden from other consumers."
  type        = number
  default     = 30
}

variable "redrive_policy" {
  description = "JSON redrive policy (deadLetterTargetArn, maxReceiveCount); null for none."
  type        = string
  default     = null
}

variable "sender" {
  description = "The one AWS service (`service` principal) that may send, and only on behalf of `source_arn` (statement `sid`); null: no resource-based grant (senders with an IAM grant only)."
  type = object({
    sid        = string
    service    = string
    source_arn = string
  })
  default = null
}

variable "tags" {
  description = "Tags added to the queue."
  type        = map(string)
  default     = {}
}
