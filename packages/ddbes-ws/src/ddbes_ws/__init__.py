"""ddbes ws adapter (in progress)."""
