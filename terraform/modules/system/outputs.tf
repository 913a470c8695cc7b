output "name" {
  description = "Name prefix of the stage's resources."
  value       = local.name
}

output "kms_key_arn" {
  description = "The stage's KMS key."
  value       = module.storage.kms_key_arn
}

output "data_bucket" {
  description = "Data bucket (training data, model artifacts, images under incoming/)."
  value       = module.storage.data_bucket
}

output "capture_bucket" {
  description = "Data-capture bucket."
  value       = module.storage.capture_bucket
}

output "reports_bucket" {
  description = "Drift-report bucket."
  value       = module.storage.reports_bucket
}

output "endpoint_name" {
  description = "SageMaker endpoint name."
  value       = module.model_endpoint.endpoint_name
}

output "endpoint_config_name" {
  description = "Endpoint config Terraform applied (devkit.verify_rollout checks that SageMaker serves it)."
  value       = module.model_endpoint.endpoint_config_name
}

output "training_role_arn" {
  description = "SageMaker execution role for training jobs."
  value       = module.training.execution_role_arn
}

output "training_parameter_path" {
  description = "SSM path with the launcher settings."
  value       = module.training.parameter_path
}

output "state_machine_arns" {
  description = "Workflow state machines by short name."
  value       = local.state_machine_arns
}

output "function_names" {
  description = "Workflow Lambda function names by short name."
  value       = local.workflow_function_names
}

output "function_environments" {
  description = "Environment variables of each workflow Lambda and of the drift job (drift_job), by short name."
  value       = merge({ for k, f in module.inference_workflow.functions : k => f.environment }, { drift_job = module.monitoring.drift_job_environment })
}

output "review_state_machine_arn" {
  description = "The review machine: its executions wait for reviewers (SendTaskSuccess)."
  value       = module.inference_workflow.review_state_machine_arn
}

output "labels_uri" {
  description = "Where every final decision is kept as a label record (JSON Lines, SSE-KMS)."
  value       = module.inference_workflow.labels_uri
}

output "review_queue_url" {
  description = "Low-confidence review queue."
  value       = module.inference_workflow.review_queue_url
}

output "oncall_topic_arn" {
  description = "On-call SNS topic."
  value       = module.monitoring.oncall_topic_arn
}

output "drift_job_function_name" {
  description = "Drift job function name."
  value       = module.monitoring.drift_job_function_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}

output "reviewer_policy_arn" {
  description = "IAM policy for reviewers (`python -m review`) to attach to their role or group; null until the stage has a review state machine."
  value       = module.inference_workflow.reviewer_policy_arn
}

output "live_misroute_alarm_name" {
  description = "The LiveMisrouteRate alarm: the audited misroute rate above target (pages on-call)."
  value       = module.inference_workflow.live_misroute_alarm_name
}

output "labels_reader_policy_arn" {
  description = "IAM policy to read the label records and their uploads (retraining, `training.live_quality`)."
  value       = module.inference_workflow.labels_reader_policy_arn
}

output "effective_decision_threshold" {
  description = "The routing threshold the filter Lambda and the drift job use: the stage's decision_threshold_override when set, else the model's decision_threshold."
  value       = local.decision_threshold
}

output "decision_threshold_pinned" {
  description = "True when the stage pins its own threshold (decision_threshold_override) instead of the model's."
  value       = var.decision_threshold_override != null
}

output "uploader_policy_arn" {
  description = "IAM policy for image uploaders: PutObject under the data bucket's uploads prefix (incoming/), nothing else."
  value       = module.storage.uploader_policy_arn
}

output "expected_images_per_month" {
  description = "Images a month the stage is sized and budgeted for (benchmarks.bench_costs reads it from the stage root)."
  value       = var.expected_images_per_month
}
