"""Prometheus text as the suite reads it back: parsed samples, sums by label, rates between two scrapes."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from cachebench.results import LAYER, SAMPLE, layer_column


def parse_metrics(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus exposition as {(name, sorted labels): value}."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def metric_sum(values: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in values.items() if n == name and wanted <= set(lbls))


@dataclass(frozen=True)
class MetricChanges:
    """What changed between two scrapes, per second: requests, origin reads and writes, the pool,
    and the hit ratio of each cache layer."""

    requests_per_s: float
    origin_reads_per_s: float
    origin_writes_per_s: float
    #: Mean wait for a free origin connection per origin operation (most wait nothing).
    origin_queue_ms_mean: float | None
    #: Pool connections in use on average (all workers); ÷ pool size × workers = utilisation.
    origin_connections_in_use: float
    hit_ratio_by_layer: dict[str, float | None] = field(default_factory=dict)

    def sample_columns(self) -> dict[str, float | None]:
        """As the sampler's columns (``samples.csv``): the rates, and each layer's hit ratio."""
        return {
            SAMPLE.requests_per_s: self.requests_per_s,
            SAMPLE.origin_reads_per_s: self.origin_reads_per_s,
            SAMPLE.origin_writes_per_s: self.origin_writes_per_s,
            SAMPLE.origin_queue_ms_mean: self.origin_queue_ms_mean,
            SAMPLE.origin_connections_in_use: self.origin_connections_in_use,
            **{
                layer_column(layer, LAYER.hit_ratio): ratio
                for layer, ratio in self.hit_ratio_by_layer.items()
            },
        }


def metric_changes(before: dict, after: dict, elapsed_s: float) -> MetricChanges:
    """Request, origin read and write rates, and hit ratio per layer, between two scrapes."""

    def delta(name: str, **labels: str) -> float:
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    origin_operations = delta("cachebench_origin_operations_total")
    layers = {dict(lbls).get("layer") for (n, lbls) in after if n == "cachebench_cache_operations_total"}
    hit_ratios: dict[str, float | None] = {}
    for layer in sorted(filter(None, layers)):
        hits = delta("cachebench_cache_operations_total", layer=layer, result="hit")
        misses = delta("cachebench_cache_operations_total", layer=layer, result="miss")
        hit_ratios[layer] = hits / (hits + misses) if hits + misses else None
    return MetricChanges(
        requests_per_s=delta("cachebench_http_requests_total") / elapsed_s,
        origin_reads_per_s=delta("cachebench_origin_operations_total", op="read") / elapsed_s,
        origin_writes_per_s=delta("cachebench_origin_operations_total", op="write") / elapsed_s,
        origin_queue_ms_mean=(
            delta("cachebench_origin_queue_seconds_total") / origin_operations * 1000
            if origin_operations
            else None
        ),
        origin_connections_in_use=delta("cachebench_origin_held_seconds_total") / elapsed_s,
        hit_ratio_by_layer=hit_ratios,
    )
