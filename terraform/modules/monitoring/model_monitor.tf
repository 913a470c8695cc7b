# --- drift job as a SageMaker Model Monitor schedule (runner = "model_monitor") ---------------
# The design card's Model Monitor job, for accounts that still have Model Monitor (closed to new
# customers): an hourly data-quality schedule runs the project's own container under the
# bring-your-own-container contract. Model Monitor copies the previous hour's captures of the
# stage's endpoint and the baseline (our baseline.json as "statistics") into the container and
# uploads what it writes; the container (`python3 -m monitoring` with MONITORING_BYOC=true)
# judges the hour with the stage's settings and puts the same CloudWatch metrics as the Lambda,
# so the drift, low-confidence, no-data and JobFailed alarms are the same.

locals {
  model_monitor_name = "${var.name}-drift"
  # Where the container finds the hour's captures and writes its reports (run_byoc's defaults).
  model_monitor_input_path  = "/opt/ml/processing/input/endpoint"
  model_monitor_output_path = "/opt/ml/processing/resultdata"
}

resource "aws_sagemaker_data_quality_job_definition" "drift" {
  count = local.model_monitor_enabled ? 1 : 0

  name     = local.model_monitor_name
  role_arn = aws_iam_role.processing[0].arn

  data_quality_app_specification {
    # Model Monitor takes no entry point: the image's ENTRYPOINT runs `python3 -m monitoring`.
    image_uri   = var.container.image_uri
    environment = merge(local.job_environment, var.drift_job.environment, { MONITORING_BYOC = "true" })
  }

  data_quality_baseline_config {
    statistics_resource {
      s3_uri = var.baseline_s3_uri
    }
  }

  data_quality_job_input {
    endpoint_input {
      endpoint_name             = var.endpoint_name
      local_path                = local.model_monitor_input_path
      s3_input_mode             = "File"
      s3_data_distribution_type = "FullyReplicated"
    }
  }

  data_quality_job_output_config {
    kms_key_id = var.kms_key_arn

    monitoring_outputs {
      s3_output {
        # Model Monitor adds <endpoint>/<schedule>/yyyy/mm/dd/hh below this prefix.
        s3_uri         = "s3://${var.reports_bucket}/drift/model-monitor"
        local_path     = local.model_monitor_output_path
        s3_upload_mode = "EndOfJob"
      }
    }
  }

  job_resources {
    cluster_config {
      instance_count    = 1
      instance_type     = var.container.instance_type
      volume_size_in_gb = var.container.volume_size_gb
      volume_kms_key_id = var.kms_key_arn
    }
  }

  network_config {
    enable_inter_container_traffic_encryption = true
    # Not isolated: the container puts its metrics itself (PutMetricData, the drift namespace
    # only). Model Monitor's file-based metrics land in a fixed SageMaker namespace without our
    # Stage and VariantName dimensions, where the stage's alarms would never see them.
    enable_network_isolation = false
  }

  stopping_condition {
    max_runtime_in_seconds = var.container.max_runtime_seconds
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.processing]
}

resource "aws_sagemaker_monitoring_schedule" "drift" {
  count = local.model_monitor_enabled ? 1 : 0

  name = local.model_monitor_name

  monitoring_schedule_config {
    monitoring_job_definition_name = aws_sagemaker_data_quality_job_definition.drift[0].name
    monitoring_type                = "DataQuality"

    schedule_config {
      # Model Monitor's hourly expression; each run reads the previous full hour.
      schedule_expression = "cron(0 * ? * * *)"
    }
  }

  tags = var.tags
}
