mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  name    = "vehicle-classifier-test"
  runtime = "python3.13"
  functions = {
    serialize_image = {
      filename         = "serialize_image.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
      handler          = "lambdas.serialize_image.handler.handler"
      layers           = ["shared_layer"]
      permissions      = ["read_images"]
    }
    classify_image = {
      filename         = "classify_image.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
      handler          = "lambdas.classify_image.handler.handler"
      environment      = { ENDPOINT_NAME = "vehicle-classifier-test" }
      layers           = ["shared_layer"]
      permissions      = ["read_images", "invoke_endpoint"]
    }
    filter_inferences = {
      filename         = "filter_inferences.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
      handler          = "lambdas.filter_inferences.handler.handler"
      layers           = ["shared_layer"]
    }
    record_label = {
      filename         = "record_label.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
      handler          = "lambdas.record_label.handler.handler"
      layers           = ["shared_layer"]
      permissions      = ["write_labels"]
    }
    start_workflow = {
      filename         = "start_workflow.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
      handler          = "lambdas.start_workflow.handler.handler"
      layers           = ["shared_layer"]
      permissions      = ["start_uploads"]
    }
  }
  layers = {
    shared_layer = {
      filename         = "shared_layer.zip"
      source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    }
  }
  extra_layer_arns  = ["arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:27"]
  endpoint_arn      = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/vehicle-classifier-test"
  images_bucket     = "vehicle-classifier-test-data"
  images_bucket_arn = "arn:aws:s3:::vehicle-classifier-test-data"
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  labels_bucket_arn = "arn:aws:s3:::vehicle-classifier-test-data"
  state_machines = {
    classify_image = { template = "../../../stepfunctions/classify_image.asl.json", type = "EXPRESS" }
    classify_batch = { template = "../../../stepfunctions/classify_batch.asl.json" }
    review         = { template = "../../../stepfunctions/review.asl.json" }
  }
  review_timeout_seconds = 7200
  alarm_actions          = ["arn:aws:sns:eu-west-1:123456789012:oncall"]
  trigger_state_machine  = "classify_image"
}

run "least_privilege_traced_encrypted_workflow" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for d in concat(values(data.aws_iam_policy_document.function), [data.aws_iam_policy_document.state_machine, data.aws_iam_policy_document.state_machine_common, data.aws_iam_policy_document.review_machine[0]]) : [
        for s in d.statement : [for a in s.actions : !strcontains(a, "*")]
      ]
    ]))
    error_message = "no role may use wildcard actions"
  }

  assert {
    condition = alltrue(flatten([
      for d in concat(values(data.aws_iam_policy_document.function), [data.aws_iam_policy_document.state_machine, data.aws_iam_policy_document.state_machine_common, data.aws_iam_policy_document.review_machine[0]]) : [
        for s in d.statement : alltrue([for a in s.actions : startswith(a, "xray:") || startswith(a, "logs:") && contains(["DeliverExecutionLogs"], s.sid) || a == "cloudwatch:PutMetricData" && length(s.condition) == 1]) if contains(s.resources, "*")
      ]
    ]))
    error_message = "Resource * is only for X-Ray, log delivery and namespace-scoped metrics (no resource-level permissions there)"
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.state_machine_common.statement :
      alltrue([for r in s.resources : r == "arn:aws:logs:eu-west-1:123456789012:*"]) if anytrue([for a in s.actions : contains(["logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"], a)])
    ])
    error_message = "the log resource-policy actions must be scoped to this account and region, not *"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.function["classify_image"].statement : s.resources if s.sid == "InvokeEndpoint"]) == toset([var.endpoint_arn])
    error_message = "classify_image may invoke only the stage's endpoint"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.function["serialize_image"].statement : s if s.sid == "InvokeEndpoint"]) == 0
    error_message = "serialize_image must not invoke the endpoint"
  }

  assert {
    condition     = toset([for s in data.aws_iam_policy_document.function["filter_inferences"].statement : s.sid]) == toset(["WriteOwnLogs", "XRayTracing", "DecryptEnvironmentAndData"])
    error_message = "filter_inferences needs nothing beyond its logs, tracing and its environment key"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.function["serialize_image"].statement : s.resources if s.sid == "ReadImages"]) == toset(["arn:aws:s3:::vehicle-classifier-test-data/incoming/*"])
    error_message = "image reads must be scoped to the images prefix"
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.kms_key_arn == var.kms_key_arn && one(f.tracing_config).mode == "Active" && f.publish])
    error_message = "functions: KMS-encrypted environment, active tracing, published versions"
  }

  assert {
    condition     = aws_lambda_function.this["classify_image"].layers[1] == var.extra_layer_arns[0]
    error_message = "the Powertools layer must be attached after the shared layer"
  }

  assert {
    condition     = alltrue([for g in concat(values(aws_cloudwatch_log_group.function), values(aws_cloudwatch_log_group.state_machine)) : g.kms_key_id == var.kms_key_arn && g.retention_in_days == 365])
    error_message = "every log group must be KMS-encrypted with retention"
  }

  assert {
    condition     = module.review_queue.queue.kms_master_key_id == var.kms_key_arn
    error_message = "the review queue must be KMS-encrypted"
  }

  assert {
    condition     = alltrue([for sm in aws_sfn_state_machine.this : one(sm.tracing_configuration).enabled && one(sm.logging_configuration).level == "ALL" && !one(sm.logging_configuration).include_execution_data])
    error_message = "state machines must trace with X-Ray and log every event, without execution data (image bytes, full inputs)"
  }

  assert {
    condition     = aws_sfn_state_machine.this["classify_image"].type == "EXPRESS" && aws_sfn_state_machine.this["review"].type == "STANDARD" && aws_sfn_state_machine.this["classify_batch"].type == "STANDARD"
    error_message = "the automatic path is Express; the review machine (waits for a person) and the batch (Distributed Map) are Standard"
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this["classify_image"].definition).States.Review.Resource == "arn:aws:states:::states:startExecution" && jsondecode(aws_sfn_state_machine.this["classify_image"].definition).States.Review.Parameters.StateMachineArn == "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test-review"
    error_message = "the Express machine starts the review machine without waiting (no .sync: Express cannot wait)"
  }

  assert {
    condition     = alltrue(flatten([for d in [data.aws_iam_policy_document.state_machine, data.aws_iam_policy_document.state_machine_common, data.aws_iam_policy_document.review_machine[0]] : [for s in d.statement : [for a in s.actions : !startswith(a, "events:")]]]))
    error_message = "no .sync integration is left, so the role needs no EventBridge managed-rule permissions"
  }

  assert {
    condition     = length(aws_sfn_state_machine.this) == 3 && alltrue([for sm in aws_sfn_state_machine.this : one(sm.encryption_configuration).type == "CUSTOMER_MANAGED_KMS_KEY" && one(sm.encryption_configuration).kms_key_id == var.kms_key_arn && one(sm.encryption_configuration).kms_data_key_reuse_period_seconds == 300])
    error_message = "every state machine encrypts its execution data with the stage key"
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.state_machine.statement : [for c in s.condition : [c.variable, toset(c.values)]] if s.sid == "EncryptExecutionData"] == [[[
      "kms:EncryptionContext:aws:states:stateMachineArn",
      toset([
        "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test-classify-batch",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test-classify-image",
      ]),
      ]]] && [for s in data.aws_iam_policy_document.review_machine[0].statement : [for c in s.condition : [c.variable, toset(c.values)]] if s.sid == "EncryptExecutionData"] == [[[
      "kms:EncryptionContext:aws:states:stateMachineArn",
      toset(["arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test-review"]),
    ]]]
    error_message = "each role may use the key for execution data only with its own state machines as encryption context"
  }

  assert {
    condition = (
      aws_sfn_state_machine.this["review"].role_arn == aws_iam_role.review_machine[0].arn
      && aws_sfn_state_machine.this["classify_image"].role_arn == aws_iam_role.state_machine.arn
      && one([for s in data.aws_iam_policy_document.review_machine[0].statement : s.resources if contains(s.actions, "lambda:InvokeFunction")]) == toset(["${local.function_arns["record_label"]}:*"])
      && toset([for s in data.aws_iam_policy_document.review_machine[0].statement : s.sid]) == toset(["InvokeRecordLabel", "SendToReviewQueue", "EncryptReviewMessages", "EncryptExecutionData", "CountReviewTimeouts"])
      && length([for s in data.aws_iam_policy_document.state_machine.statement : s if anytrue([for a in s.actions : startswith(a, "sqs:") || startswith(a, "cloudwatch:")])]) == 0
    )
    error_message = "the review machine has its own role (invoke record_label only, its queue, its key use, its metric); the classify machines' role neither sends review messages nor puts metrics"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.review_machine[0].statement : s if s.sid == "EncryptReviewMessages" && length(s.condition) == 1 && alltrue([for c in s.condition : c.variable == "kms:ViaService" && length(c.values) == 1 && alltrue([for v in c.values : startswith(v, "sqs.")])])]) == 1
    error_message = "the review machine may use the key for its messages only through SQS"
  }

  assert {
    condition     = alltrue([for k, sm in aws_sfn_state_machine.this : !can(regex("[$][{]", sm.definition)) && !strcontains(sm.definition, "$LATEST")])
    error_message = "the ASL must be fully rendered and call qualified function ARNs"
  }

  assert {
    condition     = strcontains(aws_sfn_state_machine.this["classify_image"].definition, aws_lambda_alias.live["classify_image"].arn)
    error_message = "the workflow must call the functions' live alias"
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.image_uploaded[0].event_pattern).detail.object.key[0].prefix == "incoming/"
    error_message = "only uploads under the images prefix start the workflow"
  }

  assert {
    condition     = aws_cloudwatch_event_target.image_uploaded[0].arn == module.upload_buffer[0].queue.arn && length(aws_cloudwatch_event_target.image_uploaded[0].input_transformer) == 0 && aws_cloudwatch_event_target.image_uploaded[0].role_arn == null
    error_message = "the rule must hand the whole S3 event to the buffer queue (the starter passes only {s3_bucket, s3_key} on), with no role"
  }

  assert {
    condition = module.upload_buffer[0].queue.kms_master_key_id == var.kms_key_arn && jsondecode(module.upload_buffer[0].queue.redrive_policy).deadLetterTargetArn == module.trigger_dlq[0].queue.arn && anytrue([
      for s in module.upload_buffer[0].policy_statements : s.effect == "Deny" && anytrue([for c in s.condition : c.variable == "aws:SecureTransport" && contains(c.values, "false")])
      ]) && one([
      for s in module.upload_buffer[0].policy_statements : anytrue([for c in s.condition : c.variable == "aws:SourceArn" && contains(c.values, aws_cloudwatch_event_rule.image_uploaded[0].arn)]) if s.effect != "Deny"
    ])
    error_message = "the buffer queue must be KMS-encrypted, TLS-only, fed only by the upload rule and dead-letter what cannot start"
  }

  assert {
    condition     = aws_lambda_function.this["start_workflow"].environment[0].variables.STARTS_PER_WINDOW == "60" && aws_lambda_function.this["start_workflow"].environment[0].variables.WINDOW_SECONDS == "60" && aws_lambda_function.this["start_workflow"].environment[0].variables.STATE_MACHINE_ARN == local.state_machine_arns["classify_image"]
    error_message = "the starter starts the triggered machine at most upload_starts_per_minute a minute"
  }

  assert {
    condition     = aws_lambda_event_source_mapping.upload_buffer[0].function_name == aws_lambda_function.this["start_workflow"].qualified_arn && contains(aws_lambda_event_source_mapping.upload_buffer[0].function_response_types, "ReportBatchItemFailures") && module.upload_buffer[0].queue.visibility_timeout_seconds >= aws_lambda_function.this["start_workflow"].timeout
    error_message = "the starter's published version reads the buffer, reporting deferred messages as batch item failures"
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.function["start_workflow"].statement : [s.sid, s.resources] if !contains(["WriteOwnLogs", "XRayTracing", "DecryptEnvironmentAndData"], s.sid)] == [
      ["ConsumeUploadBuffer", toset([module.upload_buffer[0].queue.arn])],
      ["CountAndRecordStarts", toset([aws_dynamodb_table.upload_starts[0].arn])],
      ["StartTriggeredWorkflow", toset([local.state_machine_arns["classify_image"]])],
    ] && alltrue([for k, d in data.aws_iam_policy_document.function : !strcontains(d.json, "states:StartExecution") if k != "start_workflow"])
    error_message = "only the starter may start the triggered machine, read the buffer and write the ledger"
  }

  assert {
    condition     = one(aws_dynamodb_table.upload_starts[0].server_side_encryption).kms_key_arn == var.kms_key_arn && one(aws_dynamodb_table.upload_starts[0].ttl).enabled
    error_message = "the start ledger is encrypted with the stage key and expires its items"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.upload_backlog[0].metric_name == "ApproximateAgeOfOldestMessage" && aws_cloudwatch_metric_alarm.upload_backlog[0].dimensions.QueueName == module.upload_buffer[0].queue.name && aws_cloudwatch_metric_alarm.upload_backlog[0].threshold == 900 && aws_cloudwatch_metric_alarm.upload_backlog[0].alarm_actions == toset(var.alarm_actions)
    error_message = "uploads waiting over upload_backlog_alarm_seconds page on-call"
  }

  assert {
    condition = one(aws_cloudwatch_event_target.image_uploaded[0].dead_letter_config).arn == module.trigger_dlq[0].queue.arn && module.trigger_dlq[0].queue.kms_master_key_id == var.kms_key_arn && anytrue([
      for s in module.trigger_dlq[0].policy_statements : s.effect == "Deny" && anytrue([for c in s.condition : c.variable == "aws:SecureTransport" && contains(c.values, "false")])
    ])
    error_message = "uploads whose start fails must land in an encrypted, TLS-only dead-letter queue, not be dropped"
  }

  assert {
    condition = one([
      for s in module.trigger_dlq[0].policy_statements : anytrue([for c in s.condition : c.variable == "aws:SourceArn" && contains(c.values, aws_cloudwatch_event_rule.image_uploaded[0].arn)]) if s.effect != "Deny"
    ])
    error_message = "only the upload rule may send dead letters"
  }
}

run "review_machine_waits_records_labels_and_alarms" {
  command = apply

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this["review"].definition).States.AskReviewer.TimeoutSeconds == 7200
    error_message = "the review waits no longer than the stage's review_timeout_seconds"
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this["review"].definition).States.AskReviewer.Parameters.QueueUrl == module.review_queue.queue.url
    error_message = "the review machine sends to the stage's review queue"
  }

  assert {
    condition     = endswith(jsondecode(aws_sfn_state_machine.this["classify_image"].definition).States.Review.Parameters.StateMachineArn, ":stateMachine:vehicle-classifier-test-review")
    error_message = "the classify machine must start the stage's review machine"
  }

  assert {
    condition     = endswith(jsondecode(aws_sfn_state_machine.this["classify_batch"].definition).States.ClassifyAll.ItemProcessor.States.Review.Parameters.StateMachineArn, ":stateMachine:vehicle-classifier-test-review")
    error_message = "batch items take the same review path"
  }

  assert {
    condition     = strcontains(aws_sfn_state_machine.this["review"].definition, aws_lambda_alias.live["record_label"].arn)
    error_message = "reviewed decisions are recorded through record_label's live alias"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.function["record_label"].statement : s.resources if s.sid == "WriteLabelRecords"]) == toset(["arn:aws:s3:::vehicle-classifier-test-data/labels/*"])
    error_message = "record_label may write only under the labels prefix"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.function["classify_image"].statement : s if s.sid == "WriteLabelRecords"]) == 0
    error_message = "only record_label writes label records"
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.review_machine[0].statement : [for c in s.condition : c.values] if s.sid == "CountReviewTimeouts"])) == toset(["VehicleClassifier"])
    error_message = "the ReviewTimedOut metric may go to the workflow namespace only"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.review_timed_out[0].metric_name == "ReviewTimedOut" && aws_cloudwatch_metric_alarm.review_timed_out[0].dimensions.service == "vehicle-classifier-test-review" && aws_cloudwatch_metric_alarm.review_timed_out[0].alarm_actions == toset(var.alarm_actions)
    error_message = "unanswered reviews page on-call through the ReviewTimedOut alarm of the review machine"
  }

  assert {
    condition     = output.labels_uri == "s3://vehicle-classifier-test-data/labels/" && output.review_state_machine_arn == aws_sfn_state_machine.this["review"].arn
    error_message = "the module outputs where labels go and the review machine"
  }

  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.live_misroute_rate[0].metric_query : q.expression if q.id == "z2"]) == "IF(audited >= 200, IF((misrouted - 0.01 * audited) > 0, (misrouted - 0.01 * audited) * (misrouted - 0.01 * audited) / (0.0099 * audited), 0), 0)"
    error_message = "the live misroute alarm tests the audited rate against the 1 % target once a day holds 200 audits"
  }

  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.live_misroute_rate[0].metric_query : q.id => [
        one(q.metric).metric_name, one(q.metric).namespace, one(q.metric).dimensions.service, one(q.metric).period, one(q.metric).stat,
      ] if q.id != "z2"
      } == {
      misrouted = ["AuditMisrouted", "VehicleClassifier", "record_label", 86400, "Sum"]
      audited   = ["AuditReviewed", "VehicleClassifier", "record_label", 86400, "Sum"]
    }
    error_message = "the alarm reads record_label's daily audit counts from the workflow namespace"
  }

  assert {
    condition     = abs(aws_cloudwatch_metric_alarm.live_misroute_rate[0].threshold - 3.72 * 3.72) < 1e-9 && aws_cloudwatch_metric_alarm.live_misroute_rate[0].comparison_operator == "GreaterThanThreshold" && aws_cloudwatch_metric_alarm.live_misroute_rate[0].alarm_actions == toset(var.alarm_actions) && output.live_misroute_alarm_name == "vehicle-classifier-test-live-misroute-rate"
    error_message = "more than 3.72 standard errors above target pages on-call"
  }
}

run "live_misroute_alarm_follows_its_settings" {
  command = plan

  variables {
    state_machines = {
      classify_image = { template = "../../../stepfunctions/classify_image.asl.json" }
      review         = { template = "../../../stepfunctions/classify_image.asl.json" }
    }
    live_misroute_alarm = { target = 0.02, min_audits = 500, z = 3 }
  }

  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.live_misroute_rate[0].metric_query : q.expression if q.id == "z2"]) == "IF(audited >= 500, IF((misrouted - 0.02 * audited) > 0, (misrouted - 0.02 * audited) * (misrouted - 0.02 * audited) / (0.0196 * audited), 0), 0)" && aws_cloudwatch_metric_alarm.live_misroute_rate[0].threshold == 9
    error_message = "target, minimum audits and z come from live_misroute_alarm"
  }
}

run "rejects_a_live_misroute_alarm_on_too_few_audits" {
  command = plan

  variables {
    live_misroute_alarm = { min_audits = 10 }
  }

  expect_failures = [var.live_misroute_alarm]
}

run "rejects_review_timeout_beyond_the_queue_retention" {
  command = plan

  variables {
    review_timeout_seconds           = 7200
    review_message_retention_seconds = 3600
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "rejects_bad_review_timeout" {
  command = plan

  variables {
    review_timeout_seconds = 0.5
  }

  expect_failures = [var.review_timeout_seconds]
}

run "rejects_unknown_permission" {
  command = plan

  variables {
    functions = {
      rogue = {
        filename         = "rogue.zip"
        source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        handler          = "rogue.handler"
        permissions      = ["s3_full_access"]
      }
    }
  }

  expect_failures = [var.functions]
}

run "rejects_bad_retention" {
  command = plan

  variables {
    log_retention_days = 10
  }

  expect_failures = [var.log_retention_days]
}

run "rejects_unsupported_runtime" {
  command = plan

  variables {
    runtime = "python3.11"
  }

  expect_failures = [var.runtime]
}

run "rejects_data_key_reuse_outside_the_service_range" {
  command = plan

  variables {
    kms_data_key_reuse_period_seconds = 30
  }

  expect_failures = [var.kms_data_key_reuse_period_seconds]
}

run "reserved_concurrency_caps_every_function" {
  command = apply

  variables {
    reserved_concurrency = 7
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.reserved_concurrent_executions == 7]) && length(aws_lambda_function.this) > 0
    error_message = "reserved_concurrency must cap every workflow function"
  }
}

run "unreserved_by_default" {
  command = apply

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.reserved_concurrent_executions == -1])
    error_message = "without reserved_concurrency the functions stay on the unreserved pool"
  }
}

run "rejects_a_start_rate_out_of_bounds" {
  command = plan

  variables {
    upload_starts_per_minute = 0
  }

  expect_failures = [var.upload_starts_per_minute]
}

# --- the reviewers' policy (reviewer.tf) ---

run "reviewer_policy_is_minimal_and_scoped" {
  command = apply

  # The review machine lives elsewhere: the policy answers the ARN given.
  variables {
    review_state_machine_arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test-review"
    state_machines = {
      classify_image = { template = "../../../stepfunctions/classify_image.asl.json" }
      classify_batch = { template = "../../../stepfunctions/classify_batch.asl.json" }
    }
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.reviewer[0].statement : alltrue([for a in s.actions : !strcontains(a, "*")])])
    error_message = "the reviewer policy must not use wildcard actions"
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.reviewer[0].statement : !contains(s.resources, "*")])
    error_message = "every reviewer statement names its resources"
  }

  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.reviewer[0].statement : s.actions])) == toset([
      "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
      "states:SendTaskSuccess", "states:SendTaskFailure", "states:DescribeExecution",
      "s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey",
    ])
    error_message = "the reviewer gets exactly the actions the review tool uses"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reviewer[0].statement : s.resources if s.sid == "ReadAndAnswerReviewMessages"]) == toset([module.review_queue.queue.arn])
    error_message = "queue actions are scoped to the review queue"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reviewer[0].statement : s.resources if s.sid == "AnswerReviewTasks"]) == toset([var.review_state_machine_arn])
    error_message = "answers are scoped to the review state machine"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reviewer[0].statement : s.resources if s.sid == "SeeWhatBecameOfAReview"]) == toset(["arn:aws:states:eu-west-1:123456789012:execution:vehicle-classifier-test-review:*"])
    error_message = "DescribeExecution is scoped to the review machine's executions"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reviewer[0].statement : s.resources if s.sid == "ReadImagesUnderReview"]) == toset(["arn:aws:s3:::vehicle-classifier-test-data/incoming/*"])
    error_message = "image reads are scoped to the images prefix"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reviewer[0].statement : s.resources if s.sid == "WriteLabelRecords"]) == toset(["arn:aws:s3:::vehicle-classifier-test-data/labels/*"])
    error_message = "writes are scoped to the labels prefix"
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.reviewer[0].statement : [
        for c in s.condition : [c.test, c.variable, toset(c.values)]
      ] if s.sid == "UseStageKeyThroughTheseServicesOnly"
      ] == [[["StringEquals", "kms:ViaService", toset([
        "sqs.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com", "states.eu-west-1.amazonaws.com",
    ])]]]
    error_message = "the stage key is usable only through SQS, S3 and Step Functions"
  }

  assert {
    condition     = output.reviewer_policy_arn == aws_iam_policy.reviewer[0].arn && aws_iam_policy.reviewer[0].policy == data.aws_iam_policy_document.reviewer[0].json
    error_message = "the policy is created from the document and output for the team to attach"
  }
}

run "reviewer_policy_follows_the_modules_own_review_machine" {
  command = plan

  variables {
    state_machines = {
      classify_image = { template = "../../../stepfunctions/classify_image.asl.json" }
      review         = { template = "../../../stepfunctions/classify_image.asl.json" }
    }
    labels_bucket_arn = "arn:aws:s3:::vehicle-classifier-test-labels"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reviewer[0].statement : s.resources if s.sid == "AnswerReviewTasks"]) == toset([local.state_machine_arns["review"]])
    error_message = "without an explicit ARN the policy answers the module's `review` machine"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reviewer[0].statement : s.resources if s.sid == "WriteLabelRecords"]) == toset(["arn:aws:s3:::vehicle-classifier-test-labels/labels/*"])
    error_message = "label writes follow labels_bucket_arn"
  }
}

run "no_reviewer_policy_without_a_review_machine" {
  command = plan

  variables {
    state_machines = {
      classify_image = { template = "../../../stepfunctions/classify_image.asl.json" }
      classify_batch = { template = "../../../stepfunctions/classify_batch.asl.json" }
    }
  }

  assert {
    condition     = length(aws_iam_policy.reviewer) == 0 && output.reviewer_policy_arn == null
    error_message = "no review machine, no reviewer policy"
  }
}

run "labels_reader_policy_is_read_only_and_scoped" {
  command = plan

  variables {
    labels_bucket_arn = "arn:aws:s3:::vehicle-classifier-test-labels"
  }

  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.labels_reader.statement : s.actions])) == toset([
      "s3:ListBucket", "s3:GetObject", "kms:Decrypt",
    ])
    error_message = "the labels reader only lists and reads (no write, no wildcard)"
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.labels_reader.statement : [
        s.resources, [for c in s.condition : [c.test, c.variable, toset(c.values)]]
      ] if s.sid == "ListLabelRecords"
    ] == [[toset(["arn:aws:s3:::vehicle-classifier-test-labels"]), [["StringLike", "s3:prefix", toset(["labels/*"])]]]]
    error_message = "listing is limited to the labels prefix of the labels bucket"
  }

  assert {
    condition = one([for s in data.aws_iam_policy_document.labels_reader.statement : s.resources if s.sid == "ReadLabelRecordsAndTheirImages"]) == toset([
      "arn:aws:s3:::vehicle-classifier-test-labels/labels/*", "arn:aws:s3:::vehicle-classifier-test-data/incoming/*",
    ])
    error_message = "reads are limited to the label records and the uploads they point at"
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.labels_reader.statement : [
        for c in s.condition : [c.test, c.variable, toset(c.values)]
      ] if s.sid == "DecryptThroughS3Only"
    ] == [[["StringEquals", "kms:ViaService", toset(["s3.eu-west-1.amazonaws.com"])]]]
    error_message = "the stage key decrypts only through S3"
  }
}
