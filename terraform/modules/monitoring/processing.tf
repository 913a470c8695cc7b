# --- drift job in the project's container (runner processing_job or model_monitor) -----------
# processing_job: for capture volumes past what one 15-minute Lambda run reads, EventBridge
# Scheduler starts a Processing job running the same code (`python3 -m monitoring`, the
# previous full hour) in the project's own container, with the Lambda's environment, so the
# reports, metrics and alarms are the same. model_monitor: model_monitor.tf. Both run under the
# role below. The Lambda stays deployed for runs by hand ({"start": ..., "end": ...}).

locals {
  container_enabled     = var.runner != "lambda"
  processing_enabled    = var.runner == "processing_job"
  model_monitor_enabled = var.runner == "model_monitor"
  job_environment = {
    CAPTURE_S3_URI       = "s3://${var.capture_bucket}/${var.capture_prefix}"
    BASELINE_S3_URI      = var.baseline_s3_uri
    REPORT_S3_URI        = "s3://${var.reports_bucket}/drift"
    ENDPOINT_NAME        = var.endpoint_name
    VARIANT_NAME         = var.variant_name
    STAGE                = var.stage
    METRICS_NAMESPACE    = var.metric_namespace
    CONFIDENCE_THRESHOLD = tostring(var.decision_threshold)
    MODEL_SHA256         = var.model_sha256
  }
  processing_job_prefix = "${substr(var.name, 0, 40)}-drift-"
  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]
  processing_image = local.container_enabled ? regex(
    "^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.container.image_uri
  ) : []
}

data "aws_iam_policy_document" "processing_assume" {
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

resource "aws_iam_role" "processing" {
  count = local.container_enabled ? 1 : 0

  name_prefix        = "${substr(var.name, 0, 27)}-driftpj-"
  assume_role_policy = data.aws_iam_policy_document.processing_assume.json
  tags               = var.tags
}

# The same least privilege for both container runners: Model Monitor copies the hour's captures
# and the baseline in and the reports out under this role; a Processing job reads and writes
# them itself. The data access is the Lambda's (drift_data, main.tf); the rest is the container's.
data "aws_iam_policy_document" "processing" {
  count = local.container_enabled ? 1 : 0

  source_policy_documents = [data.aws_iam_policy_document.drift_data.json]

  # The job's ML storage volume is encrypted with the stage key (VolumeKmsKeyId): SageMaker
  # creates a grant for the volume on the job's behalf.
  statement {
    sid       = "EncryptJobVolume"
    actions   = ["kms:CreateGrant", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/ProcessingJobs*"]
  }

  statement {
    sid       = "PullJobImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = ["arn:${local.partition}:ecr:${local.processing_image[1]}:${local.processing_image[0]}:repository/${local.processing_image[2]}"]
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }
}

resource "aws_iam_role_policy" "processing" {
  count = local.container_enabled ? 1 : 0

  name   = "least-privilege"
  role   = aws_iam_role.processing[0].id
  policy = data.aws_iam_policy_document.processing[0].json
}

locals {
  # CreateProcessingJob as EventBridge Scheduler's universal target; one job per scheduled run
  # (the execution id keeps names unique, the job reads the previous full hour).
  processing_job_request = local.processing_enabled ? {
    ProcessingJobName = "${local.processing_job_prefix}<aws.scheduler.execution-id>"
    RoleArn           = aws_iam_role.processing[0].arn
    AppSpecification = {
      ImageUri            = var.container.image_uri
      ContainerEntrypoint = ["python3", "-m", "monitoring"]
    }
    ProcessingResources = {
      ClusterConfig = {
        InstanceCount  = 1
        InstanceType   = var.container.instance_type
        VolumeSizeInGB = var.container.volume_size_gb
        VolumeKmsKeyId = var.kms_key_arn
      }
    }
    StoppingCondition = { MaxRuntimeInSeconds = var.container.max_runtime_seconds }
    Environment       = merge(local.job_environment, var.drift_job.environment)
    Tags              = [{ Key = "Stage", Value = var.stage }]
  } : null
}
