mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  name    = "vehicle-classifier-test"
  stage   = "dev"
  runtime = "python3.13"
  drift_job = {
    filename         = "drift_job.zip"
    source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    handler          = "monitoring.handler.handler"
  }
  endpoint_name                  = "vehicle-classifier-test"
  variant_name                   = "AllTraffic"
  state_machine_arns             = { classify_image = "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test-classify-image" }
  capture_bucket                 = "vehicle-classifier-test-capture"
  capture_bucket_arn             = "arn:aws:s3:::vehicle-classifier-test-capture"
  reports_bucket                 = "vehicle-classifier-test-reports"
  reports_bucket_arn             = "arn:aws:s3:::vehicle-classifier-test-reports"
  baseline_s3_uri                = "s3://vehicle-classifier-test-data/baselines/baseline.json"
  baseline_bucket_arn            = "arn:aws:s3:::vehicle-classifier-test-data"
  model_sha256                   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  kms_key_arn                    = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  oncall_emails                  = ["oncall@example.com"]
  decision_threshold             = 0.8125
  trigger_dead_letter_queue_name = "vehicle-classifier-test-image-uploaded-dlq"
  throttle_function_names = {
    serialize_image = "vehicle-classifier-test-serialize-image"
    classify_image  = "vehicle-classifier-test-classify-image"
  }
}

run "alarms_page_oncall" {
  command = apply

  override_data {
    target = data.aws_iam_policy_document.drift_data
    # A document of its own (every mocked one is alike), to see it reach the role policies.
    values = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DriftData\",\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}" }
  }

  assert {
    condition     = aws_sns_topic.oncall.kms_master_key_id == var.kms_key_arn
    error_message = "the on-call topic must be KMS-encrypted"
  }

  assert {
    condition = alltrue([
      for a in concat(values(aws_cloudwatch_metric_alarm.metric), values(aws_cloudwatch_metric_alarm.workflow_failures)) :
      a.alarm_actions == toset([aws_sns_topic.oncall.arn]) && a.ok_actions == toset([aws_sns_topic.oncall.arn])
    ])
    error_message = "every alarm must notify the on-call topic when it fires and when it recovers"
  }

  assert {
    # 5 of the drift job, 5 workflow error classes, 2 functions' throttles, 1 machine's, dead letters
    condition     = length(aws_cloudwatch_metric_alarm.metric) == 14 && length(output.alarm_names) == 15 && output.alarm_names.low_confidence == "vehicle-classifier-test-low-confidence-rate" && output.alarm_names.serialize_image_throttles == "vehicle-classifier-test-serialize-image-throttles"
    error_message = "one alarm per purpose, named <name>-<purpose> as the RUNBOOK lists them"
  }

  assert {
    condition = alltrue([
      aws_cloudwatch_metric_alarm.metric["drift"].namespace == "VehicleClassifier/Monitoring",
      aws_cloudwatch_metric_alarm.metric["drift"].metric_name == "DriftScore",
      aws_cloudwatch_metric_alarm.metric["drift"].threshold == 1,
      aws_cloudwatch_metric_alarm.metric["drift"].comparison_operator == "GreaterThanOrEqualToThreshold",
      aws_cloudwatch_metric_alarm.metric["drift"].dimensions == tomap({ EndpointName = "vehicle-classifier-test", VariantName = "AllTraffic", Stage = "dev" }),
    ])
    error_message = "drift alarm: DriftScore >= 1.0 with the job's dimensions (monitoring/README.md)"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.metric["low_confidence"].metric_name == "LowConfidenceRate" && aws_cloudwatch_metric_alarm.metric["low_confidence"].threshold == 0.5
    error_message = "low-confidence alarm: LowConfidenceRate above 0.5"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.metric["no_data"].metric_name == "RecordsSeen" && aws_cloudwatch_metric_alarm.metric["no_data"].treat_missing_data == "breaching" && aws_cloudwatch_metric_alarm.metric["no_data"].evaluation_periods == 2
    error_message = "no-data alarm: fewer than 1 record for 2 hours, missing data counts as breaching"
  }

  assert {
    condition = alltrue([
      for k, arn in var.state_machine_arns : toset([
        for q in aws_cloudwatch_metric_alarm.workflow_failures[k].metric_query : one(q.metric).metric_name if length(q.metric) > 0
        ]) == toset(["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"]) && alltrue([
        for q in aws_cloudwatch_metric_alarm.workflow_failures[k].metric_query : one(q.metric).dimensions.StateMachineArn == arn if length(q.metric) > 0
      ])
    ])
    error_message = "each state machine gets a failure alarm on failed + timed out + aborted executions (Express times out at five minutes)"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.metric["model_errors"].metric_name == "ModelError" && aws_cloudwatch_metric_alarm.metric["model_errors"].dimensions.service == "classify_image"
    error_message = "a model answering garbage pages on-call (executions themselves always succeed)"
  }

  assert {
    condition     = aws_scheduler_schedule.drift_job[0].schedule_expression == "cron(5 * * * ? *)" && one(aws_scheduler_schedule.drift_job[0].target).arn == aws_lambda_function.drift_job.arn
    error_message = "the drift job runs hourly, 5 minutes past the hour"
  }

  assert {
    condition     = one(aws_scheduler_schedule.drift_job[0].target).dead_letter_config != null && aws_scheduler_schedule.drift_job[0].kms_key_arn == var.kms_key_arn
    error_message = "the schedule keeps failed deliveries and is encrypted"
  }

  assert {
    condition = alltrue([
      aws_lambda_function.drift_job.environment[0].variables.CAPTURE_S3_URI == "s3://vehicle-classifier-test-capture/datacapture",
      aws_lambda_function.drift_job.environment[0].variables.BASELINE_S3_URI == var.baseline_s3_uri,
      aws_lambda_function.drift_job.environment[0].variables.REPORT_S3_URI == "s3://vehicle-classifier-test-reports/drift",
      aws_lambda_function.drift_job.environment[0].variables.METRICS_NAMESPACE == "VehicleClassifier/Monitoring",
      aws_lambda_function.drift_job.environment[0].variables.POWERTOOLS_METRICS_NAMESPACE == "VehicleClassifier/Monitoring",
      aws_lambda_function.drift_job.environment[0].variables.STAGE == "dev",
    ])
    error_message = "the drift job gets the environment of its contract (monitoring/README.md)"
  }

  assert {
    condition     = alltrue([for s in concat(data.aws_iam_policy_document.drift_data.statement, data.aws_iam_policy_document.drift_job.statement) : alltrue([for a in s.actions : !strcontains(a, "*")])])
    error_message = "the drift job role must not use wildcard actions"
  }

  assert {
    condition     = data.aws_iam_policy_document.drift_job.source_policy_documents == tolist([data.aws_iam_policy_document.drift_data.json]) && strcontains(data.aws_iam_policy_document.drift_data.json, "DriftData")
    error_message = "the drift job's role policy holds the drift job's data access (drift_data)"
  }

  assert {
    condition = alltrue([
      for s in concat(data.aws_iam_policy_document.drift_data.statement, data.aws_iam_policy_document.drift_job.statement) : anytrue([for c in s.condition : c.variable == "cloudwatch:namespace"]) if contains(s.actions, "cloudwatch:PutMetricData")
    ])
    error_message = "PutMetricData must be limited to the drift namespace"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.drift_data.statement : s.resources if s.sid == "WriteReports"]) == toset(["arn:aws:s3:::vehicle-classifier-test-reports/drift/*"])
    error_message = "the job may write only under the reports prefix"
  }

  assert {
    condition = alltrue([
      for k, a in aws_cloudwatch_metric_alarm.metric :
      a.namespace == "AWS/Lambda" && a.metric_name == "Throttles" && a.dimensions == tomap({ FunctionName = var.throttle_function_names[trimsuffix(k, "_throttles")] }) && a.threshold == 1 && a.period == 300 && a.statistic == "Sum"
      if endswith(k, "_throttles")
    ]) && length([for k in keys(aws_cloudwatch_metric_alarm.metric) : k if endswith(k, "_throttles")]) == 2
    error_message = "every upload-path function's throttles (its reserved-concurrency overflow) must page on-call"
  }

  assert {
    condition = alltrue([
      for k, arn in var.state_machine_arns :
      aws_cloudwatch_metric_alarm.metric["workflow_${k}_throttled"].metric_name == "ExecutionThrottled" && aws_cloudwatch_metric_alarm.metric["workflow_${k}_throttled"].dimensions == tomap({ StateMachineArn = arn })
    ]) && length([for k in keys(aws_cloudwatch_metric_alarm.metric) : k if endswith(k, "_throttled")]) == length(var.state_machine_arns)
    error_message = "throttled executions of every workflow must page on-call"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.metric["upload_dead_letters"].namespace == "AWS/SQS" && aws_cloudwatch_metric_alarm.metric["upload_dead_letters"].dimensions == tomap({ QueueName = var.trigger_dead_letter_queue_name }) && aws_cloudwatch_metric_alarm.metric["upload_dead_letters"].threshold == 1
    error_message = "an upload whose workflow start failed must page on-call"
  }

  assert {
    condition = module.schedule_dlq[0].queue.kms_master_key_id == var.kms_key_arn && anytrue([
      for s in module.schedule_dlq[0].policy_statements : s.effect == "Deny" && contains(s.actions, "sqs:*") && anytrue([
        for c in s.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && contains(c.values, "false")
      ])
    ])
    error_message = "the schedule's dead-letter queue must be encrypted with the stage key and refuse requests without TLS"
  }

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 6
    error_message = "the dashboard shows endpoint, drift, capture, workflow and alarm widgets"
  }
}

run "budget_pages_oncall" {
  command = apply

  variables {
    monthly_budget_usd = 150
  }

  assert {
    condition     = aws_budgets_budget.monthly[0].limit_amount == "150.00" && aws_budgets_budget.monthly[0].time_unit == "MONTHLY" && aws_budgets_budget.monthly[0].budget_type == "COST"
    error_message = "a monthly cost budget of the configured amount"
  }

  assert {
    condition     = one(aws_budgets_budget.monthly[0].cost_filter).name == "TagKeyValue" && one(aws_budgets_budget.monthly[0].cost_filter).values == tolist(["user:Stage$dev"])
    error_message = "the budget counts the costs tagged with the stage"
  }

  assert {
    condition = alltrue([for n in aws_budgets_budget.monthly[0].notification : n.subscriber_sns_topic_arns == toset([aws_sns_topic.oncall.arn])]) && toset([
      for n in aws_budgets_budget.monthly[0].notification : "${n.notification_type}>${n.threshold}"
    ]) == toset(["ACTUAL>80", "FORECASTED>100"])
    error_message = "on-call is paged at 80 % actual and 100 % forecast spend"
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.oncall.statement : s.principals if s.sid == "BudgetsPublish"
    ]) == toset([{ type = "Service", identifiers = toset(["budgets.amazonaws.com"]) }])
    error_message = "the topic policy lets AWS Budgets publish (and only with this account's budgets)"
  }

  assert {
    condition     = output.budget_name == "vehicle-classifier-test-monthly-cost"
    error_message = "the budget is named after the stage (its RUNBOOK entry: <name>-monthly-cost)"
  }
}

run "no_budget_without_an_amount" {
  command = plan

  assert {
    condition     = length(aws_budgets_budget.monthly) == 0 && length([for s in data.aws_iam_policy_document.oncall.statement : s if s.sid == "BudgetsPublish"]) == 0
    error_message = "without monthly_budget_usd: no budget and no publish grant for Budgets"
  }
}

run "rejects_a_budget_below_one_dollar" {
  command = plan

  variables {
    monthly_budget_usd = 0
  }

  expect_failures = [var.monthly_budget_usd]
}

run "rejects_threshold_outside_unit_interval" {
  command = plan

  variables {
    low_confidence_threshold = 1.5
  }

  expect_failures = [var.low_confidence_threshold]
}

run "rejects_bad_schedule" {
  command = plan

  variables {
    schedule_expression = "every hour"
  }

  expect_failures = [var.schedule_expression]
}

run "rejects_unknown_stage" {
  command = plan

  variables {
    stage = "staging"
  }

  expect_failures = [var.stage]
}

run "accepts_rate_schedule" {
  command = plan

  variables {
    schedule_expression = "rate(30 minutes)"
  }

  assert {
    condition     = aws_scheduler_schedule.drift_job[0].schedule_expression == "rate(30 minutes)"
    error_message = "rate expressions are allowed"
  }
}

run "deps_layer_goes_through_s3" {
  command = apply

  variables {
    drift_job_deps_layer = {
      filename         = "drift_deps_layer.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    }
    artifacts_bucket = "vehicle-classifier-test-data"
  }

  assert {
    condition     = aws_lambda_layer_version.deps[0].s3_bucket == "vehicle-classifier-test-data" && startswith(aws_lambda_layer_version.deps[0].s3_key, "lambda-artifacts/")
    error_message = "the ~45 MB deps layer is uploaded through S3, not directly"
  }

  assert {
    condition     = aws_s3_object.deps_layer[0].kms_key_id == var.kms_key_arn
    error_message = "the uploaded layer zip is encrypted with the stage key"
  }

  assert {
    condition     = aws_lambda_function.drift_job.layers[0] == aws_lambda_layer_version.deps[0].arn
    error_message = "the drift job gets its dependencies layer"
  }
}

run "deps_layer_needs_artifacts_bucket" {
  command = plan

  variables {
    drift_job_deps_layer = {
      filename         = "drift_deps_layer.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    }
  }

  expect_failures = [aws_s3_object.deps_layer]
}

run "rejects_unsupported_runtime" {
  command = plan

  variables {
    runtime = "python3.11"
  }

  expect_failures = [var.runtime]
}

run "the_stage_threshold_reaches_the_job" {
  command = apply

  assert {
    condition     = output.drift_job_environment.CONFIDENCE_THRESHOLD == "0.8125"
    error_message = "the drift job reads the stage's decision threshold as CONFIDENCE_THRESHOLD"
  }
}

run "the_served_models_digest_reaches_the_job" {
  command = apply

  assert {
    condition     = output.drift_job_environment.MODEL_SHA256 == var.model_sha256 && output.drift_job_environment.BASELINE_S3_URI == var.baseline_s3_uri
    error_message = "the drift job gets the served model's digest (MODEL_SHA256) beside its baseline, so it refuses another model's baseline"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.drift_data.statement : s.resources if s.sid == "ReadBaseline"]) == toset(["arn:aws:s3:::vehicle-classifier-test-data/baselines/baseline.json"])
    error_message = "the drift job may read its one baseline object only"
  }
}

run "rejects_a_model_digest_that_is_not_a_sha256" {
  command = plan

  variables {
    model_sha256 = "sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
  }

  expect_failures = [var.model_sha256]
}

run "rejects_a_decision_threshold_outside_0_1" {
  command = plan

  variables {
    decision_threshold = 0
  }

  expect_failures = [var.decision_threshold]
}

run "schedule_invokes_the_lambda_by_default" {
  command = apply

  assert {
    condition     = one(aws_scheduler_schedule.drift_job[0].target).arn == aws_lambda_function.drift_job.arn && length(aws_iam_role.processing) == 0 && length(aws_sagemaker_monitoring_schedule.drift) == 0
    error_message = "by default the schedule runs the Lambda; no container role, no Model Monitor schedule"
  }
}

run "processing_job_runs_the_same_job" {
  command = apply

  variables {
    runner = "processing_job"
    container = {
      image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/vehicle-classifier/drift:1.0"
    }
  }

  assert {
    condition     = one(aws_scheduler_schedule.drift_job[0].target).arn == "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob"
    error_message = "the schedule starts a Processing job through the scheduler's SageMaker SDK target"
  }

  assert {
    condition = jsondecode(one(aws_scheduler_schedule.drift_job[0].target).input).AppSpecification == {
      ImageUri            = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/vehicle-classifier/drift:1.0"
      ContainerEntrypoint = ["python3", "-m", "monitoring"]
    }
    error_message = "the job runs python3 -m monitoring in the project's image"
  }

  assert {
    condition     = { for k, v in jsondecode(one(aws_scheduler_schedule.drift_job[0].target).input).Environment : k => v if !startswith(k, "POWERTOOLS_") } == { for k, v in aws_lambda_function.drift_job.environment[0].variables : k => v if !startswith(k, "POWERTOOLS_") }
    error_message = "the Processing job gets the Lambda's settings (same reports, metrics and alarms)"
  }

  assert {
    condition     = jsondecode(one(aws_scheduler_schedule.drift_job[0].target).input).Environment.MODEL_SHA256 == var.model_sha256
    error_message = "the Processing job checks the baseline against the served model too"
  }

  assert {
    condition     = jsondecode(one(aws_scheduler_schedule.drift_job[0].target).input).ProcessingJobName == "vehicle-classifier-test-drift-<aws.scheduler.execution-id>" && jsondecode(one(aws_scheduler_schedule.drift_job[0].target).input).ProcessingResources.ClusterConfig.VolumeKmsKeyId == var.kms_key_arn
    error_message = "one uniquely named job per run, its volume encrypted with the stage key"
  }

  assert {
    condition     = toset([for s in data.aws_iam_policy_document.scheduler[0].statement : s.sid]) == toset(["StartDriftProcessingJob", "PassDriftProcessingRole", "DeadLetters", "EncryptDeadLetters"])
    error_message = "the scheduler may start the drift Processing jobs and pass their role, nothing else"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.processing[0].statement : s.resources if s.sid == "PullJobImage"]) == toset(["arn:aws:ecr:eu-west-1:123456789012:repository/vehicle-classifier/drift"])
    error_message = "the job's role pulls only its own image repository"
  }
}

run "rejects_a_processing_image_outside_ecr" {
  command = plan

  variables {
    runner = "processing_job"
    container = {
      image_uri = "docker.io/library/python:3.13"
    }
  }

  expect_failures = [var.container]
}

run "rejects_an_unknown_runner" {
  command = plan

  variables {
    runner = "ecs"
  }

  expect_failures = [var.runner]
}

run "container_runners_need_a_container" {
  command = plan

  variables {
    runner = "model_monitor"
  }

  expect_failures = [var.container]
}

run "model_monitor_runs_the_same_job_in_our_container" {
  command = apply

  override_data {
    target = data.aws_iam_policy_document.drift_data
    # A document of its own (every mocked one is alike), to see it reach the role policies.
    values = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DriftData\",\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}" }
  }

  variables {
    runner = "model_monitor"
    container = {
      image_uri           = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/vehicle-classifier/drift@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
      max_runtime_seconds = 3600
    }
  }

  assert {
    condition = alltrue([
      one(aws_sagemaker_monitoring_schedule.drift[0].monitoring_schedule_config).monitoring_type == "DataQuality",
      one(aws_sagemaker_monitoring_schedule.drift[0].monitoring_schedule_config).monitoring_job_definition_name == aws_sagemaker_data_quality_job_definition.drift[0].name,
      one(one(aws_sagemaker_monitoring_schedule.drift[0].monitoring_schedule_config).schedule_config).schedule_expression == "cron(0 * ? * * *)",
      output.schedule_name == "vehicle-classifier-test-drift",
    ])
    error_message = "an hourly Model Monitor data-quality schedule runs the job definition"
  }

  assert {
    condition     = length(aws_scheduler_schedule.drift_job) == 0 && length(aws_iam_role.scheduler) == 0 && length(module.schedule_dlq) == 0
    error_message = "Model Monitor schedules the job itself: no EventBridge schedule, scheduler role or its dead-letter queue"
  }

  assert {
    condition = alltrue([
      one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_app_specification).image_uri == var.container.image_uri,
      one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_app_specification).environment.MONITORING_BYOC == "true",
      { for k, v in one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_app_specification).environment : k => v if k != "MONITORING_BYOC" } == { for k, v in aws_lambda_function.drift_job.environment[0].variables : k => v if !startswith(k, "POWERTOOLS_") },
    ])
    error_message = "our image in BYOC mode with the Lambda's settings (threshold, namespace, dimensions: same metrics and alarms)"
  }

  assert {
    condition = alltrue([
      one(one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_baseline_config).statistics_resource).s3_uri == var.baseline_s3_uri,
      one(one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_job_input).endpoint_input).endpoint_name == var.endpoint_name,
      one(one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_job_input).endpoint_input).local_path == "/opt/ml/processing/input/endpoint",
      one(one(one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_job_output_config).monitoring_outputs).s3_output).s3_uri == "s3://vehicle-classifier-test-reports/drift/model-monitor",
    ])
    error_message = "the stage's baseline as statistics, the stage's endpoint as input, reports under the reports bucket's drift/ prefix"
  }

  assert {
    condition = alltrue([
      one(aws_sagemaker_data_quality_job_definition.drift[0].data_quality_job_output_config).kms_key_id == var.kms_key_arn,
      one(one(aws_sagemaker_data_quality_job_definition.drift[0].job_resources).cluster_config).volume_kms_key_id == var.kms_key_arn,
      one(aws_sagemaker_data_quality_job_definition.drift[0].network_config).enable_inter_container_traffic_encryption,
      one(aws_sagemaker_data_quality_job_definition.drift[0].stopping_condition).max_runtime_in_seconds == 3600,
    ])
    error_message = "outputs and volume encrypted with the stage key; each run ends before the next hour's"
  }

  assert {
    condition = aws_sagemaker_data_quality_job_definition.drift[0].role_arn == aws_iam_role.processing[0].arn && alltrue([
      for s in data.aws_iam_policy_document.processing[0].statement : alltrue([for a in s.actions : !strcontains(a, "*")])
    ]) && data.aws_iam_policy_document.processing[0].source_policy_documents == tolist([data.aws_iam_policy_document.drift_data.json]) && strcontains(data.aws_iam_policy_document.drift_data.json, "DriftData")
    error_message = "the job runs under its own role: no wildcard actions, the Lambda's data access (drift_data: writes only under drift/)"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.metric["job_failed"].metric_name == "JobFailed" && aws_cloudwatch_metric_alarm.metric["no_data"].treat_missing_data == "breaching" && aws_cloudwatch_metric_alarm.metric["drift"].dimensions == tomap({ EndpointName = "vehicle-classifier-test", VariantName = "AllTraffic", Stage = "dev" })
    error_message = "the same alarms on the same metrics and dimensions"
  }
}

run "rejects_a_model_monitor_run_longer_than_the_hour" {
  command = plan

  variables {
    runner = "model_monitor"
    container = {
      image_uri           = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/vehicle-classifier/drift:1.0"
      max_runtime_seconds = 7200
    }
  }

  expect_failures = [var.container]
}
