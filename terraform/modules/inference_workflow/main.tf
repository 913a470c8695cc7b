data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id

  function_names = { for k, _ in var.functions : k => "${var.name}-${replace(k, "_", "-")}" }
  function_arns = {
    for k, n in local.function_names : k => "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${n}"
  }
  state_machine_names = { for k, _ in var.state_machines : k => "${var.name}-${replace(k, "_", "-")}" }
  # Known before creation, so one machine can start another without a dependency cycle.
  state_machine_arns = {
    for k, n in local.state_machine_names : k => "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${n}"
  }

  common_environment = {
    POWERTOOLS_LOG_LEVEL         = var.log_level
    POWERTOOLS_METRICS_NAMESPACE = "VehicleClassifier"
  }

  batch_results_arn = "${var.images_bucket_arn}/${var.batch_results_prefix}*"
  labels_arn        = "${local.labels_bucket_arn}/${var.labels_prefix}*"
  labels_bucket     = split(":::", local.labels_bucket_arn)[1]

  # The review machine (key `review`): the classify machines start it (named by the inference
  # id) and end SentToReview; it waits for the reviewer and writes the outcome and label record.
  review_state_machine_name = lookup(local.state_machine_names, "review", null)

  template_variables = merge(
    # Qualified ARNs (the `live` alias), never $LATEST.
    { for k, a in aws_lambda_alias.live : "${k}_function_arn" => a.arn },
    {
      review_queue_url         = module.review_queue.queue.url
      review_state_machine_arn = local.reviewer_enabled ? local.reviewer_machine_arn : ""
      review_timeout_seconds   = var.review_timeout_seconds
      metrics_namespace        = local.common_environment.POWERTOOLS_METRICS_NAMESPACE
      retry_interval_seconds   = var.retry_interval_seconds
      retry_max_delay_seconds  = var.retry_max_delay_seconds
      batch_results_bucket     = var.images_bucket
      batch_results_prefix     = var.batch_results_prefix
      batch_max_concurrency    = var.batch_max_concurrency
    },
  )
}

# --- review queue --------------------------------------------------------------------------------

module "review_queue" {
  source = "../encrypted_queue"

  name                              = "${var.name}-review"
  kms_key_arn                       = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  message_retention_seconds         = var.review_message_retention_seconds
  visibility_timeout_seconds        = 300
  tags                              = var.tags
}

# --- Lambda functions ----------------------------------------------------------------------------

resource "aws_lambda_layer_version" "this" {
  for_each = var.layers

  layer_name               = "${var.name}-${replace(each.key, "_", "-")}"
  filename                 = each.value.filename
  source_code_hash         = each.value.source_code_hash
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_names

  name              = "/aws/lambda/${each.value}"
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

resource "aws_iam_role" "function" {
  for_each = local.function_names

  name_prefix        = "${substr(each.value, 0, 37)}-"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "function" {
  for_each = var.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "XRayTracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions.
  }

  statement {
    sid       = "DecryptEnvironmentAndData"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  dynamic "statement" {
    for_each = contains(each.value.permissions, "read_images") ? [1] : []
    content {
      sid       = "ReadImages"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${var.images_bucket_arn}/${var.images_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = contains(each.value.permissions, "invoke_endpoint") ? [1] : []
    content {
      sid       = "InvokeEndpoint"
      actions   = ["sagemaker:InvokeEndpoint"]
      resources = [var.endpoint_arn]
    }
  }

  dynamic "statement" {
    for_each = contains(each.value.permissions, "send_to_review_queue") ? [1] : []
    content {
      sid       = "SendToReviewQueue"
      actions   = ["sqs:SendMessage"]
      resources = [module.review_queue.queue.arn]
    }
  }

  # The upload starter (upload_path.tf): its buffer queue, its ledger, the triggered machine.
  dynamic "statement" {
    for_each = contains(each.value.permissions, "start_uploads") && local.upload_path ? [1] : []
    content {
      sid       = "ConsumeUploadBuffer"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      resources = [module.upload_buffer[0].queue.arn]
    }
  }

  dynamic "statement" {
    for_each = contains(each.value.permissions, "start_uploads") && local.upload_path ? [1] : []
    content {
      sid       = "CountAndRecordStarts"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      resources = [aws_dynamodb_table.upload_starts[0].arn]
    }
  }

  dynamic "statement" {
    for_each = contains(each.value.permissions, "start_uploads") && local.upload_path ? [1] : []
    content {
      sid       = "StartTriggeredWorkflow"
      actions   = ["states:StartExecution"]
      resources = [local.state_machine_arns[var.trigger_state_machine]]
    }
  }

  dynamic "statement" {
    for_each = contains(each.value.permissions, "write_labels") ? [1] : []
    content {
      sid       = "WriteLabelRecords"
      actions   = ["s3:PutObject"]
      resources = [local.labels_arn]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = var.functions

  name   = "least-privilege"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Step Functions; a DLQ only applies to async invokes. Failures surface in the execution and its alarm.
  #checkov:skip=CKV_AWS_117:Calls only AWS APIs (S3, SageMaker, SQS) over TLS with IAM; no private resources to reach through a VPC.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a per-stage variable (reserved_concurrency); new accounts with a 10-execution quota cannot reserve any.
  #checkov:skip=CKV_AWS_272:Code signing is optional (code_signing_config_arn) because it needs an AWS Signer profile per account; zips are reproducible and pinned by source_code_hash.
  for_each = var.functions

  function_name                  = local.function_names[each.key]
  description                    = "${var.name} inference workflow: ${each.key}"
  role                           = aws_iam_role.function[each.key].arn
  filename                       = each.value.filename
  source_code_hash               = each.value.source_code_hash
  handler                        = each.value.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  layers                         = concat([for l in each.value.layers : aws_lambda_layer_version.this[l].arn], var.extra_layer_arns)
  publish                        = true
  kms_key_arn                    = var.kms_key_arn
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency
  code_signing_config_arn        = var.code_signing_config_arn

  environment {
    variables = merge(
      local.common_environment,
      { POWERTOOLS_SERVICE_NAME = each.key },
      contains(each.value.permissions, "start_uploads") ? local.starter_environment : {},
      each.value.environment,
    )
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]
}

# The state machines call this alias, so an execution never runs an unpublished $LATEST.
resource "aws_lambda_alias" "live" {
  for_each = aws_lambda_function.this

  name             = "live"
  function_name    = each.value.function_name
  function_version = each.value.version
}

# --- state machines --------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "state_machine" {
  for_each = local.state_machine_names

  name              = "/aws/vendedlogs/states/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name_prefix        = "${substr(var.name, 0, 27)}-states-"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
  tags               = var.tags
}

# What every state machine's role needs: its execution logs (delivery, their data key) and tracing.
data "aws_iam_policy_document" "state_machine_common" {
  # Execution logs (include_execution_data) of a CMK-encrypted state machine: the role makes the
  # data key for the log delivery, with the log group as encryption context.
  statement {
    sid       = "EncryptExecutionLogs"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:SourceArn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:*"]
    }
  }

  # Log deliveries are account-level objects: these actions have no resource type in the IAM
  # reference, so AWS requires "*" for them (Step Functions "IAM policies for logging").
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
    ]
    resources = ["*"]
  }

  # The log-group resource policy that lets delivery write: scoped to this account and region
  # (the scope AWS documents), never "*" across accounts.
  statement {
    sid = "ManageLogDeliveryResourcePolicy"
    actions = [
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:*"]
  }

  statement {
    sid = "XRayTracing"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"] # X-Ray has no resource-level permissions.
  }
}

# The machines that never wait for a person (classify_image, classify_batch): every workflow
# function, starting the review machine and batch children, the batch's S3 prefixes.
data "aws_iam_policy_document" "state_machine" {
  source_policy_documents = [data.aws_iam_policy_document.state_machine_common.json]

  statement {
    sid       = "InvokeWorkflowFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [for arn in values(local.function_arns) : "${arn}:*"]
  }

  # Execution history and definitions are encrypted with the stage key (encryption_configuration);
  # Step Functions calls KMS with the state machine's ARN as encryption context.
  statement {
    sid       = "EncryptExecutionData"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:states:stateMachineArn"
      values   = [for k, arn in local.state_machine_arns : arn if k != "review"]
    }
  }

  # Batch: the Distributed Map lists the input prefix, starts child executions of its own
  # state machine and writes its results under batch_results_prefix.
  statement {
    sid       = "ListBatchInput"
    actions   = ["s3:ListBucket"]
    resources = [var.images_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.images_prefix}*"]
    }
  }

  statement {
    sid       = "WriteBatchResults"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [local.batch_results_arn]
  }

  statement {
    sid       = "StartChildExecutions"
    actions   = ["states:StartExecution"]
    resources = values(local.state_machine_arns)
  }

  statement {
    sid     = "TrackChildExecutions"
    actions = ["states:DescribeExecution", "states:StopExecution"]
    resources = flatten([for n in values(local.state_machine_names) : [
      "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${n}:*",
      "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${n}/*",
      "arn:${local.partition}:states:${local.region}:${local.account_id}:express:${n}/*",
    ]])
  }

  statement {
    sid       = "TrackMapRuns"
    actions   = ["states:DescribeMapRun", "states:UpdateMapRun", "states:ListMapRuns"]
    resources = [for n in values(local.state_machine_names) : "arn:${local.partition}:states:${local.region}:${local.account_id}:mapRun:${n}/*"]
  }
}

# The review machine (key `review`) has its own role: it sends the review message and waits,
# then calls record_label, its one Lambda step, and counts unanswered reviews. Nothing else.
data "aws_iam_policy_document" "review_machine" {
  count                   = local.review_state_machine_name == null ? 0 : 1
  source_policy_documents = [data.aws_iam_policy_document.state_machine_common.json]

  statement {
    sid       = "InvokeRecordLabel"
    actions   = ["lambda:InvokeFunction"]
    resources = ["${local.function_arns["record_label"]}:*"]
  }

  statement {
    sid       = "SendToReviewQueue"
    actions   = ["sqs:SendMessage"]
    resources = [module.review_queue.queue.arn]
  }

  # Only through SQS: unconditioned, this grant would also cover (and make moot) the
  # execution-data statement below.
  statement {
    sid       = "EncryptReviewMessages"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptExecutionData"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:states:stateMachineArn"
      values   = [local.state_machine_arns["review"]]
    }
  }

  # The review machine counts unanswered reviews (ReviewTimedOut); only in the workflow namespace.
  statement {
    sid       = "CountReviewTimeouts"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; the namespace condition scopes it.
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.common_environment.POWERTOOLS_METRICS_NAMESPACE]
    }
  }

}

resource "aws_iam_role_policy" "state_machine" {
  name   = "least-privilege"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_iam_role" "review_machine" {
  count              = local.review_state_machine_name == null ? 0 : 1
  name_prefix        = "${substr(var.name, 0, 27)}-review-"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "review_machine" {
  count  = local.review_state_machine_name == null ? 0 : 1
  name   = "least-privilege"
  role   = aws_iam_role.review_machine[0].id
  policy = data.aws_iam_policy_document.review_machine[0].json
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Execution data (base64 images, full inputs) stays out of the logs on purpose; level ALL logs every event, decisions are in the functions' logs, payloads in the execution history.
  for_each = var.state_machines

  name       = local.state_machine_names[each.key]
  role_arn   = each.key == "review" ? aws_iam_role.review_machine[0].arn : aws_iam_role.state_machine.arn
  type       = each.value.type
  definition = templatefile(each.value.template, merge(local.template_variables, each.value.variables))

  # Every state event (entered, succeeded, failed with its error name) for the log retention, but
  # no inputs or outputs: those carry the base64 image and the full endpoint answer. Decisions are
  # in the functions' structured logs ("decided"); full payloads stay in the Standard execution
  # history (90 days, states:GetExecutionHistory). An EXPRESS machine keeps no history: these
  # logs are all that remains of its executions, so its level must stay ALL (or ERROR).
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine[each.key].arn}:*"
    include_execution_data = false
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  # The stage's key, not an AWS-owned one: execution input/output (S3 references, probabilities,
  # reviewers' answers) and the definition are encrypted like every other store of the stage.
  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = var.kms_key_arn
    kms_data_key_reuse_period_seconds = var.kms_data_key_reuse_period_seconds
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.review_timeout_seconds <= var.review_message_retention_seconds
      error_message = "review_timeout_seconds must not exceed review_message_retention_seconds: the message would vanish while its execution still waits."
    }
  }

  depends_on = [aws_iam_role_policy.state_machine]
}

# --- review: unanswered reviews page on-call ------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "review_timed_out" {
  count = local.review_state_machine_name == null ? 0 : 1

  alarm_name          = "${var.name}-review-timed-out"
  alarm_description   = "Reviews ended ReviewTimedOut (no answer within ${var.review_timeout_seconds} s): drivers were not routed. Runbook: monitoring/RUNBOOK.md, \"ReviewTimedOut\"."
  namespace           = local.common_environment.POWERTOOLS_METRICS_NAMESPACE
  metric_name         = "ReviewTimedOut"
  dimensions          = { service = local.review_state_machine_name }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.review_timed_out_alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# --- review: the audit sample says the model misroutes more than its target -------------------
# record_label counts every audited answer (AuditReviewed) and the ones the person answered
# differently (AuditMisrouted). Over a day with at least min_audits audits, the alarm pages when
# the audited misroute rate is above the target by more than z binomial standard errors
# (README "Live quality": false pages and detection by audits per day). Metric math has no
# square root, so the test is squared: excess^2 / variance > z^2, for a positive excess only.

locals {
  live_misroute        = var.live_misroute_alarm
  live_misroute_excess = format("(misrouted - %g * audited)", local.live_misroute.target)
  live_misroute_z2 = format(
    "IF(audited >= %d, IF(%s > 0, %s * %s / (%g * audited), 0), 0)",
    local.live_misroute.min_audits,
    local.live_misroute_excess,
    local.live_misroute_excess,
    local.live_misroute_excess,
    local.live_misroute.target * (1 - local.live_misroute.target),
  )
}

resource "aws_cloudwatch_metric_alarm" "live_misroute_rate" {
  count = local.review_state_machine_name == null ? 0 : 1

  alarm_name          = "${var.name}-live-misroute-rate"
  alarm_description   = "The audited misroute rate of the last day is above ${local.live_misroute.target} by more than ${local.live_misroute.z} standard errors (at least ${local.live_misroute.min_audits} audits): the deployed model routes drivers wrongly more often than its target. Runbook: monitoring/RUNBOOK.md, \"LiveMisrouteRate\"."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = local.live_misroute.z * local.live_misroute.z
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "z2"
    expression  = local.live_misroute_z2
    label       = "audited misroute rate above target, in squared standard errors"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { misrouted = "AuditMisrouted", audited = "AuditReviewed" }
    content {
      id = metric_query.key
      metric {
        namespace   = local.common_environment.POWERTOOLS_METRICS_NAMESPACE
        metric_name = metric_query.value
        dimensions  = { service = "record_label" }
        period      = 86400
        stat        = "Sum"
      }
    }
  }
}
