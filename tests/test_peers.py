"""The cache libraries' targets (fastapi-cache2, cashews, aiocache) on the contract, through real processes.

Each target is started once for the module (its Redis variants with the two workers verify uses,
on the session's redis-server) and checked three ways: ``verify`` passes with its documented
skips shown; the HTTP contract's cache behaviour holds, with a Cache-Status that the origin's own
read counter confirms; a write is seen at once. The per-user check is shown to catch a leak with
the key builder fastapi-cache2 issue #103 describes: a /me that reads the token from the request.
"""

from __future__ import annotations

import textwrap

import pytest
from conftest import TargetStarter, fresh_item_id, http_client, metric, origin_reads

import targets
from cachebench.run.processes.launcher import TargetProcess
from cachebench.run.verify.verification import FAIL, PASS, WARN, verify
from cachebench.serve.origin import user_token
from targets import TARGETS, library_targets

pytestmark = pytest.mark.timeout(120)

LIBRARIES = library_targets()


@pytest.fixture(scope="module", params=LIBRARIES)
def target(request: pytest.FixtureRequest, start_module_target: TargetStarter) -> TargetProcess:
    return start_module_target(request.param, workers=TARGETS[request.param].verify_workers)


def bearer(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(user_id)}"}


def test_verify_passes_with_documented_skips(target: TargetProcess) -> None:
    row = TARGETS[target.strategy]
    results = {r.name: r for r in verify(target.url, target.strategy, workers=target.workers)}
    assert [r for r in results.values() if r.status == FAIL] == []
    skipped = dict(row.verify_skips)
    for name, result in results.items():
        if name in skipped:
            assert (result.status, result.reason) == (WARN, f"documented skip: {skipped[name]}")
        else:
            assert result.status == PASS, result
    assert results["per-user isolation"].status == PASS
    assert (
        results["cache transition"].reason == f"'{target.strategy}; fwd=miss' then '{target.strategy}; hit'"
    )
    if row.library_redis:
        assert results["cross-process invalidation"].status == PASS  # two workers, one shared cache
    else:
        assert "cross-process invalidation" in skipped
    assert ("library header agrees" in results) == (row.library_header is not None)


def test_miss_then_hit_as_the_origin_saw_it(target: TargetProcess) -> None:
    ident = fresh_item_id()
    layer = TARGETS[target.strategy].layers[0]
    with http_client(target) as client:
        before = origin_reads(target)
        first = client.get(f"/items/{ident}")
        after_first = origin_reads(target)
        second = client.get(f"/items/{ident}")
        after_second = origin_reads(target)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["id"] == ident
    assert (first.headers["cache-status"], after_first - before) == (f"{layer}; fwd=miss", 1)
    assert (second.headers["cache-status"], after_second - after_first) == (f"{layer}; hit", 0)
    assert "origin;dur=" in first.headers["server-timing"]
    assert second.headers["server-timing"].startswith(f"{layer};dur=")
    assert "origin" not in second.headers["server-timing"]
    header = TARGETS[target.strategy].library_header
    if header is not None:  # the library's own verdict agrees with the origin's
        assert (first.headers[header], second.headers[header]) == ("MISS", "HIT")
    assert metric(target, "cachebench_cache_operations_total", layer=layer, result="hit") >= 1


def test_put_invalidates_through_the_library(target: TargetProcess) -> None:
    ident = fresh_item_id()
    layer = TARGETS[target.strategy].layers[0]
    with http_client(target) as client:
        client.get(f"/items/{ident}")
        assert client.get(f"/items/{ident}").headers["cache-status"] == f"{layer}; hit"
        written = client.put(f"/items/{ident}", json={"name": "renamed"})
        assert written.status_code == 200
        after = client.get(f"/items/{ident}")
        again = client.get(f"/items/{ident}")
    assert (after.json(), after.headers["cache-status"]) == (written.json(), f"{layer}; fwd=miss")
    assert (again.json(), again.headers["cache-status"]) == (written.json(), f"{layer}; hit")


def test_me_is_cached_per_user(target: TargetProcess) -> None:
    layer = TARGETS[target.strategy].layers[0]
    seen: dict[int, list[str]] = {4: [], 5: [], 6: []}
    with http_client(target) as client:
        for _ in range(3):
            for user in seen:
                response = client.get("/me", headers=bearer(user))
                assert response.status_code == 200
                assert response.json()["id"] == user
                seen[user].append(response.headers["cache-status"])
        assert client.get("/me").status_code == 401
        assert client.get("/me", headers={"Authorization": "Bearer nobody"}).status_code == 401
    for statuses in seen.values():
        assert statuses == [f"{layer}; fwd=miss", f"{layer}; hit", f"{layer}; hit"]


def test_settings_the_library_cannot_honour_stop_the_target(start_target: TargetStarter) -> None:
    with pytest.raises(RuntimeError, match="CACHEBENCH_INVALIDATION=version: not available with cashews"):
        start_target("cashews", invalidation="version")


def test_a_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    row = targets.Target(
        "nolib", "targets.peer_cashews", layers=("nolib",), library="no_such_lib", extra="peers"
    )
    monkeypatch.setitem(targets.TARGETS, row.name, row)
    with pytest.raises(ValueError, match=r"needs no_such_lib: pip install -e '\.\[peers\]'"):
        TargetProcess("nolib")


#: /me written the way fastapi-cache2 issue #103 reports: the token read from ``request``, which
#: the default key builder leaves out of the key, so every user shares the first user's entry.
LEAKY_TARGET = '''
    """fastapi-cache2 with a /me that reads its caller from the request (issue #103)."""

    from fastapi import APIRouter, Request
    from fastapi_cache.decorator import cache

    from cachebench.serve.library import create_library_app, current_user_id, profile
    from targets import peer_fastapi_cache2

    reads = APIRouter()
    reads.add_api_route("/items/{item_id}", peer_fastapi_cache2.get_item)


    @reads.get("/me")
    @cache(namespace="me")
    async def get_me(request: Request):
        return await profile(await current_user_id(request, request.headers.get("authorization")))


    app = create_library_app("leaky", peer_fastapi_cache2.fastapi_cache2_memory, reads)
'''


def test_the_per_user_check_catches_a_key_without_the_user(
    tmp_path, monkeypatch: pytest.MonkeyPatch, start_target: TargetStarter
) -> None:
    folder = tmp_path / "leaky"
    folder.mkdir()
    (folder / "leaky_target.py").write_text(textwrap.dedent(LEAKY_TARGET))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    row = targets.Target("leaky", "leaky_target", layers=("leaky",), library="fastapi_cache", extra="peers")
    monkeypatch.setitem(targets.TARGETS, row.name, row)
    target = start_target("leaky")

    results = {r.name: r for r in verify(target.url, "leaky")}
    isolation = results["per-user isolation"]
    assert (isolation.status, isolation.reason) == (FAIL, "user 2's token got the profile of user 1")
    with http_client(target) as client:
        seventh = client.get("/me", headers=bearer(7))
    assert seventh.json()["id"] == 1  # and so it goes on for every user after the first
    assert seventh.headers["cache-status"] == "leaky; hit"


def test_a_library_cell_runs_through_the_runner_with_a_steady_state_warm_up(tmp_path) -> None:

    from cachebench.results import SUMMARY_FILE, cell_dir, read_manifest, read_summary
    from cachebench.run.driver import run_bench
    from cachebench.run.matrix import load_matrix

    matrix = load_matrix(
        None,
        {
            "label": "peer", "targets": ["cashews-redis"], "duration_s": 2, "warmup_s": 1,
            "settings": {"fast": {"origin_latency_ms": 2}},
        },
    )  # fmt: skip
    run_dir = run_bench(matrix, results_root=tmp_path)
    cell = read_manifest(run_dir).cells[0]
    assert cell.status == "complete", cell.reason
    summary = read_summary(cell_dir(run_dir, cell.name) / SUMMARY_FILE)
    # The library's one layer is named after it and takes the Redis TTL (60 s): not reached in 1 s.
    assert summary.warmup.ttl_s_by_layer == {"cashews-redis": 60.0}
    assert summary.warmup.settled is False
    assert summary.headline.requests > 0


def test_values_a_library_keeps_in_redis_are_json_never_pickle(target: TargetProcess) -> None:
    import json

    import redis

    if not TARGETS[target.strategy].library_redis:
        pytest.skip("kept in process memory, not in the shared Redis")
    ident = fresh_item_id()
    with http_client(target) as client:
        assert client.get(f"/items/{ident}").status_code == 200
        assert client.get(f"/items/{ident}").status_code == 200
    shared = redis.Redis.from_url(target.settings["redis_url"])
    try:
        namespace = target.settings["namespace"]
        values = [shared.get(key) for key in shared.scan_iter(f"*{namespace}*", count=1000)]
    finally:
        shared.close()
    values = [v for v in values if v]
    assert values, "the library stored nothing under the target's namespace"
    # A value unpickled from a shared cache can run code: every one must be plain JSON.
    for value in values:
        assert not value.startswith(b"\x80"), value[:40]
        json.loads(value)
