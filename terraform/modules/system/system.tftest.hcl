# The wiring of one stage, with the repo's real ASL templates and a fixture build manifest.
mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  stage                = "dev"
  model_data_url       = "s3://vehicle-classifier-dev-data/models/run-1/output/model.tar.gz"
  model_image_uri      = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
  lambda_manifest_path = "../../../tests/terraform/fixtures/lambda/manifest.json"
  # Any file: the mock provider never uploads it, the module only hashes it.
  drift_job_zip_path = "../../../tests/terraform/fixtures/lambda/manifest.json"
}

run "stage_wiring" {
  command = apply

  assert {
    condition     = module.model_endpoint.endpoint_name == "vehicle-classifier-dev"
    error_message = "resources are named <project>-<stage>"
  }

  assert {
    condition     = toset(keys(module.inference_workflow.function_names)) == toset(["serialize_image", "classify_image", "filter_inferences"])
    error_message = "every function of the build manifest is deployed"
  }

  assert {
    condition     = toset(keys(module.inference_workflow.state_machine_arns)) == toset(["classify_image", "classify_batch"])
    error_message = "both state machines are deployed"
  }

  assert {
    condition     = toset(values(module.inference_workflow.function_runtimes)) == toset(["python3.13"]) && module.monitoring.drift_job_runtime == "python3.13"
    error_message = "every function, the drift job included, runs on lambda_runtime (python3.13 by default)"
  }

  assert {
    condition     = length(module.monitoring.alarm_names) == 11
    error_message = "drift, low confidence, no data, job errors, job failed, one failure alarm per state machine and four workflow error alarms"
  }
}

run "rejects_unknown_stage" {
  command = plan

  variables {
    stage = "qa"
  }

  expect_failures = [var.stage]
}

run "rejects_unsupported_runtime" {
  command = plan

  variables {
    lambda_runtime = "python3.11"
  }

  expect_failures = [var.lambda_runtime]
}

# A supported runtime that the packages were not built for: the manifest says python3.13.
run "rejects_runtime_the_packages_were_not_built_for" {
  command = plan

  variables {
    lambda_runtime = "python3.14"
  }

  expect_failures = [var.lambda_runtime]
}
