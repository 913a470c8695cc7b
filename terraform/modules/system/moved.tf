# The monitoring alarms keyed by this module's functions and state machines, from before they
# joined module.monitoring's one for_each of single-metric alarms: a stage applied before keeps
# them (the module's own addresses move in modules/monitoring/moved.tf).
moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.function_throttles["serialize_image"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["serialize_image_throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.function_throttles["classify_image"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["classify_image_throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.function_throttles["filter_inferences"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["filter_inferences_throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.function_throttles["record_label"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["record_label_throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.function_throttles["start_workflow"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["start_workflow_throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.workflow_throttled["classify_image"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["workflow_classify_image_throttled"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.workflow_throttled["classify_batch"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["workflow_classify_batch_throttled"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.workflow_throttled["review"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.metric["workflow_review_throttled"]
}
