data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition     = data.aws_partition.current.partition
  region        = data.aws_region.current.id
  account_id    = data.aws_caller_identity.current.account_id
  function_name = "${var.name}-drift-job"

  # Dimensions of every drift-job metric (monitoring/README.md).
  drift_dimensions = {
    EndpointName = var.endpoint_name
    VariantName  = var.variant_name
    Stage        = var.stage
  }
  baseline_path = regex("^s3://([^/]+)/(.+)$", var.baseline_s3_uri)
  alarm_actions = [aws_sns_topic.oncall.arn]
}

# --- on-call topic ----------------------------------------------------------------------------

resource "aws_sns_topic" "oncall" {
  name              = "${var.name}-oncall"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "oncall" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.oncall.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"]
    }
  }

  # AWS Budgets publishes the stage budget's notifications (AWS documents these conditions).
  dynamic "statement" {
    for_each = var.monthly_budget_usd == null ? [] : [1]
    content {
      sid       = "BudgetsPublish"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.oncall.arn]
      principals {
        type        = "Service"
        identifiers = ["budgets.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = ["arn:${local.partition}:budgets::${local.account_id}:*"]
      }
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.oncall.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "oncall" {
  arn    = aws_sns_topic.oncall.arn
  policy = data.aws_iam_policy_document.oncall.json
}

resource "aws_sns_topic_subscription" "oncall_email" {
  for_each = toset(var.oncall_emails)

  topic_arn = aws_sns_topic.oncall.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- cost budget -----------------------------------------------------------------------------

# The stage's monthly cost (resources tagged Stage=<stage>: activate `Stage` as a cost allocation
# tag in the billing console, or the filter matches nothing), paging on-call at 80 % of the
# amount spent and at 100 % forecast. Budgets has no OK state: the RUNBOOK says what to check.
resource "aws_budgets_budget" "monthly" {
  count = var.monthly_budget_usd == null ? 0 : 1

  name         = "${var.name}-monthly-cost"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:Stage$%s", var.stage)]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.oncall.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.oncall.arn]
  }

  tags = var.tags

  # Budgets checks its publish permission when the notification is created.
  depends_on = [aws_sns_topic_policy.oncall]
}

# --- drift job -----------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "drift_job" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "drift_job" {
  name_prefix        = "${substr(var.name, 0, 27)}-drift-"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

# What the drift job reads and writes, whichever runner runs it: the Lambda's role (below) and
# the container runners' role (processing.tf) both start from these statements.
data "aws_iam_policy_document" "drift_data" {
  statement {
    sid       = "ListCaptures"
    actions   = ["s3:ListBucket"]
    resources = [var.capture_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.capture_prefix}/*", "${var.capture_prefix}/"]
    }
  }

  statement {
    sid       = "ReadCaptures"
    actions   = ["s3:GetObject"]
    resources = ["${var.capture_bucket_arn}/${var.capture_prefix}/*"]
  }

  statement {
    sid       = "ReadBaseline"
    actions   = ["s3:GetObject"]
    resources = ["${var.baseline_bucket_arn}/${local.baseline_path[1]}"]
  }

  statement {
    sid       = "WriteReports"
    actions   = ["s3:PutObject"]
    resources = ["${var.reports_bucket_arn}/drift/*"]
  }

  statement {
    sid       = "UseStageKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "PublishDriftMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; scoped by namespace.
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }
}

data "aws_iam_policy_document" "drift_job" {
  source_policy_documents = [data.aws_iam_policy_document.drift_data.json]

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.drift_job.arn}:*"]
  }

  statement {
    sid       = "XRayTracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions.
  }
}

resource "aws_iam_role_policy" "drift_job" {
  name   = "least-privilege"
  role   = aws_iam_role.drift_job.id
  policy = data.aws_iam_policy_document.drift_job.json
}

resource "aws_s3_object" "deps_layer" {
  count = var.drift_job_deps_layer == null ? 0 : 1

  bucket      = var.artifacts_bucket
  key         = "lambda-artifacts/${var.name}-drift-deps-${substr(sha256(var.drift_job_deps_layer.source_code_hash), 0, 16)}.zip"
  source      = var.drift_job_deps_layer.filename
  source_hash = var.drift_job_deps_layer.source_code_hash
  kms_key_id  = var.kms_key_arn
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = var.artifacts_bucket != null
      error_message = "drift_job_deps_layer needs artifacts_bucket to upload the layer through S3."
    }
  }
}

resource "aws_lambda_layer_version" "deps" {
  count = var.drift_job_deps_layer == null ? 0 : 1

  layer_name          = "${var.name}-drift-deps"
  s3_bucket           = aws_s3_object.deps_layer[0].bucket
  s3_key              = aws_s3_object.deps_layer[0].key
  source_code_hash    = var.drift_job_deps_layer.source_code_hash
  compatible_runtimes = [var.runtime]
}

resource "aws_lambda_function" "drift_job" {
  #checkov:skip=CKV_AWS_116:Invoked by EventBridge Scheduler, which has its own retry policy and dead-letter queue.
  #checkov:skip=CKV_AWS_117:Calls only AWS APIs (S3, CloudWatch) over TLS with IAM; no private resources to reach through a VPC.
  #checkov:skip=CKV_AWS_115:One scheduled run per hour; reserving concurrency would only take capacity from the account pool.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile per account; the zip is reproducible and pinned by source_code_hash.
  function_name    = local.function_name
  description      = "${var.name}: hourly drift check of the endpoint's captured traffic"
  role             = aws_iam_role.drift_job.arn
  filename         = var.drift_job.filename
  source_code_hash = var.drift_job.source_code_hash
  handler          = var.drift_job.handler
  runtime          = var.runtime
  memory_size      = var.drift_job.memory_size
  timeout          = var.drift_job.timeout
  layers           = concat(aws_lambda_layer_version.deps[*].arn, var.layer_arns)
  kms_key_arn      = var.kms_key_arn

  environment {
    # The same settings as the Processing-job runner (processing.tf).
    variables = merge(
      local.job_environment,
      # Powertools' outcome metrics (Succeeded, the error's class) beside the job's own metrics.
      { POWERTOOLS_SERVICE_NAME = "drift_job", POWERTOOLS_METRICS_NAMESPACE = var.metric_namespace },
      var.drift_job.environment,
    )
  }

  tracing_config {
    mode = "Active"
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.drift_job, aws_iam_role_policy.drift_job]
}

# --- schedule ---------------------------------------------------------------------------------

# EventBridge Scheduler runs the Lambda or starts the Processing job; Model Monitor has its own
# schedule (model_monitor.tf).
module "schedule_dlq" {
  source = "../encrypted_queue"
  count  = local.model_monitor_enabled ? 0 : 1

  name        = "${var.name}-drift-schedule-dlq"
  kms_key_arn = var.kms_key_arn
  tags        = var.tags
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = local.model_monitor_enabled ? 0 : 1

  name_prefix        = "${substr(var.name, 0, 27)}-schedule-"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  count = local.model_monitor_enabled ? 0 : 1

  dynamic "statement" {
    for_each = local.processing_enabled ? [] : [1]
    content {
      sid       = "InvokeDriftJob"
      actions   = ["lambda:InvokeFunction"]
      resources = [aws_lambda_function.drift_job.arn]
    }
  }

  dynamic "statement" {
    for_each = local.processing_enabled ? [1] : []
    content {
      sid       = "StartDriftProcessingJob"
      actions   = ["sagemaker:CreateProcessingJob", "sagemaker:AddTags"]
      resources = ["arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:processing-job/${local.processing_job_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = local.processing_enabled ? [1] : []
    content {
      sid       = "PassDriftProcessingRole"
      actions   = ["iam:PassRole"]
      resources = [aws_iam_role.processing[0].arn]
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["sagemaker.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [module.schedule_dlq[0].queue.arn]
  }

  statement {
    sid       = "EncryptDeadLetters"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = local.model_monitor_enabled ? 0 : 1

  name   = "invoke-drift-job"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler[0].json
}

resource "aws_scheduler_schedule" "drift_job" {
  count = local.model_monitor_enabled ? 0 : 1

  name                         = "${var.name}-drift-job"
  description                  = "Runs the drift job over the latest captured traffic."
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = local.processing_enabled ? "arn:${local.partition}:scheduler:::aws-sdk:sagemaker:createProcessingJob" : aws_lambda_function.drift_job.arn
    role_arn = aws_iam_role.scheduler[0].arn
    input    = local.processing_enabled ? jsonencode(local.processing_job_request) : jsonencode({ scheduled_time = "<aws.scheduler.scheduled-time>" })

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }

    dead_letter_config {
      arn = module.schedule_dlq[0].queue.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

# --- alarms ---------------------------------------------------------------------------------

locals {
  # Every single-metric alarm, keyed by purpose (the keys of output alarm_names). Unless an entry
  # says otherwise: Sum over 5 minutes, one period, paging at >= 1, missing data not breaching.
  metric_alarms = merge(
    {
      drift = {
        name        = "drift"
        description = "Captured traffic drifted from the training baseline (DriftScore >= ${var.drift_score_threshold})."
        namespace   = var.metric_namespace
        metric      = var.metric_names.drift_score
        dimensions  = local.drift_dimensions
        statistic   = "Maximum"
        period      = 3600
        threshold   = var.drift_score_threshold
      }
      low_confidence = {
        name                = "low-confidence-rate"
        description         = "More than ${var.low_confidence_threshold * 100}% of predictions are low-confidence."
        namespace           = var.metric_namespace
        metric              = var.metric_names.low_confidence_rate
        dimensions          = local.drift_dimensions
        statistic           = "Average"
        period              = 3600
        evaluation_periods  = 2
        datapoints_to_alarm = 2
        threshold           = var.low_confidence_threshold
        comparison          = "GreaterThanThreshold"
      }
      no_data = {
        name               = "no-captured-data"
        description        = "No captured records for ${var.no_data_periods} hours: capture stopped, traffic stopped, or the drift job is not running."
        namespace          = var.metric_namespace
        metric             = var.metric_names.records_seen
        dimensions         = local.drift_dimensions
        period             = 3600
        evaluation_periods = var.no_data_periods
        comparison         = "LessThanThreshold"
        treat_missing_data = "breaching"
      }
      # Two signals for a broken job: Lambda errors (crash, timeout) and the JobFailed metric
      # the handler sends before it re-raises.
      job_errors = {
        name        = "drift-job-errors"
        description = "The drift job failed (Lambda error or timeout)."
        namespace   = "AWS/Lambda"
        metric      = "Errors"
        dimensions  = { FunctionName = aws_lambda_function.drift_job.function_name }
        period      = 3600
      }
      job_failed = {
        name        = "drift-job-failed"
        description = "The drift job reported a failed run (JobFailed)."
        namespace   = var.metric_namespace
        metric      = var.metric_names.job_failed
        dimensions  = local.drift_dimensions
        statistic   = "Maximum"
        period      = 3600
      }
    },
    { for k, e in var.workflow_error_alarms : k => {
      name        = replace(k, "_", "-")
      description = "${e.service} counted ${e.metric} errors."
      namespace   = var.workflow_metric_namespace
      metric      = e.metric
      dimensions  = { service = e.service }
      threshold   = e.threshold
    } },
    # Overflow of the upload path's caps is counted, not silent: a throttled Lambda invoke
    # (reserved concurrency reached) and a throttled state transition or StartExecution each
    # page on-call.
    { for k, function_name in var.throttle_function_names : "${k}_throttles" => {
      name        = "${replace(k, "_", "-")}-throttles"
      description = "${function_name} was throttled (reserved concurrency or account quota reached)."
      namespace   = "AWS/Lambda"
      metric      = "Throttles"
      dimensions  = { FunctionName = function_name }
    } },
    { for k, arn in var.state_machine_arns : "workflow_${k}_throttled" => {
      name        = "${replace(k, "_", "-")}-throttled"
      description = "Executions of ${k} were throttled by Step Functions."
      namespace   = "AWS/States"
      metric      = "ExecutionThrottled"
      dimensions  = { StateMachineArn = arn }
    } },
    var.trigger_dead_letter_queue_name == null ? {} : {
      upload_dead_letters = {
        name        = "upload-dead-letters"
        description = "Uploads whose workflow start failed after EventBridge's retries wait in ${var.trigger_dead_letter_queue_name}."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = var.trigger_dead_letter_queue_name }
        statistic   = "Maximum"
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "metric" {
  for_each = local.metric_alarms

  alarm_name          = "${var.name}-${each.value.name}"
  alarm_description   = "${each.value.description} Runbook: monitoring/RUNBOOK.md."
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = try(each.value.statistic, "Sum")
  period              = try(each.value.period, 300)
  evaluation_periods  = try(each.value.evaluation_periods, 1)
  datapoints_to_alarm = try(each.value.datapoints_to_alarm, null)
  threshold           = try(each.value.threshold, 1)
  comparison_operator = try(each.value.comparison, "GreaterThanOrEqualToThreshold")
  treat_missing_data  = try(each.value.treat_missing_data, "notBreaching")
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Failed, timed out or aborted: Standard and Express machines both emit these three execution
# metrics. An Express execution that outlives its five-minute limit ends ExecutionsTimedOut, not
# failed, and keeps no execution history: the sum catches it, its log group explains it.
resource "aws_cloudwatch_metric_alarm" "workflow_failures" {
  for_each = var.state_machine_arns

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}-failures"
  alarm_description   = "Executions of ${each.key} failed, timed out or were aborted. Runbook: monitoring/RUNBOOK.md."
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "ended_badly"
    expression  = "failed + timed_out + aborted"
    label       = "Executions failed, timed out or aborted"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { failed = "ExecutionsFailed", timed_out = "ExecutionsTimedOut", aborted = "ExecutionsAborted" }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/States"
        metric_name = metric_query.value
        dimensions  = { StateMachineArn = each.value }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}

# --- dashboard --------------------------------------------------------------------------------

locals {
  dashboard_alarms = ["drift", "low_confidence", "no_data", "job_errors", "job_failed"]
  endpoint_dims    = ["EndpointName", var.endpoint_name, "VariantName", var.variant_name]
  drift_dims       = ["EndpointName", var.endpoint_name, "VariantName", var.variant_name, "Stage", var.stage]
  widgets = concat(
    [
      {
        type = "metric", width = 12, height = 6
        properties = {
          title  = "Endpoint invocations and errors"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = [
            concat(["AWS/SageMaker", "Invocations"], local.endpoint_dims),
            concat(["AWS/SageMaker", "Invocation4XXErrors"], local.endpoint_dims),
            concat(["AWS/SageMaker", "Invocation5XXErrors"], local.endpoint_dims),
          ]
        }
      },
      {
        type = "metric", width = 12, height = 6
        properties = {
          title   = "Endpoint model latency p90 (µs)"
          region  = local.region
          stat    = "p90"
          period  = 300
          metrics = [concat(["AWS/SageMaker", "ModelLatency"], local.endpoint_dims)]
        }
      },
      {
        type = "metric", width = 12, height = 6
        properties = {
          title  = "Drift score and low-confidence rate"
          region = local.region
          stat   = "Maximum"
          period = 3600
          metrics = [
            concat([var.metric_namespace, var.metric_names.drift_score], local.drift_dims),
            concat([var.metric_namespace, var.metric_names.low_confidence_rate], local.drift_dims),
          ]
          annotations = {
            horizontal = [{ label = "drift boundary", value = var.drift_score_threshold }]
          }
        }
      },
      {
        type = "metric", width = 12, height = 6
        properties = {
          title  = "Captured records per drift run"
          region = local.region
          stat   = "Sum"
          period = 3600
          metrics = [
            concat([var.metric_namespace, var.metric_names.records_seen], local.drift_dims),
            concat([var.metric_namespace, var.metric_names.invalid_records], local.drift_dims),
          ]
        }
      },
    ],
    [for k, arn in var.state_machine_arns : {
      type = "metric", width = 12, height = 6
      properties = {
        title  = "Workflow ${k}"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = [
          ["AWS/States", "ExecutionsStarted", "StateMachineArn", arn],
          ["AWS/States", "ExecutionsSucceeded", "StateMachineArn", arn],
          ["AWS/States", "ExecutionsFailed", "StateMachineArn", arn],
          ["AWS/States", "ExecutionsTimedOut", "StateMachineArn", arn],
        ]
      }
    }],
    [{
      type = "alarm", width = 24, height = 4
      properties = {
        title = "Alarms"
        alarms = concat(
          var.endpoint_alarm_arns,
          [for k in local.dashboard_alarms : aws_cloudwatch_metric_alarm.metric[k].arn],
          [for a in aws_cloudwatch_metric_alarm.workflow_failures : a.arn],
          [for k in keys(var.workflow_error_alarms) : aws_cloudwatch_metric_alarm.metric[k].arn],
        )
      }
    }],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.widgets })
}
