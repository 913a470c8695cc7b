# The wiring of one stage, with the repo's real ASL templates and a fixture build manifest.
mock_provider "aws" {
  source = "../../../tests/terraform/mocks"
}

variables {
  stage                     = "dev"
  model_data_url            = "s3://vehicle-classifier-dev-data/models/run-1/output/model.tar.gz"
  model_image_uri           = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
  decision_threshold        = 0.8125
  expected_images_per_month = 100000
  # What the release step writes beside the model (python -m training.promote ... --images DIR).
  model_sha256         = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  baseline_s3_uri      = "s3://vehicle-classifier-dev-data-1a2b/baselines/run-1/threshold-0.8125/baseline.json"
  baseline_threshold   = 0.8125
  lambda_manifest_path = "../../../tests/terraform/fixtures/lambda/manifest.json"
  release_role_arns    = ["arn:aws:iam::123456789012:role/deploy"]
}

run "stage_wiring" {
  command = apply

  assert {
    condition     = module.model_endpoint.endpoint_name == "vehicle-classifier-dev"
    error_message = "resources are named <project>-<stage>"
  }

  assert {
    condition     = toset(keys(module.inference_workflow.functions)) == toset(["serialize_image", "classify_image", "filter_inferences", "record_label", "start_workflow"])
    error_message = "every function of the build manifest is deployed"
  }

  assert {
    condition     = toset(keys(module.inference_workflow.state_machines)) == toset(["classify_image", "classify_batch", "review"])
    error_message = "the three state machines are deployed"
  }

  assert {
    condition     = module.inference_workflow.state_machines["classify_image"].type == "EXPRESS" && module.inference_workflow.state_machines["classify_batch"].type == "STANDARD" && module.inference_workflow.state_machines["review"].type == "STANDARD"
    error_message = "the automatic path runs as Express; only the machines that wait (review, the batch's Distributed Map) stay Standard"
  }

  assert {
    condition     = toset([for f in values(module.inference_workflow.functions) : f.runtime]) == toset(["python3.13"]) && module.monitoring.drift_job_runtime == "python3.13"
    error_message = "every function, the drift job included, runs on lambda_runtime (python3.13 by default)"
  }

  assert {
    condition     = module.inference_workflow.labels_uri == "s3://${module.storage.data_bucket}/labels/"
    error_message = "label records go under labels/ of the stage's data bucket"
  }

  assert {
    condition     = jsondecode(module.inference_workflow.state_machines["review"].definition).States.AskReviewer.TimeoutSeconds == 86400
    error_message = "a review waits a day by default"
  }

  assert {
    condition     = length(module.monitoring.alarm_names) == 22
    error_message = "drift, low confidence, no data, job errors, job failed, one failure and one throttled alarm per state machine (3), five workflow error alarms (model errors, four functions misconfigured) and one throttles alarm per workflow function (5) and the upload dead letters"
  }

  assert {
    condition     = module.inference_workflow.functions["start_workflow"].environment.STARTS_PER_WINDOW == "60" && module.inference_workflow.upload_backlog_alarm_name == "vehicle-classifier-dev-upload-backlog"
    error_message = "the upload path starts at most upload_starts_per_minute (60 by default) a minute and pages on a backlog"
  }

  assert {
    condition     = output.live_misroute_alarm_name == "vehicle-classifier-dev-live-misroute-rate"
    error_message = "the stage pages on-call when its audits show more misroutes than the target"
  }
}

run "rejects_a_start_rate_that_is_no_whole_number" {
  command = plan

  variables {
    upload_starts_per_minute = 1.5
  }

  expect_failures = [var.upload_starts_per_minute]
}

run "the_models_threshold_reaches_the_filter_and_the_drift_job" {
  command = apply

  assert {
    condition     = output.function_environments.filter_inferences.CONFIDENCE_THRESHOLD == "0.8125" && output.function_environments.drift_job.CONFIDENCE_THRESHOLD == "0.8125"
    error_message = "the filter Lambda and the drift job get the model's decision_threshold"
  }

  assert {
    condition     = output.effective_decision_threshold == 0.8125 && !output.decision_threshold_pinned
    error_message = "without a pin the effective threshold is the model's, and the outputs say so"
  }
}

run "a_stage_pin_wins_visibly" {
  command = apply

  variables {
    decision_threshold_override = 0.97
    baseline_threshold          = 0.97 # the release step rebuilt the baseline at the pin
  }

  assert {
    condition     = output.function_environments.filter_inferences.CONFIDENCE_THRESHOLD == "0.97" && output.function_environments.drift_job.CONFIDENCE_THRESHOLD == "0.97"
    error_message = "the stage's pin reaches both the filter Lambda and the drift job"
  }

  assert {
    condition     = output.effective_decision_threshold == 0.97 && output.decision_threshold_pinned
    error_message = "the outputs show the pin"
  }
}

run "rejects_a_threshold_outside_0_1" {
  command = plan

  variables {
    decision_threshold = 1
    baseline_threshold = 1
  }

  expect_failures = [var.decision_threshold]
}

run "rejects_a_pin_outside_0_1" {
  command = plan

  variables {
    decision_threshold_override = 0
    baseline_threshold          = 0
  }

  expect_failures = [var.decision_threshold_override]
}

run "the_released_baseline_and_model_digest_reach_the_drift_job" {
  command = apply

  assert {
    condition     = output.function_environments.drift_job.BASELINE_S3_URI == var.baseline_s3_uri && output.function_environments.drift_job.MODEL_SHA256 == var.model_sha256
    error_message = "the drift job reads the released baseline and checks it against the promoted model's digest"
  }
}

run "a_pin_without_a_rebuilt_baseline_is_refused_at_plan" {
  command = plan

  variables {
    decision_threshold_override = 0.97 # the baseline was still built at the model's 0.8125
  }

  expect_failures = [var.baseline_threshold]
}

run "rejects_a_model_digest_that_is_not_a_sha256" {
  command = plan

  variables {
    model_sha256 = "unknown"
  }

  expect_failures = [var.model_sha256]
}

run "rejects_a_baseline_outside_baselines" {
  command = plan

  variables {
    baseline_s3_uri = "s3://vehicle-classifier-dev-data-1a2b/models/run-1/model.tar.gz"
  }

  expect_failures = [var.baseline_s3_uri]
}

run "review_settings_reach_the_functions_and_the_machine" {
  command = apply

  variables {
    model_version = "run-7"
    review = {
      audit_sample_rate = 0.05
      timeout_seconds   = 3600
    }
  }

  assert {
    condition     = jsondecode(module.inference_workflow.state_machines["review"].definition).States.AskReviewer.TimeoutSeconds == 3600
    error_message = "the stage's review timeout reaches the review machine"
  }

  assert {
    condition     = module.inference_workflow.functions["filter_inferences"].environment.AUDIT_SAMPLE_RATE == "0.05" && module.inference_workflow.functions["classify_image"].environment.MODEL_VERSION == "run-7"
    error_message = "the audit sample rate and the model version reach the functions"
  }

  assert {
    condition     = module.inference_workflow.functions["record_label"].environment.LABELS_BUCKET == module.storage.data_bucket && module.inference_workflow.functions["record_label"].environment.LABELS_KMS_KEY_ID == module.storage.kms_key_arn
    error_message = "label records are written to the data bucket with the stage key"
  }
}

run "one_routing_for_both_deciders" {
  command = apply

  variables {
    routing = {
      bicycle    = { loading_bay = "north-dock", order_radius_km = 2.5 }
      motorcycle = { loading_bay = "south-dock", order_radius_km = 25 }
    }
  }

  assert {
    condition = alltrue([
      for name in ["filter_inferences", "record_label"] :
      jsondecode(module.inference_workflow.functions[name].environment.ROUTING_RULES) == {
        bicycle    = { loading_bay = "north-dock", order_radius_km = 2.5 }
        motorcycle = { loading_bay = "south-dock", order_radius_km = 25 }
      }
    ])
    error_message = "filter_inferences and record_label must route by the stage's one routing value"
  }
}

run "rejects_a_routing_radius_out_of_bounds" {
  command = plan

  variables {
    routing = {
      bicycle    = { loading_bay = "north-dock", order_radius_km = 0 }
      motorcycle = { loading_bay = "south-dock", order_radius_km = 25 }
    }
  }

  expect_failures = [var.routing]
}

run "rejects_audit_sample_rate_above_one" {
  command = plan

  variables {
    review = { audit_sample_rate = 1.5 }
  }

  expect_failures = [var.review]
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

# One build manifest carries the drift job too (lambdas.build); a cloud stage needs its
# dependencies layer (--with-drift-deps), which only the local stage may do without.
run "rejects_a_manifest_without_the_drift_job" {
  command = plan

  variables {
    lambda_manifest_path = "../../../tests/terraform/fixtures/lambda/manifest-without-drift-job.json"
  }

  expect_failures = [var.lambda_manifest_path]
}

run "rejects_a_cloud_stage_build_without_the_drift_dependencies" {
  command = plan

  variables {
    lambda_manifest_path = "../../../tests/terraform/fixtures/lambda/manifest-without-drift-deps.json"
  }

  expect_failures = [var.lambda_manifest_path]
}

run "rejects_fractional_or_huge_reserved_concurrency" {
  command = plan

  variables {
    workflow_reserved_concurrency = 2.5
  }

  expect_failures = [var.workflow_reserved_concurrency]
}

run "model_monitor_runs_the_drift_job_on_the_stage_endpoint" {
  command = apply

  variables {
    monitoring = {
      runner    = "model_monitor"
      container = { image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/vehicle-classifier/drift:1.0" }
    }
  }

  assert {
    condition     = module.monitoring.runner == "model_monitor" && module.monitoring.schedule_name == "vehicle-classifier-dev-drift"
    error_message = "the stage option reaches the monitoring module: a Model Monitor schedule named for the stage"
  }

  assert {
    condition     = length(module.monitoring.alarm_names) == 22
    error_message = "the same alarms whichever runner is scheduled"
  }
}

run "cost_controls_reach_the_endpoint_and_the_budget" {
  command = apply

  variables {
    endpoint = {
      off_hours = {
        scale_down_cron = "cron(0 20 ? * MON-FRI *)"
        scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
      }
    }
    monthly_budget_usd = 150
  }

  assert {
    condition     = module.model_endpoint.off_hours_actions.scale_down == "vehicle-classifier-dev-off-hours-scale-down" && module.model_endpoint.off_hours_actions.scale_up == "vehicle-classifier-dev-off-hours-scale-up"
    error_message = "the stage's off-hours schedule reaches the endpoint"
  }

  assert {
    condition     = module.monitoring.budget_name == "vehicle-classifier-dev-monthly-cost"
    error_message = "the stage's budget is created and pages the stage's on-call topic"
  }
}

run "rejects_a_negative_budget" {
  command = plan

  variables {
    monthly_budget_usd = -5
  }

  expect_failures = [var.monthly_budget_usd]
}

run "release_roles_and_the_training_role_alone_write_trusted_artifacts" {
  command = apply

  assert {
    condition     = toset(module.storage.artifact_writer_arns) == toset(["arn:aws:iam::123456789012:role/deploy", module.training.execution_role_arn])
    error_message = "the release roles and the training role are the only artifact writers"
  }
}

run "a_real_stage_without_release_roles_is_flagged" {
  command = plan

  variables {
    release_role_arns = []
  }

  expect_failures = [check.trusted_artifacts_have_writers]
}
