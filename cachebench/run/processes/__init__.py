"""The child processes the suite starts: targets under uvicorn, a private Redis, Locust, and what
they share (loopback ports, CPUs, stopping them by PID)."""
