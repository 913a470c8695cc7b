data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id

  variant_name = "AllTraffic"
  # Instance families with local NVMe storage (m5d, g4dn, ...) encrypt it in hardware and
  # SageMaker rejects a KmsKeyId for them.
  local_nvme     = can(regex("^ml\\.[a-z]+[0-9][a-z]*d[a-z]*\\.", var.instance_type))
  volume_kms     = var.serverless || local.local_nvme ? null : var.kms_key_arn
  instance_fleet = !var.serverless
  off_hours      = local.instance_fleet && var.off_hours != null

  model_object_arn = "arn:${local.partition}:s3:::${trimprefix(var.model_data_url, "s3://")}"
  image_parts      = regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.model_image_uri)
  image_repo_arn   = "arn:${local.partition}:ecr:${local.image_parts[1]}:${local.image_parts[0]}:repository/${local.image_parts[2]}"
  # A new model (and endpoint config) per artifact/image pair; names stay unique per promotion.
  model_revision = substr(sha256("${var.model_data_url}|${var.model_image_uri}|${jsonencode(var.model_environment)}"), 0, 10)
  log_group_name = "/aws/sagemaker/Endpoints/${var.name}"
  capture_uri    = "s3://${var.capture_bucket}/${var.capture_prefix}"
}

# --- execution role --------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name_prefix        = "${substr(var.name, 0, 27)}-model-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "ReadModelArtifact"
    actions   = ["s3:GetObject"]
    resources = [local.model_object_arn]
  }

  # SageMaker writes data capture with the model's execution role.
  dynamic "statement" {
    for_each = local.instance_fleet ? [1] : []
    content {
      sid       = "WriteDataCapture"
      actions   = ["s3:PutObject"]
      resources = ["${var.capture_bucket_arn}/${var.capture_prefix}/*"]
    }
  }

  statement {
    sid       = "UseStageKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "PullInferenceImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [local.image_repo_arn]
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }

  statement {
    sid       = "WriteEndpointLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "PublishContainerMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; scoped by namespace.
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }

  dynamic "statement" {
    for_each = var.vpc_config == null ? [] : [1]
    content {
      sid = "AttachToVpc"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
      ]
      resources = ["*"] # ENIs are created by SageMaker; their ARNs are not known in advance.
      condition {
        test     = "ArnEquals"
        variable = "ec2:Subnet"
        values   = [for id in var.vpc_config.subnet_ids : "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/${id}"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# --- model, endpoint configuration, endpoint ---------------------------------------------------

resource "aws_sagemaker_model" "this" {
  #checkov:skip=CKV_AWS_370:Network isolation is on for instance variants (enable_network_isolation = !serverless); serverless variants do not support it.
  name               = "${var.name}-${local.model_revision}"
  execution_role_arn = aws_iam_role.this.arn
  # Serverless variants cannot run network-isolated containers.
  enable_network_isolation = local.instance_fleet

  primary_container {
    image          = var.model_image_uri
    model_data_url = var.model_data_url
    environment    = var.model_environment
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnets            = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_iam_role_policy.execution]
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  # Endpoint configs are immutable: every change is a new config (unique name from the prefix),
  # created before the old one is deleted so the endpoint update can switch over.
  name_prefix = "${var.name}-"
  kms_key_arn = local.volume_kms

  production_variants {
    variant_name           = local.variant_name
    model_name             = aws_sagemaker_model.this.name
    initial_variant_weight = 1
    instance_type          = local.instance_fleet ? var.instance_type : null
    initial_instance_count = local.instance_fleet ? var.min_capacity : null

    dynamic "serverless_config" {
      for_each = var.serverless ? [1] : []
      content {
        memory_size_in_mb = var.serverless_memory_mb
        max_concurrency   = var.serverless_max_concurrency
      }
    }
  }

  dynamic "data_capture_config" {
    for_each = local.instance_fleet ? [1] : []
    content {
      enable_capture              = true
      initial_sampling_percentage = var.capture_sampling_percentage
      destination_s3_uri          = local.capture_uri
      kms_key_id                  = var.kms_key_arn

      capture_options {
        capture_mode = "Input"
      }
      capture_options {
        capture_mode = "Output"
      }

      # JSON bodies are stored as readable text (base64 only for other content types): the
      # drift job parses the captured [p_bicycle, p_motorcycle] answers and JSON requests.
      capture_content_type_header {
        json_content_types = ["application/json"]
      }
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_metric_alarm" "errors_5xx" {
  alarm_name          = "${var.name}-endpoint-5xx"
  alarm_description   = "Endpoint ${var.name} returns 5xx errors; rolls back a blue/green update in progress. Runbook: monitoring/RUNBOOK.md."
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.error_5xx_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    EndpointName = var.name
    VariantName  = local.variant_name
  }
  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  alarm_name          = "${var.name}-endpoint-latency"
  alarm_description   = "p90 model latency of ${var.name} above ${var.latency_threshold_ms} ms; rolls back a blue/green update in progress. Runbook: monitoring/RUNBOOK.md."
  namespace           = "AWS/SageMaker"
  metric_name         = "ModelLatency"
  extended_statistic  = "p90"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.latency_threshold_ms * 1000 # ModelLatency is in microseconds.
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    EndpointName = var.name
    VariantName  = local.variant_name
  }
  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name

  # Blue/green with automatic rollback on the alarms above. Serverless endpoints take no
  # deployment guardrails.
  dynamic "deployment_config" {
    for_each = local.instance_fleet ? [1] : []
    content {
      blue_green_update_policy {
        maximum_execution_timeout_in_seconds = max(600, var.deployment_wait_seconds * 3)
        termination_wait_in_seconds          = min(600, var.deployment_wait_seconds)

        traffic_routing_configuration {
          type                     = var.canary_percentage > 0 ? "CANARY" : "ALL_AT_ONCE"
          wait_interval_in_seconds = var.deployment_wait_seconds

          dynamic "canary_size" {
            for_each = var.canary_percentage > 0 ? [var.canary_percentage] : []
            content {
              type  = "CAPACITY_PERCENT"
              value = canary_size.value
            }
          }
        }
      }

      auto_rollback_configuration {
        alarms {
          alarm_name = aws_cloudwatch_metric_alarm.errors_5xx.alarm_name
        }
        alarms {
          alarm_name = aws_cloudwatch_metric_alarm.latency.alarm_name
        }
      }
    }
  }

  tags = var.tags
}

# --- autoscaling ---------------------------------------------------------------------------------

# Terraform manages only min/max here, never the desired count, so an apply leaves the current
# capacity alone. A new endpoint config (a promotion) starts its green fleet at
# initial_instance_count = min_capacity: the provider does not expose UpdateEndpoint's
# RetainAllVariantProperties, and the policy scales back out within minutes.
resource "aws_appautoscaling_target" "this" {
  count = local.instance_fleet ? 1 : 0

  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${local.variant_name}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
  tags               = var.tags

  lifecycle {
    # The service-linked role is filled in by Application Auto Scaling.
    ignore_changes = [role_arn]
  }
}

resource "aws_appautoscaling_policy" "invocations" {
  count = local.instance_fleet ? 1 : 0

  name               = "${var.name}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_invocations_per_instance
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}

# Off hours: min and max to the floor (the endpoint cannot go below one instance), back at the
# start of the working day. An apply during off hours restores min/max until the next
# scale-down, since Terraform owns the target's daytime values.
resource "aws_appautoscaling_scheduled_action" "scale_down" {
  count = local.off_hours ? 1 : 0

  name               = "${var.name}-off-hours-scale-down"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  schedule           = var.off_hours.scale_down_cron
  timezone           = var.off_hours.timezone

  scalable_target_action {
    min_capacity = min(var.off_hours.capacity, var.min_capacity)
    max_capacity = min(var.off_hours.capacity, var.min_capacity)
  }
}

resource "aws_appautoscaling_scheduled_action" "scale_up" {
  count = local.off_hours ? 1 : 0

  name               = "${var.name}-off-hours-scale-up"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  schedule           = var.off_hours.scale_up_cron
  timezone           = var.off_hours.timezone

  scalable_target_action {
    min_capacity = var.min_capacity
    max_capacity = var.max_capacity
  }

  # Application Auto Scaling runs one scheduled action at a time per target.
  depends_on = [aws_appautoscaling_scheduled_action.scale_down]
}
