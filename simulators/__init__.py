"""batchmeter simulators."""
