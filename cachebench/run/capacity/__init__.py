"""Capacity at a latency SLO: the rate search (pure logic) and the cell that runs its steps."""
