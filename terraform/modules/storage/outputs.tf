output "kms_key_arn" {
  description = "ARN of the stage's customer-managed KMS key (rotation on)."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the stage's KMS key."
  value       = aws_kms_key.this.key_id
}

output "data_bucket" {
  description = "Name of the data bucket (training data, model artifacts, workflow images)."
  value       = aws_s3_bucket.this["data"].id
}

output "data_bucket_arn" {
  description = "ARN of the data bucket."
  value       = aws_s3_bucket.this["data"].arn
}

output "capture_bucket" {
  description = "Name of the SageMaker data-capture bucket."
  value       = aws_s3_bucket.this["capture"].id
}

output "capture_bucket_arn" {
  description = "ARN of the data-capture bucket."
  value       = aws_s3_bucket.this["capture"].arn
}

output "reports_bucket" {
  description = "Name of the drift-report bucket."
  value       = aws_s3_bucket.this["reports"].id
}

output "reports_bucket_arn" {
  description = "ARN of the drift-report bucket."
  value       = aws_s3_bucket.this["reports"].arn
}

output "access_logs_bucket" {
  description = "Name of the S3 server access-log bucket."
  value       = aws_s3_bucket.access_logs.id
}

output "uploader_policy_arn" {
  description = "IAM policy for image uploaders: PutObject under uploads_prefix of the data bucket, nothing else."
  value       = aws_iam_policy.uploader.arn
}

output "uploads_prefix" {
  description = "Prefix of the data bucket that uploaders write to."
  value       = var.uploads_prefix
}

output "artifact_writer_arns" {
  description = "The roles that alone may write or delete under protected_prefixes (empty: no such deny)."
  value       = var.artifact_writer_arns
}
