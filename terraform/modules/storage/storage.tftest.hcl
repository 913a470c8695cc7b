mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  name = "vehicle-classifier-test"
}

run "encrypted_private_tls_only_buckets" {
  command = apply

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "the stage key must rotate"
  }

  assert {
    condition = alltrue([
      for k, c in aws_s3_bucket_server_side_encryption_configuration.this :
      one(one(c.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(c.rule).apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.this.arn
    ])
    error_message = "data, capture and reports buckets must default to SSE-KMS with the stage key"
  }

  assert {
    condition     = toset(keys(aws_s3_bucket_public_access_block.this)) == toset(["data", "capture", "reports"])
    error_message = "every bucket needs a public access block"
  }

  assert {
    condition = alltrue([
      for b in concat(values(aws_s3_bucket_public_access_block.this), [aws_s3_bucket_public_access_block.access_logs]) :
      b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets
    ])
    error_message = "public access must be fully blocked on every bucket"
  }

  assert {
    condition = alltrue([
      for d in data.aws_iam_policy_document.tls_only : anytrue([
        for s in d.statement : s.effect == "Deny" && anytrue([
          for c in s.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && contains(c.values, "false")
        ])
      ])
    ])
    error_message = "every bucket policy must deny requests without TLS"
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.kms.statement : anytrue([
        for c in s.condition : (c.variable == "aws:SourceAccount" && length(c.values) == 1 && contains(c.values, data.aws_caller_identity.current.account_id)) ||
        (c.variable == "kms:EncryptionContext:aws:logs:arn" && alltrue([for v in c.values : startswith(v, "arn:aws:logs:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:log-group:")]))
      ]) if anytrue([for p in s.principals : p.type == "Service"])
    ])
    error_message = "every key policy statement for an AWS service must be pinned to this account (aws:SourceAccount or the logs encryption context)"
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.kms.statement : s.actions if s.sid == "BudgetsToEncryptedTopic" && anytrue([for p in s.principals : contains(p.identifiers, "budgets.amazonaws.com")])
    ]) == toset(["kms:Decrypt", "kms:GenerateDataKey*"])
    error_message = "AWS Budgets must be able to publish to the key-encrypted on-call topic"
  }

  assert {
    condition     = alltrue([for v in aws_s3_bucket_versioning.this : one(v.versioning_configuration).status == "Enabled"])
    error_message = "versioning must be on"
  }

  assert {
    condition     = alltrue([for l in aws_s3_bucket_logging.this : l.target_bucket == aws_s3_bucket.access_logs.id])
    error_message = "access logging must go to the access-log bucket"
  }

  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.this["capture"].rule :
      r.id == "expire-objects" && try(one(r.expiration).days, 0) == 90
    ])
    error_message = "captures must expire after capture_expiration_days (90 by default)"
  }

  assert {
    condition     = length([for r in aws_s3_bucket_lifecycle_configuration.this["data"].rule : r if r.id == "expire-objects"]) == 0
    error_message = "training data and models must not expire"
  }

  assert {
    condition     = aws_s3_bucket_notification.data.eventbridge
    error_message = "uploads to the data bucket must reach EventBridge (they start the workflow)"
  }

  assert {
    condition     = !aws_s3_bucket.this["data"].force_destroy
    error_message = "buckets must not be force-destroyable by default"
  }
}

run "uploader_can_write_only_incoming" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for st in data.aws_iam_policy_document.uploader.statement : [
        for r in st.resources : startswith(st.sid, "Put") ? r == "${aws_s3_bucket.this["data"].arn}/incoming/*" : r == aws_kms_key.this.arn
      ]
    ]))
    error_message = "the uploader may write only objects under incoming/ of the data bucket (and use the stage key for that)"
  }

  assert {
    condition     = toset(flatten([for st in data.aws_iam_policy_document.uploader.statement : st.actions])) == toset(["s3:PutObject", "s3:AbortMultipartUpload", "kms:GenerateDataKey"])
    error_message = "the uploader may not read, list, delete or decrypt anything"
  }

  assert {
    condition = alltrue(flatten([
      for st in data.aws_iam_policy_document.uploader.statement : [
        for r in st.resources : !strcontains(r, "/models/") && !strcontains(r, "/baselines/") && !strcontains(r, "/lambda-artifacts/") && !endswith(r, "/*") || endswith(r, "/incoming/*")
      ]
    ]))
    error_message = "no uploader grant may reach models/, baselines/ or lambda-artifacts/"
  }

  assert {
    condition     = alltrue([for st in data.aws_iam_policy_document.uploader.statement : anytrue([for c in st.condition : c.variable == "kms:ViaService" && contains(c.values, "s3.eu-west-1.amazonaws.com")]) if startswith(st.sid, "Encrypt")])
    error_message = "the uploader may use the key only through S3"
  }

  assert {
    condition     = length([for st in data.aws_iam_policy_document.protected_artifacts.statement : st if st.effect == "Deny" && st.sid == "OnlyArtifactWritersChangeTrustedPrefixes"]) == 0
    error_message = "without artifact_writer_arns there is no writer deny (the deployer would lock itself out)"
  }
}

run "only_artifact_writers_change_models_and_baselines" {
  command = apply

  variables {
    artifact_writer_arns = ["arn:aws:iam::123456789012:role/release", "arn:aws:iam::123456789012:role/training"]
  }

  assert {
    condition = anytrue([
      for st in data.aws_iam_policy_document.protected_artifacts.statement :
      st.effect == "Deny" && contains(st.actions, "s3:PutObject") && contains(st.actions, "s3:DeleteObject") &&
      toset(st.resources) == toset(["${aws_s3_bucket.this["data"].arn}/models/*", "${aws_s3_bucket.this["data"].arn}/baselines/*", "${aws_s3_bucket.this["data"].arn}/lambda-artifacts/*"]) &&
      anytrue([for c in st.condition : c.test == "ArnNotLike" && c.variable == "aws:PrincipalArn" && toset(c.values) == toset(var.artifact_writer_arns)]) &&
      anytrue([for pr in st.principals : pr.type == "*"])
    ])
    error_message = "everyone but the artifact writers must be denied writes and deletes under models/, baselines/, lambda-artifacts/"
  }

  assert {
    condition     = aws_s3_bucket_policy.this["data"].policy == data.aws_iam_policy_document.protected_artifacts.json
    error_message = "the data bucket's policy must carry the artifact-writer deny"
  }
}

run "rejects_artifact_writers_that_are_not_roles" {
  command = plan

  variables {
    artifact_writer_arns = ["*"]
  }

  expect_failures = [var.artifact_writer_arns]
}

run "uploads_age_into_infrequent_access" {
  command = plan

  assert {
    condition = length([for r in aws_s3_bucket_lifecycle_configuration.this["data"].rule : r if r.id == "age-uploads"]) == 1 && alltrue([
      for r in [for x in aws_s3_bucket_lifecycle_configuration.this["data"].rule : x if x.id == "age-uploads"] :
      one(r.filter).prefix == "incoming/" && one(r.transition).days == 30 && one(r.transition).storage_class == "STANDARD_IA" && length(r.expiration) == 0
    ])
    error_message = "uploads must move to Standard-IA after 30 days and not expire by default"
  }

  assert {
    condition = alltrue([
      for k in ["capture", "reports"] : !anytrue([for r in aws_s3_bucket_lifecycle_configuration.this[k].rule : r.id == "age-uploads"])
    ])
    error_message = "only the data bucket holds uploads"
  }
}

run "uploads_expire_where_retention_requires" {
  command = plan

  variables {
    uploads_infrequent_access_days = null
    uploads_expiration_days        = 400
  }

  assert {
    condition = length([for r in aws_s3_bucket_lifecycle_configuration.this["data"].rule : r if r.id == "age-uploads"]) == 1 && alltrue([
      for r in [for x in aws_s3_bucket_lifecycle_configuration.this["data"].rule : x if x.id == "age-uploads"] :
      length(r.transition) == 0 && one(r.expiration).days == 400
    ])
    error_message = "uploads_expiration_days must expire the uploads"
  }
}

run "rejects_infrequent_access_before_30_days" {
  command = plan

  variables {
    uploads_infrequent_access_days = 7
  }

  expect_failures = [var.uploads_infrequent_access_days]
}

run "rejects_bad_names" {
  command = plan

  variables {
    name = "Vehicle_Classifier"
  }

  expect_failures = [var.name]
}

run "rejects_short_kms_window" {
  command = plan

  variables {
    kms_deletion_window_days = 3
  }

  expect_failures = [var.kms_deletion_window_days]
}
