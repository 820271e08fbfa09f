"""Client-side caching headers: Cache-Control, strong ETags, 304 on If-None-Match.

Run against the ``client-headers`` target with 2 workers (an ETag must not depend on which
worker answers) and against ``hierarchical`` with ``client_headers=True``, where the version
behind the ETag may come from a cache hit rather than from the origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from conftest import TargetStarter, cache_status, fresh_get, fresh_item_id, http_client

from cachebench.run.processes.launcher import TargetProcess
from cachebench.serve.origin import user_token

pytestmark = pytest.mark.timeout(120)

MAX_AGE_S = 17
STRONG_ETAG = re.compile(r'^"item-(\d+)-v(\d+)"$')


@pytest.fixture(scope="module", params=["client-headers", "hierarchical"])
def target(request: pytest.FixtureRequest, start_module_target: TargetStarter) -> TargetProcess:
    if request.param == "client-headers":
        return start_module_target("client-headers", workers=2, max_age_s=MAX_AGE_S)
    return start_module_target("hierarchical", client_headers=True, max_age_s=MAX_AGE_S)


@pytest.fixture
def client(target: TargetProcess) -> Iterator[httpx.Client]:
    with http_client(target) as client:
        yield client


def bearer(user_id: int, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(user_id)}", **extra}


def test_item_etag_is_strong_and_quoted(client: httpx.Client) -> None:
    ident = fresh_item_id()
    response = client.get(f"/items/{ident}")
    assert response.status_code == 200
    assert STRONG_ETAG.match(response.headers["etag"])
    assert response.headers["etag"] == f'"item-{ident}-v1"'
    # No `public`: it adds nothing to a response to a request without Authorization.
    assert response.headers["cache-control"] == f"max-age={MAX_AGE_S}"
    assert "vary" not in response.headers


def test_etag_is_the_same_from_every_worker(target: TargetProcess) -> None:
    ident = fresh_item_id()
    etags = {fresh_get(target, f"/items/{ident}").headers["etag"] for _ in range(20)}
    assert etags == {f'"item-{ident}-v1"'}


@pytest.mark.parametrize(
    "if_none_match",
    ['"item-{id}-v1"', '"other", "item-{id}-v1"', 'W/"item-{id}-v1"', "*", '"x",W/"item-{id}-v1" , "y"'],
    ids=["exact", "list", "weak", "star", "list-unspaced-weak"],
)
def test_matching_if_none_match_is_304(
    target: TargetProcess, client: httpx.Client, if_none_match: str
) -> None:
    ident = fresh_item_id()
    full = client.get(f"/items/{ident}")
    # Twice: the second pass is a cache hit on hierarchical, where the version comes from L1.
    for _ in range(2):
        response = client.get(f"/items/{ident}", headers={"If-None-Match": if_none_match.format(id=ident)})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == full.headers["etag"]
        assert response.headers["cache-control"] == full.headers["cache-control"]
    if target.strategy == "hierarchical":
        assert cache_status(response) == "l1; hit"


@pytest.mark.parametrize(
    "if_none_match",
    ['"item-{id}-v2"', '"item-{other}-v1"', '"item-{id}-v1', "item-{id}-v1x", '"item-{id}-v10"'],
    ids=["other-version", "other-item", "unterminated", "unquoted-other", "version-prefix"],
)
def test_non_matching_if_none_match_is_200(client: httpx.Client, if_none_match: str) -> None:
    ident = fresh_item_id()
    header = if_none_match.format(id=ident, other=ident + 1)
    response = client.get(f"/items/{ident}", headers={"If-None-Match": header})
    assert response.status_code == 200
    assert response.json()["id"] == ident
    assert response.headers["etag"] == f'"item-{ident}-v1"'


def test_put_changes_the_etag(target: TargetProcess, client: httpx.Client) -> None:
    ident = fresh_item_id()
    old_etag = client.get(f"/items/{ident}").headers["etag"]
    client.get(f"/items/{ident}")  # cached where the target caches
    written = client.put(f"/items/{ident}", json={"name": "changed"})
    assert written.status_code == 200
    assert written.headers["cache-control"] == "no-store"
    assert "etag" not in written.headers

    new_etag = f'"item-{ident}-v2"'
    for _ in range(2 * target.workers):
        stale_check = fresh_get(target, f"/items/{ident}", headers={"If-None-Match": old_etag})
        assert stale_check.status_code == 200
        assert stale_check.json() == written.json()
        assert stale_check.headers["etag"] == new_etag
    assert client.get(f"/items/{ident}", headers={"If-None-Match": new_etag}).status_code == 304


def test_me_is_private_and_varies_on_authorization(client: httpx.Client) -> None:
    response = client.get("/me", headers=bearer(4))
    assert response.status_code == 200
    assert response.json()["id"] == 4
    assert response.headers["cache-control"] == f"private, max-age={MAX_AGE_S}"
    assert response.headers["vary"] == "Authorization"
    assert response.headers["etag"] == '"me-4-v1"'


def test_me_304_only_for_the_same_users_etag(client: httpx.Client) -> None:
    mine = client.get("/me", headers=bearer(5))
    revalidated = client.get("/me", headers=bearer(5, **{"If-None-Match": mine.headers["etag"]}))
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == mine.headers["etag"]
    assert revalidated.headers["cache-control"] == mine.headers["cache-control"]
    assert revalidated.headers["vary"] == "Authorization"

    # Another user presenting user 5's validator gets their own profile, never a 304.
    other = client.get("/me", headers=bearer(6, **{"If-None-Match": mine.headers["etag"]}))
    assert other.status_code == 200
    assert other.json()["id"] == 6
    assert other.headers["etag"] == '"me-6-v1"'


def test_unauthenticated_me_gets_no_validator(client: httpx.Client) -> None:
    response = client.get("/me", headers={"If-None-Match": "*"})
    assert response.status_code == 401
    assert "etag" not in response.headers


def test_cache_status_only_where_there_is_a_server_cache(target: TargetProcess, client: httpx.Client) -> None:
    ident = fresh_item_id()
    client.get(f"/items/{ident}")
    second = client.get(f"/items/{ident}")
    if target.strategy == "client-headers":
        assert cache_status(second) is None
    else:
        assert cache_status(second) == "l1; hit"
        assert client.get("/healthz").json()["client_headers"] is True
