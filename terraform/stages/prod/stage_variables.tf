variable "release_role_arns" {
  description = "IAM roles of the release/deploy pipeline (the deploy workflow passes its deploy role): only they and the training role may write models/, baselines/ and lambda-artifacts/ of the data bucket. Required in prod: an empty list would let any role with s3:PutObject on the bucket replace the model or the drift baseline."
  type        = list(string)

  validation {
    condition     = length(var.release_role_arns) > 0 && alltrue([for a in var.release_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "prod needs release_role_arns: at least one IAM role ARN (arn:aws:iam::<account>:role/...) that releases models and baselines (e.g. TF_VAR_release_role_arns='[\"arn:aws:iam::111122223333:role/deploy\"]')."
  }
}
