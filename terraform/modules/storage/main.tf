data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id

  # Data: staged training data, model artifacts, images sent to the workflow.
  # Capture: SageMaker data capture (JSON Lines). Reports: drift reports and plots.
  buckets = {
    data = {
      expiration_days = null
      prefix          = null
    }
    capture = {
      expiration_days = var.capture_expiration_days
      prefix          = ""
    }
    reports = {
      expiration_days = var.report_expiration_days
      prefix          = ""
    }
  }
}

# One customer-managed key per stage for everything at rest: buckets, logs, queues, topics,
# Lambda environments and SageMaker capture.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key; the account root keeps administration (AWS default key policy) so IAM policies can grant use.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key itself.
  #checkov:skip=CKV_AWS_109:The account root must keep kms:PutKeyPolicy or the key becomes unmanageable (AWS default key policy).
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryption"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    # The encryption context names the log group, so only this account's log groups in this
    # region can use the key (the condition AWS documents for CloudWatch Logs; confused deputy).
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # CloudWatch alarms publish to the KMS-encrypted on-call topic (the key policy AWS documents
  # for alarm actions on encrypted topics; the topic policy limits publishers to this account's
  # alarms).
  statement {
    sid       = "CloudWatchAlarmsToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # AWS Budgets notifications to the encrypted on-call topic (the key policy AWS documents for
  # budget alerts on SSE topics; the topic policy limits them to this account's budgets).
  statement {
    sid       = "BudgetsToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # Vended log delivery of the state machines' execution logs: Step Functions encrypts the
  # execution data with this key, the delivery service decrypts it to write the log group.
  statement {
    sid       = "StepFunctionsLogDelivery"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # EventBridge and EventBridge Scheduler deliver to encrypted targets in this account.
  statement {
    sid       = "EventDeliveryToEncryptedTargets"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: data, captures, reports, logs, queues and topics"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# --- access logs ---------------------------------------------------------------------------

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This bucket is the access-log target; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a per-organisation DR choice; not part of the reference stack.
  #checkov:skip=CKV2_AWS_62:Nothing consumes access-log object events.
  #checkov:skip=CKV_AWS_145:S3 server access logging only delivers to SSE-S3 (AES256) buckets, SSE-KMS is not supported.
  bucket_prefix = "${var.name}-access-logs-"
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogsDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
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

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# --- data, capture and reports buckets ---------------------------------------------------------

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a per-organisation DR choice; not part of the reference stack.
  #checkov:skip=CKV2_AWS_62:Object events are sent to EventBridge only for the data bucket (see aws_s3_bucket_notification.data); captures and reports are read on a schedule.
  for_each = local.buckets

  bucket_prefix = "${var.name}-${each.key}-"
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each = local.buckets

  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"

  # S3 checks that the target's policy lets the logging service write.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "tidy-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Uploads are read once by the workflow, then only by retraining (label records point at them):
  # Standard-IA after a month, and an expiry only where the stage's retention policy sets one.
  dynamic "rule" {
    for_each = each.key == "data" && (var.uploads_infrequent_access_days != null || var.uploads_expiration_days != null) ? [var.uploads_prefix] : []
    content {
      id     = "age-uploads"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      dynamic "transition" {
        for_each = var.uploads_infrequent_access_days == null ? [] : [var.uploads_infrequent_access_days]
        content {
          days          = transition.value
          storage_class = "STANDARD_IA"
        }
      }
      dynamic "expiration" {
        for_each = var.uploads_expiration_days == null ? [] : [var.uploads_expiration_days]
        content {
          days = expiration.value
        }
      }
    }
  }

  dynamic "rule" {
    for_each = each.value.expiration_days == null ? [] : [each.value.expiration_days]
    content {
      id     = "expire-objects"
      status = "Enabled"
      filter {
        prefix = each.value.prefix
      }
      expiration {
        days = rule.value
      }
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = local.buckets

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]
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

# What the system trusts (models, baselines, layer zips) shares the data bucket with uploads: only
# the release and training roles may write or delete there, whatever an IAM grant says.
data "aws_iam_policy_document" "protected_artifacts" {
  source_policy_documents = [data.aws_iam_policy_document.tls_only["data"].json]

  dynamic "statement" {
    for_each = length(var.artifact_writer_arns) == 0 ? [] : [1]
    content {
      sid       = "OnlyArtifactWritersChangeTrustedPrefixes"
      effect    = "Deny"
      actions   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:RestoreObject"]
      resources = [for p in var.protected_prefixes : "${aws_s3_bucket.this["data"].arn}/${p}*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = var.artifact_writer_arns
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = each.key == "data" ? data.aws_iam_policy_document.protected_artifacts.json : data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Uploaded images start the inference workflow through EventBridge.
resource "aws_s3_bucket_notification" "data" {
  bucket      = aws_s3_bucket.this["data"].id
  eventbridge = true
}

# --- uploader policy: write images under uploads_prefix, nothing else ------------------------------

data "aws_iam_policy_document" "uploader" {
  statement {
    sid       = "PutImagesUnderUploadsPrefix"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.this["data"].arn}/${var.uploads_prefix}*"]
  }

  # The bucket encrypts with the stage key by default; S3 asks KMS for a data key on the
  # uploader's behalf, and only S3 may use the key this way.
  statement {
    sid       = "EncryptUploads"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "uploader" {
  name_prefix = "${substr(var.name, 0, 30)}-uploader-"
  description = "${var.name}: upload images to s3://${aws_s3_bucket.this["data"].id}/${var.uploads_prefix} (starts the workflow); no read, no other prefix."
  policy      = data.aws_iam_policy_document.uploader.json
  tags        = var.tags
}
