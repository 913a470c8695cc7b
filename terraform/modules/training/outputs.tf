output "execution_role_arn" {
  description = "ARN of the SageMaker execution role of training and tuning jobs."
  value       = aws_iam_role.execution.arn
}

output "parameter_path" {
  description = "SSM path holding role_arn, data_bucket, input_prefix, output_prefix, kms_key_arn and region for the launchers."
  value       = local.parameter_path
}

output "parameter_names" {
  description = "Full SSM parameter names by setting."
  value       = { for k, p in aws_ssm_parameter.training : k => p.name }
}

output "output_s3_uri" {
  description = "Where training jobs write model artifacts."
  value       = "s3://${var.data_bucket}/${var.output_prefix}"
}
