# Every service the stack uses points at the emulator; the credentials are dummies that no real
# AWS account accepts. max_retries = 2 makes an unimplemented call fail in seconds.
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  skip_region_validation      = true
  s3_use_path_style           = true
  max_retries                 = 2

  endpoints {
    applicationautoscaling = var.emulator_endpoint
    cloudwatch             = var.emulator_endpoint
    cloudwatchlogs         = var.emulator_endpoint
    dynamodb               = var.emulator_endpoint
    events                 = var.emulator_endpoint
    iam                    = var.emulator_endpoint
    kms                    = var.emulator_endpoint
    lambda                 = var.emulator_endpoint
    s3                     = var.emulator_endpoint
    scheduler              = var.emulator_endpoint
    sagemaker              = var.emulator_endpoint
    sfn                    = var.emulator_endpoint
    sns                    = var.emulator_endpoint
    sqs                    = var.emulator_endpoint
    ssm                    = var.emulator_endpoint
    sts                    = var.emulator_endpoint
  }

  default_tags {
    tags = {
      Project        = "vehicle-classifier"
      Stage          = local.stage
      ManagedBy      = "terraform"
      ModelVersion   = var.model_version
      ModelFramework = var.model_framework
    }
  }
}
