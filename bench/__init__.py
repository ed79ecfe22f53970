"""batchmeter bench."""
