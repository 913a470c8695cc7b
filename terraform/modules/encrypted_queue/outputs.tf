output "queue" {
  description = "The queue (arn, url, name and its settings)."
  value       = aws_sqs_queue.this
}

output "policy_statements" {
  description = "The statements of the queue policy: the sender's grant (if any) and the TLS-only deny."
  value       = data.aws_iam_policy_document.this.statement
}
