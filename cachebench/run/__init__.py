"""The runner: the benchmark matrix, a run and its cells, warm-up, sampling and summaries; its
packages hold the processes it starts, verify, faults on Redis and the capacity search."""
