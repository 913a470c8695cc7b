# Shared by every stage root (linked from terraform/stages/<stage>/variables.tf); a stage's own
# inputs are in its stage_variables.tf.

# Written by `python -m training.promote --stage <stage>` into model.auto.tfvars.json.
variable "model_data_url" {
  description = "S3 URL of the promoted model.tar.gz."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be an s3://bucket/key URL of a .tar.gz model artifact (run python -m training.promote)."
  }
}

variable "model_image_uri" {
  description = "ECR URI of the inference image of the promoted model."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$", var.model_image_uri))
    error_message = "model_image_uri must be an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (run python -m training.promote)."
  }
}

variable "decision_threshold" {
  description = "Routing threshold the promoted model earned in training (its decision.json): routed iff top probability >= it."
  type        = number

  validation {
    condition     = var.decision_threshold > 0 && var.decision_threshold < 1
    error_message = "decision_threshold must lie strictly between 0 and 1 (run python -m training.promote)."
  }
}

variable "model_sha256" {
  description = "sha256 of the promoted model.tar.gz (the release step): the drift job refuses a baseline of another model."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.model_sha256))
    error_message = "model_sha256 must be 64 lower-case hex digits (run python -m training.promote ... --images DIR)."
  }
}

variable "baseline_s3_uri" {
  description = "The promoted model's drift baseline, published by the release step (s3://<data bucket>/baselines/<model_version>/...)."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/baselines/.+\\.json$", var.baseline_s3_uri))
    error_message = "baseline_s3_uri must be an s3://<bucket>/baselines/.../*.json URI (run python -m training.promote ... --images DIR)."
  }
}

variable "baseline_threshold" {
  description = "The threshold the release step built the baseline at (the stage's effective one at release time); the system module refuses a plan where it is not the stage's effective threshold."
  type        = number
}

variable "model_framework" {
  description = "Framework of the promoted model (informational, tagged on the stack)."
  type        = string
  default     = "unknown"
}

variable "model_version" {
  description = "Version label of the promoted model (informational, tagged on the stack)."
  type        = string
  default     = "unknown"
}

variable "lambda_manifest_path" {
  description = "manifest.json of `python -m lambdas.build --out <dir> --with-pillow --with-drift-deps` (every function, the drift job's too); null for the repo's build/lambda/manifest.json."
  type        = string
  default     = null
}
