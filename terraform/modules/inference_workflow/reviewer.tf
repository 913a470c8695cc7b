# --- reviewer: what a person (or the reviewer web page) needs to answer reviews ----------------
# A managed policy for the team to attach to its reviewers' role or group (`python -m review`):
# read and release the review queue's messages, answer the waiting review execution, read the
# image under review, write label records, and use the stage key only through those services.

locals {
  # The review machine of this module when it has one (key `review`), else the ARN given.
  reviewer_machine_arn = coalesce(var.review_state_machine_arn, try(local.state_machine_arns["review"], null), "none")
  reviewer_enabled     = local.reviewer_machine_arn != "none"
  reviewer_machine     = split(":stateMachine:", local.reviewer_machine_arn)
  labels_bucket_arn    = coalesce(var.labels_bucket_arn, var.images_bucket_arn)
}

data "aws_iam_policy_document" "reviewer" {
  count = local.reviewer_enabled ? 1 : 0

  statement {
    sid = "ReadAndAnswerReviewMessages"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
    ]
    resources = [module.review_queue.queue.arn]
  }

  statement {
    sid       = "AnswerReviewTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure"]
    resources = [local.reviewer_machine_arn]
  }

  # Read-only: lets the tool tell a review someone already answered (or that expired) from an
  # id that never existed, once its message has left the queue.
  statement {
    sid       = "SeeWhatBecameOfAReview"
    actions   = ["states:DescribeExecution"]
    resources = ["${local.reviewer_machine[0]}:execution:${local.reviewer_machine[1]}:*"]
  }

  statement {
    sid       = "ReadImagesUnderReview"
    actions   = ["s3:GetObject"]
    resources = ["${var.images_bucket_arn}/${var.images_prefix}*"]
  }

  statement {
    sid       = "WriteLabelRecords"
    actions   = ["s3:PutObject"]
    resources = ["${local.labels_bucket_arn}/${var.labels_prefix}*"]
  }

  # The queue, the objects and (when encrypted) the execution data use the stage key; only
  # through those services, never directly.
  statement {
    sid       = "UseStageKeyThroughTheseServicesOnly"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [for service in ["sqs", "s3", "states"] : "${service}.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "reviewer" {
  count = local.reviewer_enabled ? 1 : 0

  name_prefix = "${substr(var.name, 0, 40)}-reviewer-"
  description = "Answer ${var.name} reviews: read the review queue, SendTaskSuccess/Failure on the review machine, read images, write labels."
  policy      = data.aws_iam_policy_document.reviewer[0].json
  tags        = var.tags
}

# --- labels reader: what retraining and the live-quality report read ---------------------------
# `python -m training.data stage --source labels:s3://...` and `python -m training.live_quality`
# list and read the label records, and read the uploads they point at. Read-only; for the team
# that retrains (attach beside its own data-bucket access).

data "aws_iam_policy_document" "labels_reader" {
  statement {
    sid       = "ListLabelRecords"
    actions   = ["s3:ListBucket"]
    resources = [local.labels_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.labels_prefix}*"]
    }
  }

  statement {
    sid       = "ReadLabelRecordsAndTheirImages"
    actions   = ["s3:GetObject"]
    resources = distinct(["${local.labels_bucket_arn}/${var.labels_prefix}*", "${var.images_bucket_arn}/${var.images_prefix}*"])
  }

  statement {
    sid       = "DecryptThroughS3Only"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "labels_reader" {
  name_prefix = "${substr(var.name, 0, 36)}-labels-reader-"
  description = "Read ${var.name} label records and the uploads they point at (retraining, live quality)."
  policy      = data.aws_iam_policy_document.labels_reader.json
  tags        = var.tags
}
