# --- upload path: images uploaded under images_prefix start the workflow, at most N a minute ----
#
# S3 (EventBridge notifications) -> rule <name>-image-uploaded -> buffer queue <name>-image-uploaded
# -> event source mapping -> the start_uploads function (lambdas/start_workflow) -> StartExecution.
# The queue absorbs any burst; the starter starts at most upload_starts_per_minute executions per
# minute (counted in the <name>-upload-starts table) and leaves the rest in the queue until the next
# minute (UploadsDeferred metric). Nothing is dropped: a message that cannot be started within
# maxReceiveCount receives (about one a minute while deferred) and an event EventBridge cannot
# deliver both land in <name>-image-uploaded-dlq, which pages (<name>-upload-dead-letters); a queue
# that does not drain pages first (<name>-upload-backlog).

locals {
  upload_path  = var.trigger_state_machine != null
  starter_keys = [for k, f in var.functions : k if contains(f.permissions, "start_uploads")]
  # Lambda requires the queue's visibility timeout to be at least the function's timeout; AWS
  # recommends six times it, so a throttled batch is not redelivered while still in flight.
  upload_buffer_visibility_seconds = 6 * try(var.functions[local.starter_keys[0]].timeout, 30)
  # A deferred message is received about once a minute: 1000 receives (SQS's maximum) keep an
  # upload waiting about 16 hours before it is dead-lettered; the backlog alarm pages long before.
  upload_buffer_max_receives = 1000
  starter_environment = local.upload_path ? {
    STATE_MACHINE_ARN  = local.state_machine_arns[var.trigger_state_machine]
    UPLOAD_QUEUE_URL   = module.upload_buffer[0].queue.url
    START_LEDGER_TABLE = aws_dynamodb_table.upload_starts[0].name
    STARTS_PER_WINDOW  = tostring(var.upload_starts_per_minute)
    WINDOW_SECONDS     = "60"
  } : {}
}

resource "aws_cloudwatch_event_rule" "image_uploaded" {
  count = local.upload_path ? 1 : 0

  name        = "${var.name}-image-uploaded"
  description = "Objects created under s3://${var.images_bucket}/${var.images_prefix} queue a start of ${local.state_machine_names[var.trigger_state_machine]}."
  event_pattern = jsonencode({
    source      = ["aws.s3"]
    detail-type = ["Object Created"]
    detail = {
      bucket = { name = [var.images_bucket] }
      object = { key = [{ prefix = var.images_prefix }] }
    }
  })
  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(local.starter_keys) == 1
      error_message = "a trigger needs exactly one function with the start_uploads permission (lambdas/start_workflow)."
    }
  }
}

# --- the buffer queue and its dead-letter queue -------------------------------------------------

# Both queues: only the upload rule may send (the buffer's redrive needs no grant).
module "upload_buffer" {
  source = "../encrypted_queue"
  count  = local.upload_path ? 1 : 0

  name                              = "${var.name}-image-uploaded"
  kms_key_arn                       = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  visibility_timeout_seconds        = local.upload_buffer_visibility_seconds
  redrive_policy = jsonencode({
    deadLetterTargetArn = module.trigger_dlq[0].queue.arn
    maxReceiveCount     = local.upload_buffer_max_receives
  })
  sender = local.upload_rule_sends
  tags   = var.tags
}

# Events EventBridge could not deliver to the buffer after its retries, and buffered uploads that
# could not be started within maxReceiveCount, land here instead of being dropped; monitoring
# alarms on its depth.
module "trigger_dlq" {
  source = "../encrypted_queue"
  count  = local.upload_path ? 1 : 0

  name                              = "${var.name}-image-uploaded-dlq"
  kms_key_arn                       = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  sender                            = local.upload_rule_sends
  tags                              = var.tags
}

locals {
  upload_rule_sends = local.upload_path ? {
    sid        = "OnlyTheUploadRuleSends"
    service    = "events.amazonaws.com"
    source_arn = aws_cloudwatch_event_rule.image_uploaded[0].arn
  } : null
}

# The whole S3 event goes to the queue: the starter passes only {s3_bucket, s3_key} on, so an
# uploader still cannot set a threshold or options. No role: the queue policy admits the rule.
resource "aws_cloudwatch_event_target" "image_uploaded" {
  count = local.upload_path ? 1 : 0

  rule = aws_cloudwatch_event_rule.image_uploaded[0].name
  arn  = module.upload_buffer[0].queue.arn

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = module.trigger_dlq[0].queue.arn
  }
}

# --- the start ledger: starts per minute and the uploads already started -------------------------

resource "aws_dynamodb_table" "upload_starts" {
  count = local.upload_path ? 1 : 0

  name         = "${var.name}-upload-starts"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

# --- the starter reads the buffer ---------------------------------------------------------------

resource "aws_lambda_event_source_mapping" "upload_buffer" {
  # Without exactly one starter the rule's precondition fails the plan.
  count = local.upload_path && length(local.starter_keys) == 1 ? 1 : 0

  event_source_arn = module.upload_buffer[0].queue.arn
  # The version this apply published (as the live alias names it), never $LATEST.
  function_name           = aws_lambda_function.this[local.starter_keys[0]].qualified_arn
  batch_size              = 10
  enabled                 = var.upload_starter_enabled
  function_response_types = ["ReportBatchItemFailures"]

  # Two pollers (the least SQS allows) are plenty for a function that only calls APIs; the cap is
  # the ledger's, not the concurrency's.
  scaling_config {
    maximum_concurrency = 2
  }

  depends_on = [aws_iam_role_policy.function]
}

# --- uploads waiting too long page on-call ------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "upload_backlog" {
  count = local.upload_path ? 1 : 0

  alarm_name          = "${var.name}-upload-backlog"
  alarm_description   = "The oldest upload has waited over ${var.upload_backlog_alarm_seconds} s for its workflow (more uploads than ${var.upload_starts_per_minute}/min, or starts failing). Runbook: monitoring/RUNBOOK.md, \"Upload backlog\"."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = module.upload_buffer[0].queue.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.upload_backlog_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
