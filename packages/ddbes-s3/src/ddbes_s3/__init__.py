"""ddbes s3 adapter (in progress)."""
