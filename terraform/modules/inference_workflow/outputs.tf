output "functions" {
  description = "Each Lambda function by short name: `arn`, `name` (the CloudWatch dimension FunctionName), `runtime`, `environment` (the settings it reads), `role_arn` (its execution role) and `alias_arn` (the `live` alias the state machines call)."
  value = { for k, f in aws_lambda_function.this : k => {
    arn         = f.arn
    name        = f.function_name
    runtime     = f.runtime
    environment = f.environment[0].variables
    role_arn    = aws_iam_role.function[k].arn
    alias_arn   = aws_lambda_alias.live[k].arn
  } }
}

output "layer_arns" {
  description = "Layer version ARNs by key."
  value       = { for k, l in aws_lambda_layer_version.this : k => l.arn }
}

output "state_machines" {
  description = "Each state machine by short name: `arn`, `type` (STANDARD or EXPRESS; Express keeps no execution history: its logs are the trace) `definition` (the rendered ASL) and `role_arn` (the review machine runs as its own role)."
  value = { for k, sm in aws_sfn_state_machine.this : k => {
    arn        = sm.arn
    type       = sm.type
    definition = sm.definition
    role_arn   = sm.role_arn
  } }
}

output "state_machine_role_arn" {
  description = "Role the classify and batch machines run as (the review machine runs as its own: `state_machines.review.role_arn`)."
  value       = aws_iam_role.state_machine.arn
}

output "review_state_machine_arn" {
  description = "ARN of the review machine (the one that waits for reviewers); null without one."
  value       = try(aws_sfn_state_machine.this["review"].arn, null)
}

output "labels_uri" {
  description = "Where the label records are written: s3://<labels bucket>/<labels prefix>."
  value       = "s3://${local.labels_bucket}/${var.labels_prefix}"
}

output "live_misroute_alarm_name" {
  description = "Name of the LiveMisrouteRate alarm (the audit sample's misroute rate above target); null without a review machine."
  value       = try(aws_cloudwatch_metric_alarm.live_misroute_rate[0].alarm_name, null)
}

output "review_timed_out_alarm_name" {
  description = "Name of the ReviewTimedOut alarm; null without a review machine."
  value       = try(aws_cloudwatch_metric_alarm.review_timed_out[0].alarm_name, null)
}

output "review_queue_url" {
  description = "URL of the low-confidence review queue."
  value       = module.review_queue.queue.url
}

output "review_queue_arn" {
  description = "ARN of the review queue."
  value       = module.review_queue.queue.arn
}

output "log_group_names" {
  description = "Log groups of the functions and state machines."
  value = concat(
    [for g in aws_cloudwatch_log_group.function : g.name],
    [for g in aws_cloudwatch_log_group.state_machine : g.name],
  )
}

output "reviewer_policy_arn" {
  description = "IAM policy for the people who answer reviews (`python -m review`): attach it to their role or group. Null until the stage has a review state machine."
  value       = try(aws_iam_policy.reviewer[0].arn, null)
}

output "labels_reader_policy_arn" {
  description = "IAM policy to read the label records and the uploads they point at (`training.data stage --source labels:...`, `training.live_quality`): attach it to the role of the people who retrain."
  value       = aws_iam_policy.labels_reader.arn
}

output "trigger_dead_letter_queue_name" {
  description = "SQS queue holding uploads whose workflow start failed after EventBridge's retries (null without a trigger)."
  value       = var.trigger_state_machine == null ? null : module.trigger_dlq[0].queue.name
}

output "upload_buffer_queue_url" {
  description = "SQS queue where uploads wait for their workflow start (null without a trigger)."
  value       = local.upload_path ? module.upload_buffer[0].queue.url : null
}

output "upload_backlog_alarm_name" {
  description = "Alarm on the age of the oldest upload waiting in the buffer (null without a trigger)."
  value       = local.upload_path ? aws_cloudwatch_metric_alarm.upload_backlog[0].alarm_name : null
}
