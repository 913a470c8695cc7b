output "oncall_topic_arn" {
  description = "ARN of the on-call SNS topic every alarm notifies."
  value       = aws_sns_topic.oncall.arn
}

output "drift_job_function_name" {
  description = "Name of the drift job function."
  value       = aws_lambda_function.drift_job.function_name
}

output "drift_job_runtime" {
  description = "Lambda runtime of the drift job."
  value       = aws_lambda_function.drift_job.runtime
}

output "drift_job_environment" {
  description = "Environment variables of the deployed drift job (its settings, monitoring/README.md)."
  value       = aws_lambda_function.drift_job.environment[0].variables
}

output "drift_job_function_arn" {
  description = "ARN of the drift job function."
  value       = aws_lambda_function.drift_job.arn
}

output "schedule_name" {
  description = "Name of the schedule that runs the drift job: the EventBridge Scheduler schedule (runner lambda or processing_job) or the SageMaker monitoring schedule (model_monitor)."
  value       = one(concat(aws_scheduler_schedule.drift_job[*].name, aws_sagemaker_monitoring_schedule.drift[*].name))
}

output "runner" {
  description = "What runs the scheduled drift job: lambda, processing_job or model_monitor."
  value       = var.runner
}

output "alarm_names" {
  description = "Monitoring alarms by purpose."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.metric : k => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.workflow_failures : "workflow_${k}" => a.alarm_name },
  )
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "budget_name" {
  description = "Name of the stage's monthly cost budget (null without monthly_budget_usd)."
  value       = one(aws_budgets_budget.monthly[*].name)
}
