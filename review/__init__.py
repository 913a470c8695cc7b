"""Human review of the classifier's uncertain images: `python -m review` (list, show, answer).

The logic lives in `review.core` (the CLI and a reviewer web page both call it); `review.targets`
finds a stage's review queue from its Terraform outputs.
"""
