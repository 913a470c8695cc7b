mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  name            = "vehicle-classifier-test"
  stage           = "prod"
  data_bucket     = "vehicle-classifier-test-data"
  data_bucket_arn = "arn:aws:s3:::vehicle-classifier-test-data"
  kms_key_arn     = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
}

run "scoped_execution_role" {
  command = apply

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.execution.statement : alltrue([for a in s.actions : !strcontains(a, "*")])])
    error_message = "the training role must not use wildcard actions"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "WriteModelArtifacts"]) == toset(["arn:aws:s3:::vehicle-classifier-test-data/models/*"])
    error_message = "training jobs may write only under the output prefix"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "UseDataKey"]) == toset([var.kms_key_arn])
    error_message = "the role may use only the stage key"
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.execution.statement : alltrue([for a in s.actions : contains(["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"], a)]) if contains(s.resources, "*")
    ])
    error_message = "Resource * only for actions without resource-level permissions"
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.execution.statement : anytrue([
        for c in s.condition : c.test == "Bool" && c.variable == "kms:GrantIsForAWSResource" && length(c.values) == 1 && contains(c.values, "true")
      ]) if contains(s.actions, "kms:CreateGrant")
    ]) && length([for s in data.aws_iam_policy_document.execution.statement : s if contains(s.actions, "kms:CreateGrant")]) == 1
    error_message = "kms:CreateGrant only with kms:GrantIsForAWSResource = true (grants for SageMaker's resources, never to a principal)"
  }

  assert {
    condition     = toset(keys(aws_ssm_parameter.training)) == toset(["role_arn", "data_bucket", "input_prefix", "output_prefix", "kms_key_arn", "region"])
    error_message = "the launchers' settings must all be published"
  }

  assert {
    condition     = aws_ssm_parameter.training["role_arn"].name == "/vehicle-classifier/prod/training/role_arn" && aws_ssm_parameter.training["data_bucket"].value == "vehicle-classifier-test-data"
    error_message = "parameters live under /vehicle-classifier/<stage>/training/"
  }
}

run "rejects_bad_prefix" {
  command = plan

  variables {
    output_prefix = "/models/"
  }

  expect_failures = [var.output_prefix]
}
