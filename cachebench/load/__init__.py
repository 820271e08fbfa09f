"""What runs inside Locust: workload generators, load shapes and the measurement listeners."""
