output "endpoint_name" {
  description = "Name of the SageMaker endpoint."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the SageMaker endpoint (for sagemaker:InvokeEndpoint grants)."
  value       = aws_sagemaker_endpoint.this.arn
}

output "variant_name" {
  description = "Name of the production variant (CloudWatch dimension VariantName)."
  value       = local.variant_name
}

output "endpoint_config_name" {
  description = "Name of the endpoint configuration in service (changes with every promotion)."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "model_name" {
  description = "Name of the SageMaker model in service."
  value       = aws_sagemaker_model.this.name
}

output "execution_role_arn" {
  description = "ARN of the model's execution role."
  value       = aws_iam_role.this.arn
}

output "capture_s3_uri" {
  description = "Where data capture lands (null for serverless: no capture)."
  value       = local.instance_fleet ? local.capture_uri : null
}

output "alarm_names" {
  description = "Endpoint alarms that roll back a blue/green update and page on-call: 5xx and latency."
  value = {
    errors_5xx = aws_cloudwatch_metric_alarm.errors_5xx.alarm_name
    latency    = aws_cloudwatch_metric_alarm.latency.alarm_name
  }
}

output "alarm_arns" {
  description = "ARNs of the endpoint alarms."
  value       = [aws_cloudwatch_metric_alarm.errors_5xx.arn, aws_cloudwatch_metric_alarm.latency.arn]
}

output "off_hours_actions" {
  description = "Names of the off-hours scheduled actions (scale_down, scale_up); empty without off_hours or for serverless."
  value = local.off_hours ? {
    scale_down = aws_appautoscaling_scheduled_action.scale_down[0].name
    scale_up   = aws_appautoscaling_scheduled_action.scale_up[0].name
  } : {}
}
