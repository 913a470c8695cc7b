mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  name               = "vehicle-classifier-test"
  model_data_url     = "s3://vehicle-classifier-test-data/models/run-1/output/model.tar.gz"
  model_image_uri    = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
  kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  capture_bucket     = "vehicle-classifier-test-capture"
  capture_bucket_arn = "arn:aws:s3:::vehicle-classifier-test-capture"
  alarm_actions      = ["arn:aws:sns:eu-west-1:123456789012:vehicle-classifier-test-oncall"]
  min_capacity       = 2
  max_capacity       = 5
}

run "instance_endpoint" {
  command = apply

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.name_prefix == "vehicle-classifier-test-"
    error_message = "endpoint configs must be named from a prefix (immutable configs are replaced, not updated)"
  }

  assert {
    condition     = aws_sagemaker_model.this.enable_network_isolation
    error_message = "instance-hosted models must run network-isolated"
  }

  assert {
    condition     = one(aws_sagemaker_model.this.primary_container).model_data_url == var.model_data_url && one(aws_sagemaker_model.this.primary_container).image == var.model_image_uri
    error_message = "the model must serve the promoted artifact and image"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.kms_key_arn == var.kms_key_arn
    error_message = "the instance storage volume must be encrypted with the stage key"
  }

  assert {
    condition = alltrue([
      one(aws_sagemaker_endpoint_configuration.this.data_capture_config).enable_capture,
      one(aws_sagemaker_endpoint_configuration.this.data_capture_config).kms_key_id == var.kms_key_arn,
      one(aws_sagemaker_endpoint_configuration.this.data_capture_config).destination_s3_uri == "s3://vehicle-classifier-test-capture/datacapture",
      one(aws_sagemaker_endpoint_configuration.this.data_capture_config).initial_sampling_percentage == 100,
    ])
    error_message = "data capture must be on, KMS-encrypted, to the capture bucket, sampling everything"
  }

  assert {
    condition     = toset([for o in one(aws_sagemaker_endpoint_configuration.this.data_capture_config).capture_options : o.capture_mode]) == toset(["Input", "Output"])
    error_message = "both requests and responses must be captured"
  }

  assert {
    condition     = one(one(aws_sagemaker_endpoint_configuration.this.data_capture_config).capture_content_type_header).json_content_types == toset(["application/json"])
    error_message = "JSON bodies must be captured as readable text"
  }

  assert {
    condition     = one(aws_sagemaker_endpoint_configuration.this.production_variants).initial_instance_count == 2 && one(aws_sagemaker_endpoint_configuration.this.production_variants).instance_type == "ml.m5.large"
    error_message = "a new config starts at min_capacity instances of instance_type"
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == 2 && aws_appautoscaling_target.this[0].max_capacity == 5
    error_message = "autoscaling bounds must be min_capacity..max_capacity"
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].resource_id == "endpoint/vehicle-classifier-test/variant/AllTraffic" && aws_appautoscaling_target.this[0].scalable_dimension == "sagemaker:variant:DesiredInstanceCount"
    error_message = "the scalable target must be the variant's instance count"
  }

  assert {
    condition     = one(one(aws_appautoscaling_policy.invocations[0].target_tracking_scaling_policy_configuration).predefined_metric_specification).predefined_metric_type == "SageMakerVariantInvocationsPerInstance"
    error_message = "target tracking must follow invocations per instance"
  }

  assert {
    condition = toset([for a in one(one(aws_sagemaker_endpoint.this.deployment_config).auto_rollback_configuration).alarms : a.alarm_name]) == toset([
      aws_cloudwatch_metric_alarm.errors_5xx.alarm_name, aws_cloudwatch_metric_alarm.latency.alarm_name,
    ])
    error_message = "blue/green updates must roll back on the 5xx and latency alarms"
  }

  assert {
    condition     = one(one(one(aws_sagemaker_endpoint.this.deployment_config).blue_green_update_policy).traffic_routing_configuration).type == "ALL_AT_ONCE"
    error_message = "without a canary share traffic shifts all at once after the bake"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.latency.threshold == 500000 && aws_cloudwatch_metric_alarm.latency.extended_statistic == "p90"
    error_message = "latency alarm: p90 above 500 ms (ModelLatency is in microseconds)"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.errors_5xx.threshold == 1 && aws_cloudwatch_metric_alarm.errors_5xx.alarm_actions == toset(var.alarm_actions)
    error_message = "5xx alarm must page on-call from the first error"
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.execution.statement : alltrue([for a in s.actions : !endswith(a, "*")])])
    error_message = "the execution role must not use wildcard actions"
  }

  assert {
    condition = one([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "ReadModelArtifact"]) == toset([
      "arn:aws:s3:::vehicle-classifier-test-data/models/run-1/output/model.tar.gz",
    ])
    error_message = "the execution role may read the promoted artifact only"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "PullInferenceImage"]) == toset(["arn:aws:ecr:eu-west-1:763104351884:repository/pytorch-inference"])
    error_message = "image pulls must be scoped to the inference image's repository"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "WriteDataCapture"]) == toset(["arn:aws:s3:::vehicle-classifier-test-capture/datacapture/*"])
    error_message = "the execution role may write data capture under the capture prefix only"
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn && aws_cloudwatch_log_group.this.retention_in_days == 365
    error_message = "endpoint logs must be KMS-encrypted with retention"
  }
}

run "canary_rollout" {
  command = plan

  variables {
    canary_percentage = 10
  }

  assert {
    condition     = one(one(one(one(aws_sagemaker_endpoint.this.deployment_config).blue_green_update_policy).traffic_routing_configuration).canary_size).value == 10
    error_message = "a canary share shifts that share first"
  }
}

run "serverless_endpoint" {
  command = plan

  variables {
    serverless = true
  }

  assert {
    condition     = length(aws_sagemaker_endpoint_configuration.this.data_capture_config) == 0
    error_message = "serverless endpoints support no data capture"
  }

  assert {
    condition     = length(aws_appautoscaling_target.this) == 0 && length(aws_appautoscaling_policy.invocations) == 0
    error_message = "serverless endpoints take no Application Auto Scaling target"
  }

  assert {
    condition     = length(aws_sagemaker_endpoint.this.deployment_config) == 0
    error_message = "serverless endpoints take no blue/green guardrails"
  }

  assert {
    condition     = one(one(aws_sagemaker_endpoint_configuration.this.production_variants).serverless_config).memory_size_in_mb == 2048
    error_message = "the serverless variant must get its memory size"
  }
}

run "off_hours_scale_to_the_floor_and_back" {
  command = apply

  variables {
    off_hours = {
      scale_down_cron = "cron(0 20 ? * MON-FRI *)"
      scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
      timezone        = "Europe/Berlin"
    }
  }

  assert {
    condition     = aws_appautoscaling_scheduled_action.scale_down[0].schedule == "cron(0 20 ? * MON-FRI *)" && aws_appautoscaling_scheduled_action.scale_down[0].timezone == "Europe/Berlin"
    error_message = "the scale-down runs on its cron in the stage's time zone"
  }

  assert {
    condition     = one(aws_appautoscaling_scheduled_action.scale_down[0].scalable_target_action).min_capacity == "1" && one(aws_appautoscaling_scheduled_action.scale_down[0].scalable_target_action).max_capacity == "1"
    error_message = "off hours hold min and max at one instance (a real-time endpoint cannot go to 0)"
  }

  assert {
    condition     = one(aws_appautoscaling_scheduled_action.scale_up[0].scalable_target_action).min_capacity == "2" && one(aws_appautoscaling_scheduled_action.scale_up[0].scalable_target_action).max_capacity == "5"
    error_message = "the working day restores min_capacity and max_capacity"
  }

  assert {
    condition     = aws_appautoscaling_scheduled_action.scale_up[0].resource_id == aws_appautoscaling_target.this[0].resource_id && aws_appautoscaling_scheduled_action.scale_down[0].service_namespace == "sagemaker"
    error_message = "both actions act on the endpoint variant's scalable target"
  }
}

run "no_off_hours_schedule_by_default_or_for_serverless" {
  command = plan

  variables {
    serverless = true
    off_hours = {
      scale_down_cron = "cron(0 20 ? * MON-FRI *)"
      scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
    }
  }

  assert {
    condition     = length(aws_appautoscaling_scheduled_action.scale_down) == 0 && length(aws_appautoscaling_scheduled_action.scale_up) == 0
    error_message = "a serverless endpoint has no instances to schedule"
  }
}

run "rejects_a_schedule_that_is_no_cron" {
  command = plan

  variables {
    off_hours = {
      scale_down_cron = "rate(1 day)"
      scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
    }
  }

  expect_failures = [var.off_hours]
}

run "rejects_scaling_to_zero_instances" {
  command = plan

  variables {
    off_hours = {
      scale_down_cron = "cron(0 20 ? * MON-FRI *)"
      scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
      capacity        = 0
    }
  }

  expect_failures = [var.off_hours]
}

run "rejects_a_time_zone_that_is_no_name" {
  command = plan

  variables {
    off_hours = {
      scale_down_cron = "cron(0 20 ? * MON-FRI *)"
      scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
      timezone        = "+02:00"
    }
  }

  expect_failures = [var.off_hours]
}

run "local_nvme_instances_take_no_volume_key" {
  command = plan

  variables {
    instance_type = "ml.g4dn.xlarge"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.kms_key_arn == null
    error_message = "SageMaker rejects a volume KMS key for instances with local NVMe storage"
  }
}

run "rejects_min_above_max" {
  command = plan

  variables {
    min_capacity = 3
    max_capacity = 2
  }

  expect_failures = [var.max_capacity]
}

run "rejects_unknown_instance_type" {
  command = plan

  variables {
    instance_type = "m5.large"
  }

  expect_failures = [var.instance_type]
}

run "rejects_non_tarball_model" {
  command = plan

  variables {
    model_data_url = "https://example.com/model.pt"
  }

  expect_failures = [var.model_data_url]
}

run "rejects_non_ecr_image" {
  command = plan

  variables {
    model_image_uri = "docker.io/library/python:3.11"
  }

  expect_failures = [var.model_image_uri]
}

run "rejects_names_too_long_for_endpoint_configs" {
  command = plan

  variables {
    name = "vehicle-classifier-a-very-long-stage-name"
  }

  expect_failures = [var.name]
}

run "the_model_environment_reaches_the_container" {
  command = plan

  variables {
    model_environment = { SAGEMAKER_MODEL_SERVER_WORKERS = "2", SERVING_RUNTIME = "onnx" }
  }

  assert {
    condition     = one(aws_sagemaker_model.this.primary_container).environment == tomap({ SAGEMAKER_MODEL_SERVER_WORKERS = "2", SERVING_RUNTIME = "onnx" })
    error_message = "the container must get the stage's serving settings"
  }
}

run "rejects_an_unknown_serving_runtime" {
  command = plan

  variables {
    model_environment = { SERVING_RUNTIME = "tensorrt" }
  }

  expect_failures = [var.model_environment]
}

run "rejects_a_worker_count_that_is_no_whole_number" {
  command = plan

  variables {
    model_environment = { SAGEMAKER_MODEL_SERVER_WORKERS = "0" }
  }

  expect_failures = [var.model_environment]
}
