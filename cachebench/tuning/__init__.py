"""Tuning: TTL × size sweeps and the trace-driven simulator (the front and verdict:
``analysis.sweep_report.pareto``)."""
