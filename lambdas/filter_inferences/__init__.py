"""filter_inferences: route a confident classification, or send it to human review."""
