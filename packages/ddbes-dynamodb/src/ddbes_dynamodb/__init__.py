"""ddbes dynamodb adapter (in progress)."""
