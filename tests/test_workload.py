"""Key choosers and operation streams: deterministic, the right shape, usable without Locust."""

from __future__ import annotations

import argparse
from collections import Counter

import pytest

from cachebench.load.workload import (
    READ,
    WRITE,
    HashPermutation,
    Workload,
    WorkloadError,
    WorkloadSpec,
    expected_hot_set,
    operations,
    stream_rng,
    zipf_probability,
)

DRAWS = 100_000


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 1000, 4097, 10_000])
def test_hash_permutation_is_a_bijection(n):
    permute = HashPermutation(n)
    assert sorted(permute(rank) for rank in range(n)) == list(range(n))


def test_hash_permutation_scatters_the_hottest_ranks():
    permute = HashPermutation(10_000)
    hottest = [permute(rank) for rank in range(100)]
    assert hottest[:3] != [0, 1, 2]
    # The 100 hottest ids spread over the whole id space, not one block of it.
    assert min(hottest) < 1_000 and max(hottest) > 9_000
    assert len({item // 1_000 for item in hottest}) == 10


def test_same_seed_and_stream_give_the_same_operations():
    spec = WorkloadSpec(keys=1_000)
    first = list(operations(spec, 2_000, stream_id="0-3"))
    assert first == list(operations(spec, 2_000, stream_id="0-3"))
    assert first != list(operations(spec, 2_000, stream_id="0-4"))
    assert first != list(operations(WorkloadSpec(keys=1_000, seed=7), 2_000, stream_id="0-3"))


def test_operations_match_what_a_user_draws():
    spec = WorkloadSpec(keys=500, write_ratio=0.3)
    workload, rng = Workload(spec), stream_rng(spec.seed, "1-2")
    drawn = [workload.next_operation(rng) for _ in range(300)]
    assert drawn == list(operations(spec, 300, stream_id="1-2"))


def test_zipf_matches_the_distribution_and_hides_the_hot_items():
    spec = WorkloadSpec(keys=10_000, distribution="zipf", zipf_alpha=0.99, write_ratio=0.0)
    counts = Counter(item for _, item in operations(spec, DRAWS))
    workload = Workload(spec)
    for rank in (0, 1, 9):
        expected = zipf_probability(10_000, 0.99, rank) * DRAWS
        assert counts[workload.item_for_rank(rank)] == pytest.approx(expected, rel=0.1)
    hottest, _ = counts.most_common(1)[0]
    assert hottest == workload.item_for_rank(0) and hottest != 1
    assert all(1 <= item <= 10_000 for item in counts)


def test_uniform_covers_every_key_evenly():
    spec = WorkloadSpec(keys=100, distribution="uniform", write_ratio=0.0)
    counts = Counter(item for _, item in operations(spec, DRAWS))
    assert set(counts) == set(range(1, 101))
    assert min(counts.values()) > 0.8 * DRAWS / 100 and max(counts.values()) < 1.2 * DRAWS / 100


def test_hotspot_sends_the_configured_share_to_the_hot_keys():
    spec = WorkloadSpec(keys=1_000, distribution="hotspot", hot_keys_fraction=0.1, hot_traffic_fraction=0.9)
    hot = expected_hot_set(Workload(spec))
    assert len(hot) == 100
    items = [item for _, item in operations(spec, DRAWS)]
    assert sum(item in hot for item in items) / DRAWS == pytest.approx(0.9, abs=0.01)
    assert len(set(items) - hot) > 800  # the cold 90% still get the rest


def test_shifting_hotspot_moves_to_a_disjoint_hot_set_each_period():
    spec = WorkloadSpec(
        keys=1_000,
        distribution="hotspot",
        hot_keys_fraction=0.05,
        hot_traffic_fraction=0.9,
        hotspot_shift_s=10.0,
        write_ratio=0.0,
    )
    workload = Workload(spec)
    first, second = expected_hot_set(workload, 0.0), expected_hot_set(workload, 10.0)
    assert len(first) == len(second) == 50 and not first & second
    # 100 operations per second: the first 1,000 fall in period 0, the next 1,000 in period 1.
    stream = [item for _, item in operations(spec, 2_000, rate_per_s=100.0)]
    assert sum(item in first for item in stream[:1_000]) > 850
    assert sum(item in second for item in stream[1_000:]) > 850
    assert sum(item in first for item in stream[1_000:]) < 50


def test_write_ratio_and_item_sequence_independent_of_it():
    spec = WorkloadSpec(keys=1_000, write_ratio=0.05)
    ops = list(operations(spec, DRAWS))
    assert sum(op == WRITE for op, _ in ops) / DRAWS == pytest.approx(0.05, abs=0.005)
    reads_only = list(operations(WorkloadSpec(keys=1_000, write_ratio=0.0), DRAWS))
    assert {op for op, _ in reads_only} == {READ}
    assert [item for _, item in ops] == [item for _, item in reads_only]


def test_from_options_reads_the_locust_options_and_keeps_defaults():
    options = argparse.Namespace(keys=50, distribution="uniform", write_ratio=0.5, rate=10.0)
    spec = WorkloadSpec.from_options(options)
    assert (spec.keys, spec.distribution, spec.write_ratio, spec.zipf_alpha, spec.seed) == (
        50,
        "uniform",
        0.5,
        0.99,
        42,
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"keys": 0},
        {"distribution": "pareto"},
        {"zipf_alpha": 0},
        {"hot_keys_fraction": 0},
        {"hot_traffic_fraction": 1.5},
        {"write_ratio": -0.1},
        {"hotspot_shift_s": -1},
    ],
)
def test_invalid_specs_are_refused(bad):
    with pytest.raises(WorkloadError):
        WorkloadSpec(**bad)


def test_a_shifting_hotspot_stream_needs_a_rate():
    spec = WorkloadSpec(distribution="hotspot", hotspot_shift_s=5.0)
    with pytest.raises(WorkloadError):
        list(operations(spec, 10))
