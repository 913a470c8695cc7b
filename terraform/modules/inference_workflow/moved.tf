# Addresses before the queues became modules/encrypted_queue: a stage applied before keeps its
# queues (and their messages) and their policies.
moved {
  from = aws_sqs_queue.review
  to   = module.review_queue.aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.review
  to   = module.review_queue.aws_sqs_queue_policy.this
}

moved {
  from = aws_sqs_queue.upload_buffer[0]
  to   = module.upload_buffer[0].aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.upload_queue["buffer"]
  to   = module.upload_buffer[0].aws_sqs_queue_policy.this
}

moved {
  from = aws_sqs_queue.trigger_dlq[0]
  to   = module.trigger_dlq[0].aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.upload_queue["dead_letters"]
  to   = module.trigger_dlq[0].aws_sqs_queue_policy.this
}
