"""ddbes."""
