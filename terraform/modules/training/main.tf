data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.id
  account_id     = data.aws_caller_identity.current.account_id
  parameter_path = "${var.parameter_prefix}/${var.stage}/training"
}

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

resource "aws_iam_role" "execution" {
  name_prefix        = "${substr(var.name, 0, 27)}-training-"
  description        = "SageMaker training and tuning jobs of ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "ListDataChannels"
    actions   = ["s3:ListBucket"]
    resources = [var.data_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for p in concat(var.input_prefixes, [var.output_prefix]) : [p, "${p}/*"]])
    }
  }

  statement {
    sid       = "ReadDataChannels"
    actions   = ["s3:GetObject"]
    resources = [for p in concat(var.input_prefixes, [var.output_prefix]) : "${var.data_bucket_arn}/${p}/*"]
  }

  statement {
    sid       = "WriteModelArtifacts"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.data_bucket_arn}/${var.output_prefix}/*"]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  # SageMaker creates grants on the key for the job's volumes and output; only for AWS resources,
  # so the role cannot hand the key to an arbitrary principal.
  statement {
    sid       = "GrantKeyToSageMakerResources"
    actions   = ["kms:CreateGrant"]
    resources = [var.kms_key_arn]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid = "WriteTrainingLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs:*",
    ]
  }

  statement {
    sid       = "PublishTrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; scoped by namespace.
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }

  dynamic "statement" {
    for_each = length(var.training_image_repository_arns) > 0 ? [1] : []
    content {
      sid       = "PullTrainingImages"
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
      resources = var.training_image_repository_arns
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "least-privilege"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# What the launchers (training/ CLIs) read, so nobody copies ARNs by hand.
locals {
  parameters = {
    role_arn      = aws_iam_role.execution.arn
    data_bucket   = var.data_bucket
    input_prefix  = var.input_prefixes[0]
    output_prefix = var.output_prefix
    kms_key_arn   = var.kms_key_arn
    region        = local.region
  }
}

resource "aws_ssm_parameter" "training" {
  #checkov:skip=CKV2_AWS_34:Identifiers (ARNs, names, region), not secrets; plain String keeps them readable to launchers without kms:Decrypt.
  for_each = local.parameters

  name        = "${local.parameter_path}/${each.key}"
  description = "${var.name} training launcher setting: ${each.key}"
  type        = "String"
  value       = each.value
  tags        = var.tags
}
