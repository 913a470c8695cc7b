# Addresses before the single-metric alarms became one for_each (aws_cloudwatch_metric_alarm.metric):
# a stage applied before keeps its alarms (workflow_error_alarms under their default keys). The instances keyed by the caller's maps move in the
# caller (modules/system/moved.tf).
moved {
  from = aws_cloudwatch_metric_alarm.drift
  to   = aws_cloudwatch_metric_alarm.metric["drift"]
}

moved {
  from = aws_cloudwatch_metric_alarm.low_confidence
  to   = aws_cloudwatch_metric_alarm.metric["low_confidence"]
}

moved {
  from = aws_cloudwatch_metric_alarm.no_data
  to   = aws_cloudwatch_metric_alarm.metric["no_data"]
}

moved {
  from = aws_cloudwatch_metric_alarm.drift_job_errors
  to   = aws_cloudwatch_metric_alarm.metric["job_errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.drift_job_failed
  to   = aws_cloudwatch_metric_alarm.metric["job_failed"]
}

moved {
  from = aws_cloudwatch_metric_alarm.trigger_dead_letters[0]
  to   = aws_cloudwatch_metric_alarm.metric["upload_dead_letters"]
}

moved {
  from = aws_cloudwatch_metric_alarm.workflow_errors["model_errors"]
  to   = aws_cloudwatch_metric_alarm.metric["model_errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.workflow_errors["serialize_misconfigured"]
  to   = aws_cloudwatch_metric_alarm.metric["serialize_misconfigured"]
}

moved {
  from = aws_cloudwatch_metric_alarm.workflow_errors["classify_misconfigured"]
  to   = aws_cloudwatch_metric_alarm.metric["classify_misconfigured"]
}

moved {
  from = aws_cloudwatch_metric_alarm.workflow_errors["filter_misconfigured"]
  to   = aws_cloudwatch_metric_alarm.metric["filter_misconfigured"]
}

# Before the schedule's dead-letter queue became modules/encrypted_queue.
moved {
  from = aws_sqs_queue.schedule_dlq[0]
  to   = module.schedule_dlq[0].aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.schedule_dlq[0]
  to   = module.schedule_dlq[0].aws_sqs_queue_policy.this
}
