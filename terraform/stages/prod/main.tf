# The prod stage's values; system.tf (a link to terraform/stage_common/system.tf) passes them to
# modules/system, as for every cloud stage.
locals {
  stage = "prod"

  # Sized from the served model's measured throughput, 26 images/s per 2-vCPU machine
  # (bench_serving; README: Costs and cost controls): c6i.large is the cheapest 2-vCPU type
  # priced ($0.102/h; m5.large $0.115/h), its 4 GiB hold the model; two for two zones; the
  # target is that maximum x 0.5 x 60.
  endpoint = {
    instance_type                   = "ml.c6i.large"
    min_capacity                    = 2
    max_capacity                    = 6
    target_invocations_per_instance = 780
    canary_percentage               = 10
  }
  # Where each vehicle loads and how far its orders go; the model's routes (filter_inferences)
  # and the reviewers' (record_label) both read it.
  routing = {
    bicycle    = { loading_bay = "bay-bicycle", order_radius_km = 3 }
    motorcycle = { loading_bay = "bay-motorcycle", order_radius_km = 15 }
  }
  # Sizing and the cost table (README: Costs and cost controls) assume this traffic.
  expected_images_per_month = 3000000
  # The serving container: one single-threaded worker per vCPU of the instance type (2 on
  # ml.c6i.large: 50.9 requests/s against 40.3 for one worker on two threads, bench_serving with
  # ONNX Runtime; README: Costs and cost controls). Unset, TorchServe starts one worker per vCPU
  # but each would size its threads for the whole instance.
  model_environment = { SAGEMAKER_MODEL_SERVER_WORKERS = "2" }
  # Pages on-call at 80 % spent and 100 % forecast (costs tagged Stage=prod).
  monthly_budget_usd       = 800
  log_retention_days       = 400
  kms_deletion_window_days = 30
  # Each upload-path function: at most 20 at once, so an uploader cannot run up endpoint cost
  # beyond what 6 instances serve; overflow is retried by the workflow and pages (Throttles).
  workflow_reserved_concurrency = 20
  # At most 600 classifications started a minute (10/s, what 6 ml.m5.xlarge serve with room); a
  # bigger burst waits in the upload buffer, counted (UploadsDeferred) and paged if it lingers.
  upload_starts_per_minute = 600

  # The promoted model's routing threshold (model.auto.tfvars.json). null: route with it; a
  # number in (0, 1) pins this stage's own instead (then release the model again: the release
  # step rebuilds the drift baseline at the pin; a plan refuses a stale one); the outputs
  # effective_decision_threshold / decision_threshold_pinned show which applies.
  decision_threshold_override = null
}
