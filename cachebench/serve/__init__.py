"""What runs inside a target: the HTTP contract, cache layers and backends, origin, settings, metrics."""
