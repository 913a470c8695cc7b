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
    {
      drift          = aws_cloudwatch_metric_alarm.drift.alarm_name
      low_confidence = aws_cloudwatch_metric_alarm.low_confidence.alarm_name
      no_data        = aws_cloudwatch_metric_alarm.no_data.alarm_name
      job_errors     = aws_cloudwatch_metric_alarm.drift_job_errors.alarm_name
      job_failed     = aws_cloudwatch_metric_alarm.drift_job_failed.alarm_name
    },
    { for k, a in aws_cloudwatch_metric_alarm.workflow_failures : "workflow_${k}" => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.workflow_errors : k => a.alarm_name },
    { for a in aws_cloudwatch_metric_alarm.trigger_dead_letters : "upload_dead_letters" => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.function_throttles : "${k}_throttles" => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.workflow_throttled : "workflow_${k}_throttled" => a.alarm_name },
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
