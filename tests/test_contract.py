"""The HTTP contract, written once and run against every target (one uvicorn worker each).

Each target is started once for the module; tests keep apart by using item ids no other test
touched. What only some targets do (Cache-Status, origin reads saved) is parametrized on
whether the target has a server-side cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from conftest import (
    ORIGIN_ITEMS,
    ORIGIN_USERS,
    PAYLOAD_BYTES,
    TargetStarter,
    cache_status,
    fresh_item_id,
    http_client,
    origin_reads,
    poll_until,
)

from cachebench.run.processes.launcher import TargetProcess
from cachebench.serve.origin import user_token
from targets import TARGETS, default_targets

pytestmark = pytest.mark.timeout(120)

STRATEGIES = default_targets()
CACHING = [name for name in STRATEGIES if TARGETS[name].caches]
ITEM_FIELDS = {"id", "version", "updated_at", "name", "payload"}
PROFILE_FIELDS = {"id", "version", "name", "email", "plan"}
SERVER_TIMING_MEMBER = re.compile(r"^(l1|redis|origin|origin-queue);dur=\d+(\.\d+)?$")
TTL_S = 1.0


@pytest.fixture(scope="module", params=STRATEGIES)
def target(request: pytest.FixtureRequest, start_module_target: TargetStarter) -> TargetProcess:
    return start_module_target(request.param)


@pytest.fixture
def client(target: TargetProcess) -> Iterator[httpx.Client]:
    with http_client(target) as client:
        yield client


def bearer(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(user_id)}"}


def caches(target: TargetProcess) -> bool:
    return target.strategy in CACHING


# -- status codes and bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/items/1", 200),
        (f"/items/{ORIGIN_ITEMS}", 200),
        (f"/items/{ORIGIN_ITEMS + 1}", 404),
        ("/items/2147483647", 404),  # the largest valid id: in range, not seeded
        ("/items/2147483648", 422),
        ("/items/0", 422),
        ("/items/-1", 422),
        ("/items/abc", 422),
        ("/items/1.5", 422),
    ],
)
def test_get_item_status(client: httpx.Client, path: str, status: int) -> None:
    assert client.get(path).status_code == status


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "0",
        "2147483648",
        "2147483647",
        "1.5",
        "1e3",
        "0x10",
        "05",
        "%205",
        "00000000001",
        "%D9%A1",
        "-1",
    ],
)
def test_get_and_put_validate_the_id_alike(client: httpx.Client, raw: str) -> None:
    """GET validates the id by hand (a fast path), PUT through FastAPI: same verdict, same 422 body."""
    got = client.get(f"/items/{raw}")
    # An oversized body: 413 once the id is valid, so the status tells the id's verdict.
    put = client.put(f"/items/{raw}", content=b'{"payload": "' + b"x" * 70_000 + b'"}')
    assert (got.status_code == 422) == (put.status_code == 422), (got.status_code, put.status_code)
    if got.status_code == 422:
        assert got.json() == put.json()
        assert [error["loc"] for error in got.json()["detail"]] == [["path", "item_id"]]
    else:  # valid: the largest id is not seeded
        assert (got.status_code, put.status_code) == (404 if raw == "2147483647" else 200, 413)


def test_item_json_shape(client: httpx.Client) -> None:
    ident = fresh_item_id()
    response = client.get(f"/items/{ident}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    item = response.json()
    assert set(item) == ITEM_FIELDS
    assert item["id"] == ident
    assert item["version"] == 1
    assert item["name"] == f"item-{ident}"
    assert isinstance(item["updated_at"], str) and item["updated_at"].endswith("Z")
    assert isinstance(item["payload"], str) and len(item["payload"]) == PAYLOAD_BYTES


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"[]",
        b"{}",
        b'{"name": null}',
        b'{"name": "ok", "extra": 1}',
        b'{"name": ""}',
        b'{"name": "' + b"n" * 201 + b'"}',
        b'{"payload": 5}',
        b'{"name": "ok", "payload": null}',
        b'{"name": "\xff"}',
    ],
    ids=["invalid-json", "empty", "array", "no-fields", "null-name", "extra-field", "empty-name",
         "name-too-long", "payload-not-string", "null-beside-a-field", "not-utf-8"],
)  # fmt: skip
def test_put_rejects_bad_body_with_422_and_writes_nothing(client: httpx.Client, body: bytes) -> None:
    ident = fresh_item_id()
    response = client.put(f"/items/{ident}", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert client.get(f"/items/{ident}").json()["version"] == 1


def test_put_accepts_longest_name(client: httpx.Client) -> None:
    ident = fresh_item_id()
    response = client.put(f"/items/{ident}", json={"name": "n" * 200})
    assert response.status_code == 200
    assert response.json()["name"] == "n" * 200


def test_put_oversized_body_is_413(client: httpx.Client) -> None:
    ident = fresh_item_id()
    oversized = b'{"payload": "' + b"x" * 70_000 + b'"}'  # max_body_bytes is 65536 by default
    declared = client.put(f"/items/{ident}", content=oversized, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    # Chunked: no Content-Length to refuse up front, so the limit applies while reading.
    chunked = client.put(
        f"/items/{ident}",
        content=iter([oversized[:40_000], oversized[40_000:]]),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    assert client.get(f"/items/{ident}").json()["version"] == 1


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "POST", "PATCH", "HEAD"])
def test_other_methods_are_405_naming_every_method_of_the_item(client: httpx.Client, method: str) -> None:
    # RFC 9110 15.5.6: Allow lists the resource's methods, not only the first route's.
    response = client.request(method, "/items/1")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, PUT")
    assert client.request(method, "/me").headers["allow"] == "GET"


def test_put_unknown_or_invalid_id(client: httpx.Client) -> None:
    assert client.put(f"/items/{ORIGIN_ITEMS + 1}", json={"name": "x"}).status_code == 404
    assert client.put("/items/0", json={"name": "x"}).status_code == 422
    assert client.put("/items/abc", json={"name": "x"}).status_code == 422


# -- writes ------------------------------------------------------------------------------------


def test_put_increments_version_and_next_get_shows_it(client: httpx.Client) -> None:
    ident = fresh_item_id()
    before = client.get(f"/items/{ident}").json()
    client.get(f"/items/{ident}")  # now cached, where the target caches

    response = client.put(f"/items/{ident}", json={"name": "renamed"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    written = response.json()
    assert set(written) == ITEM_FIELDS
    assert written["version"] == before["version"] + 1
    assert written["name"] == "renamed"
    assert written["payload"] == before["payload"]  # a partial update keeps the other field
    assert client.get(f"/items/{ident}").json() == written

    second = client.put(f"/items/{ident}", json={"payload": "p" * 10}).json()
    assert (second["version"], second["name"], second["payload"]) == (
        before["version"] + 2,
        "renamed",
        "p" * 10,
    )
    assert client.get(f"/items/{ident}").json() == second


# -- headers -----------------------------------------------------------------------------------


def test_server_timing_on_every_get(client: httpx.Client) -> None:
    ident = fresh_item_id()
    for response in (
        client.get(f"/items/{ident}"),
        client.get(f"/items/{ident}"),
        client.get("/me", headers=bearer(1)),
    ):
        assert response.status_code == 200
        members = [m.strip() for m in response.headers["server-timing"].split(",")]
        assert members and all(SERVER_TIMING_MEMBER.match(m) for m in members), members


def test_cache_status_miss_then_hit(target: TargetProcess, client: httpx.Client) -> None:
    ident = fresh_item_id()
    first, second = client.get(f"/items/{ident}"), client.get(f"/items/{ident}")
    assert first.json() == second.json()
    if not caches(target):
        assert cache_status(first) is None and cache_status(second) is None
        return
    assert "hit" not in cache_status(first)
    assert "stored" in cache_status(first)
    assert cache_status(second) == f"{TARGETS[target.strategy].layers[0]}; hit"
    # Server-Timing names only the layers a hit touched: no origin.
    assert "origin" not in second.headers["server-timing"]


def test_origin_reads_counted_in_metrics(target: TargetProcess, client: httpx.Client) -> None:
    ident = fresh_item_id()
    before = origin_reads(target)
    client.get(f"/items/{ident}")
    after_miss = origin_reads(target)
    client.get(f"/items/{ident}")
    after_second = origin_reads(target)
    assert after_miss - before == 1
    assert after_second - after_miss == (0 if caches(target) else 1)


# -- /me ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", f"Basic {user_token(1)}", "Bearer", user_token(1)],
    ids=["none", "bad-token", "wrong-scheme", "scheme-only", "token-without-scheme"],
)
def test_me_needs_a_valid_bearer_token(client: httpx.Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_me_auth_scheme_is_case_insensitive(client: httpx.Client) -> None:
    # RFC 9110 11.1: the scheme name is case-insensitive.
    response = client.get("/me", headers={"Authorization": f"bearer {user_token(2)}"})
    assert response.status_code == 200
    assert response.json()["id"] == 2


def test_me_unknown_user_token_is_401(client: httpx.Client) -> None:
    assert client.get("/me", headers=bearer(ORIGIN_USERS + 1)).status_code == 401


def test_me_is_isolated_per_user(client: httpx.Client) -> None:
    users = (1, 2, 3)
    for _ in range(15):  # interleaved, so a cache keyed wrongly would hand one user another's data
        for user in users:
            response = client.get("/me", headers=bearer(user))
            assert response.status_code == 200
            profile = response.json()
            assert set(profile) == PROFILE_FIELDS
            assert (profile["id"], profile["name"], profile["email"]) == (
                user,
                f"user-{user}",
                f"user-{user}@example.test",
            )


# -- operations endpoints ----------------------------------------------------------------------


def test_healthz_fields(target: TargetProcess, client: httpx.Client) -> None:
    health = client.get("/healthz").json()
    assert {"strategy", "client_headers", "settings", "redis", "layers"} <= set(health)
    assert health["strategy"] == target.strategy
    assert health["client_headers"] == (target.strategy == "client-headers")
    assert health["settings"]["namespace"] == target.settings["namespace"]
    assert health["settings"]["origin_latency_ms"] == 1
    uses_redis = TARGETS[target.strategy].needs_redis
    assert health["redis"]["configured"] is uses_redis
    if uses_redis:
        assert health["redis"]["reachable"] is True
        assert health["redis"]["circuit_open"] is False
        password = target.settings["redis_url"].split("//:")[1].split("@")[0]
        assert password not in health["settings"]["redis_url"]  # masked
    expected_layers = {"l1": {"l1"}, "redis": {"redis"}, "hierarchical": {"l1", "redis"}}
    assert set(health["layers"]) == expected_layers.get(target.strategy, set())


def test_bench_constant(client: httpx.Client) -> None:
    response = client.get("/bench/constant")
    assert response.status_code == 200
    assert set(response.json()) == ITEM_FIELDS
    assert response.content == client.get("/bench/constant").content


# -- invalidation modes (caching targets) ------------------------------------------------------


@pytest.fixture(scope="module", params=CACHING)
def version_target(request: pytest.FixtureRequest, start_module_target: TargetStarter) -> TargetProcess:
    return start_module_target(request.param, invalidation="version")


@pytest.fixture(scope="module", params=CACHING)
def ttl_target(request: pytest.FixtureRequest, start_module_target: TargetStarter) -> TargetProcess:
    return start_module_target(request.param, invalidation="ttl", l1_ttl_s=TTL_S, redis_ttl_s=TTL_S)


def test_version_mode_serves_the_new_version_after_put(version_target: TargetProcess) -> None:
    ident = fresh_item_id()
    with http_client(version_target) as client:
        client.get(f"/items/{ident}")
        warm = client.get(f"/items/{ident}")
        assert "hit" in cache_status(warm)
        written = client.put(f"/items/{ident}", json={"name": "v2"}).json()
        assert written["version"] == 2
        after = client.get(f"/items/{ident}")
        assert after.json() == written
        again = client.get(f"/items/{ident}")
        assert again.json() == written
        assert cache_status(again) == f"{TARGETS[version_target.strategy].layers[0]}; hit"


def test_ttl_mode_serves_stale_until_ttl(ttl_target: TargetProcess) -> None:
    ident = fresh_item_id()
    with http_client(ttl_target) as client:
        old = client.get(f"/items/{ident}").json()
        written = client.put(f"/items/{ident}", json={"name": "later"}).json()
        # The PUT touches no cache: the old version is still served (stale by design) ...
        stale = client.get(f"/items/{ident}")
        assert stale.json() == old
        assert "hit" in cache_status(stale)
        # ... until the TTL ends; with L1 over Redis the stale value can be copied into L1
        # just before Redis expires it, so the bound is both TTLs.
        poll_until(
            lambda: client.get(f"/items/{ident}").json() == written,
            timeout_s=2 * TTL_S + 3,
            what="new version served after the TTL",
        )
