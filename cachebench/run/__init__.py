"""The runner: the benchmark matrix, the processes it starts (Redis, targets, Locust), verify, sampling."""
