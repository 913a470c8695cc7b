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
  state_machines = {
    classify_image = { template = "../../../stepfunctions/classify_image.asl.json" }
    classify_batch = { template = "../../../stepfunctions/classify_batch.asl.json" }
  }
  trigger_state_machine = "classify_image"
}

run "reviewer_policy_is_minimal_and_scoped" {
  command = apply

  variables {
    review_state_machine_arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test-review"
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

  assert {
    condition     = length(aws_iam_policy.reviewer) == 0 && output.reviewer_policy_arn == null
    error_message = "no review machine, no reviewer policy"
  }
}
