"""batchmeter agent."""
