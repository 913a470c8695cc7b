# Shared by every stage root (linked from terraform/stages/<stage>/outputs.tf).
output "system" {
  description = "Names and ARNs of the deployed stage (buckets, endpoint, workflow, monitoring)."
  value = {
    name                     = module.system.name
    data_bucket              = module.system.data_bucket
    capture_bucket           = module.system.capture_bucket
    reports_bucket           = module.system.reports_bucket
    endpoint_name            = module.system.endpoint_name
    endpoint_config_name     = module.system.endpoint_config_name
    training_role_arn        = module.system.training_role_arn
    training_parameter_path  = module.system.training_parameter_path
    state_machine_arns       = module.system.state_machine_arns
    review_queue_url         = module.system.review_queue_url
    review_state_machine_arn = module.system.review_state_machine_arn
    labels_uri               = module.system.labels_uri
    oncall_topic_arn         = module.system.oncall_topic_arn
    dashboard_name           = module.system.dashboard_name
  }
}

output "reviewer_policy_arn" {
  description = "Attach to the reviewers' role or group: answer reviews with `python -m review` (null until the stage has a review state machine)."
  value       = module.system.reviewer_policy_arn
}

output "labels_reader_policy_arn" {
  description = "Attach to the role of the people who retrain: read the label records and their uploads (`training.data stage --source labels:...`, `python -m training.live_quality`)."
  value       = module.system.labels_reader_policy_arn
}

output "effective_decision_threshold" {
  description = "Routing threshold of the filter Lambda and the drift job (the model's, or the stage's pin)."
  value       = module.system.effective_decision_threshold
}

output "decision_threshold_pinned" {
  description = "True when this stage pins its own threshold instead of the promoted model's."
  value       = module.system.decision_threshold_pinned
}

output "uploader_policy_arn" {
  description = "Attach to the role or group of whoever uploads images: it can write only under incoming/ of the data bucket."
  value       = module.system.uploader_policy_arn
}
