"""record_label: keep every final routing decision as a label record (JSON Lines in S3)."""
