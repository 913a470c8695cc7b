# Realistic defaults for `mock_provider "aws" { source = ... }` in the modules' terraform tests:
# the provider still validates ARNs and policy JSON, and unset computed strings would be random.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
    user_id    = "AIDAEXAMPLE"
  }
}

mock_data "aws_region" {
  defaults = {
    name        = "eu-west-1"
    id          = "eu-west-1"
    description = "Europe (Ireland)"
    endpoint    = "ec2.eu-west-1.amazonaws.com"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
    id                 = "aws"
  }
}

mock_data "aws_iam_policy_document" {
  defaults = {
    json          = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Principal\":{\"Service\":\"lambda.amazonaws.com\"}}]}"
    minified_json = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Principal\":{\"Service\":\"lambda.amazonaws.com\"}}]}"
  }
}

mock_resource "aws_kms_key" {
  defaults = {
    arn    = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    key_id = "11111111-2222-3333-4444-555555555555"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::vehicle-classifier-test-bucket"
    id  = "vehicle-classifier-test-bucket"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn       = "arn:aws:iam::123456789012:role/vehicle-classifier-test-role"
    id        = "vehicle-classifier-test-role"
    name      = "vehicle-classifier-test-role"
    unique_id = "AROAEXAMPLE"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/test"
  }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn           = "arn:aws:lambda:eu-west-1:123456789012:function:vehicle-classifier-test"
    invoke_arn    = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:vehicle-classifier-test/invocations"
    qualified_arn = "arn:aws:lambda:eu-west-1:123456789012:function:vehicle-classifier-test:1"
    version       = "1"
  }
}

mock_resource "aws_lambda_alias" {
  defaults = {
    arn        = "arn:aws:lambda:eu-west-1:123456789012:function:vehicle-classifier-test:live"
    invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:vehicle-classifier-test:live/invocations"
  }
}

mock_resource "aws_lambda_layer_version" {
  defaults = {
    arn       = "arn:aws:lambda:eu-west-1:123456789012:layer:vehicle-classifier-test:1"
    layer_arn = "arn:aws:lambda:eu-west-1:123456789012:layer:vehicle-classifier-test"
    version   = "1"
  }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:vehicle-classifier-test"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/vehicle-classifier-test"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/vehicle-classifier-test"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:123456789012:vehicle-classifier-test-oncall"
    id  = "arn:aws:sns:eu-west-1:123456789012:vehicle-classifier-test-oncall"
  }
}

mock_resource "aws_sfn_state_machine" {
  defaults = {
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:vehicle-classifier-test"
  }
}

mock_resource "aws_cloudwatch_metric_alarm" {
  defaults = {
    arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:vehicle-classifier-test"
  }
}

mock_resource "aws_sagemaker_model" {
  defaults = {
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model/vehicle-classifier-test"
  }
}

mock_resource "aws_sagemaker_endpoint_configuration" {
  defaults = {
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/vehicle-classifier-test"
  }
}

mock_resource "aws_sagemaker_endpoint" {
  defaults = {
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/vehicle-classifier-test"
  }
}

mock_resource "aws_scheduler_schedule" {
  defaults = {
    arn = "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/vehicle-classifier-test"
  }
}

mock_resource "aws_ssm_parameter" {
  defaults = {
    arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/vehicle-classifier/test"
  }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = {
    arn = "arn:aws:events:eu-west-1:123456789012:rule/vehicle-classifier-test"
  }
}

mock_resource "aws_cloudwatch_dashboard" {
  defaults = {
    dashboard_arn = "arn:aws:cloudwatch::123456789012:dashboard/vehicle-classifier-test"
  }
}
