"""Tuning: TTL × size sweeps, the trace-driven simulator, the Pareto front and the recommendation."""
