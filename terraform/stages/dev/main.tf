# The dev stage's values; system.tf (a link to terraform/stage_common/system.tf) passes them to
# modules/system, as for every cloud stage.
locals {
  stage = "dev"

  # One small instance; set serverless = true for a scale-to-zero dev endpoint (no data capture,
  # blue/green or autoscaling there).
  # Sized like prod from the model's throughput (README: Costs and cost controls).
  endpoint = {
    serverless                      = false
    instance_type                   = "ml.c6i.large"
    min_capacity                    = 1
    max_capacity                    = 2
    target_invocations_per_instance = 780
    # Nights and weekends: max to one instance (a real-time endpoint cannot go to 0; serverless
    # = true is the scale-to-zero dev). README: Costs and cost controls.
    off_hours = {
      scale_down_cron = "cron(0 20 ? * MON-FRI *)"
      scale_up_cron   = "cron(0 7 ? * MON-FRI *)"
      timezone        = "UTC"
    }
  }
  # The serving container: one single-threaded worker per vCPU of the instance type (2 on
  # ml.c6i.large: 50.9 requests/s against 40.3 for one worker on two threads, bench_serving with
  # ONNX Runtime; README: Costs and cost controls). Unset, TorchServe starts one worker per vCPU
  # but each would size its threads for the whole instance.
  model_environment = { SAGEMAKER_MODEL_SERVER_WORKERS = "2" }
  # Pages on-call at 80 % spent and 100 % forecast (costs tagged Stage=dev).
  monthly_budget_usd = 150
  # Where each vehicle loads and how far its orders go; the model's routes (filter_inferences)
  # and the reviewers' (record_label) both read it.
  routing = {
    bicycle    = { loading_bay = "bay-bicycle", order_radius_km = 3 }
    motorcycle = { loading_bay = "bay-motorcycle", order_radius_km = 15 }
  }
  # Sizing and the cost table (README: Costs and cost controls) assume this traffic.
  expected_images_per_month = 100000
  log_retention_days        = 30
  kms_deletion_window_days  = 7
  # The upload-path functions share the account's unreserved concurrency.
  workflow_reserved_concurrency = null
  # Uploads start at most 60 classifications a minute; a bigger burst waits in the buffer.
  upload_starts_per_minute = 60

  # The promoted model's routing threshold (model.auto.tfvars.json). null: route with it; a
  # number in (0, 1) pins this stage's own instead (then release the model again: the release
  # step rebuilds the drift baseline at the pin; a plan refuses a stale one); the outputs
  # effective_decision_threshold / decision_threshold_pinned show which applies.
  decision_threshold_override = null
}
