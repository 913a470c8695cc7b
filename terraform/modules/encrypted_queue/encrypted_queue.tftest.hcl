mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  name        = "vehicle-classifier-test-review"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
}

run "encrypted_and_tls_only" {
  command = apply

  assert {
    condition     = output.queue.kms_master_key_id == var.kms_key_arn && output.queue.name == var.name && output.queue.message_retention_seconds == 1209600
    error_message = "the queue is encrypted with the stage key and keeps messages 14 days unless told otherwise"
  }

  assert {
    condition     = aws_sqs_queue_policy.this.queue_url == aws_sqs_queue.this.id
    error_message = "the policy is the queue's own"
  }

  assert {
    condition = [for s in output.policy_statements : {
      sid        = s.sid, effect = s.effect, actions = s.actions, resources = s.resources,
      conditions = [for c in s.condition : [c.test, c.variable, c.values]]
      }] == [{
      sid        = "DenyInsecureTransport", effect = "Deny", actions = toset(["sqs:*"]), resources = toset([aws_sqs_queue.this.arn]),
      conditions = [["Bool", "aws:SecureTransport", tolist(["false"])]]
    }]
    error_message = "without a sender the policy only refuses plain HTTP, for every principal and action"
  }
}

run "one_service_sends_for_one_source" {
  command = apply

  variables {
    sender = {
      sid        = "OnlyTheUploadRuleSends"
      service    = "events.amazonaws.com"
      source_arn = "arn:aws:events:eu-west-1:123456789012:rule/vehicle-classifier-test-image-uploaded"
    }
    redrive_policy = "{\"deadLetterTargetArn\":\"arn:aws:sqs:eu-west-1:123456789012:dlq\",\"maxReceiveCount\":5}"
  }

  assert {
    condition = one([
      for s in output.policy_statements : s.actions == toset(["sqs:SendMessage"]) && one(s.principals).identifiers == toset([var.sender.service]) && one(s.condition).values == tolist([var.sender.source_arn]) && one(s.condition).variable == "aws:SourceArn"
      if s.sid == var.sender.sid
    ]) && length(output.policy_statements) == 2 && anytrue([for s in output.policy_statements : s.sid == "DenyInsecureTransport"])
    error_message = "the sender may send only on behalf of its source, and plain HTTP stays refused"
  }

  assert {
    condition     = jsondecode(output.queue.redrive_policy).maxReceiveCount == 5
    error_message = "the redrive policy reaches the queue"
  }
}

run "rejects_a_name_sqs_refuses" {
  command = plan

  variables {
    name = "vehicle classifier review"
  }

  expect_failures = [var.name]
}
