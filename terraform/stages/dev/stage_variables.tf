variable "release_role_arns" {
  description = "IAM roles of the release/deploy pipeline (the deploy workflow passes its deploy role): only they and the training role may write models/, baselines/ and lambda-artifacts/ of the data bucket. Empty (a developer's own dev stage): no such deny, and every plan warns."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.release_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "release_role_arns must be IAM role ARNs (arn:aws:iam::<account>:role/<name>)."
  }
}
