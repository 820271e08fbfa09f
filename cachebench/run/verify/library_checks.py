"""Checks for targets built on a cache library: the library's own hit/miss header agrees with ours.

Our Cache-Status on a library's target comes from whether the origin was read, not from the
library (``cachebench.serve.library``); where the library says hit or miss itself
(fastapi-cache2's ``X-FastAPI-Cache``), both must tell the same story.
"""

from __future__ import annotations

from cachebench.run.verify.check_framework import (
    DEFAULT_SEED,
    FRESH_ID_ATTEMPTS,
    CheckResult,
    Service,
    check,
    verdict,
)
from cachebench.run.verify.http_headers import has_hit, has_miss
from cachebench.serve.origin import user_token
from targets import TARGETS

#: A seeded user that the other checks do not read, so its first /me is a miss.
HEADER_CHECK_USER = 3


def _disagreement(header: str, path: str, response) -> str | None:
    """What is wrong with one response's two headers, or None when they agree."""
    ours = response.headers.get("cache-status")
    theirs = (response.headers.get(header) or "").upper()
    if response.status_code != 200:
        return f"GET {path} -> {response.status_code}, expected 200"
    if theirs not in ("HIT", "MISS"):
        return f"GET {path}: {header} {response.headers.get(header)!r}, expected HIT or MISS"
    if (theirs == "HIT" and not has_hit(ours)) or (theirs == "MISS" and not has_miss(ours)):
        return f"GET {path}: {header} {theirs} but Cache-Status {ours!r}"
    return None


@check("library header agrees")
def check_library_header(t: Service, name: str) -> CheckResult | None:
    """A fresh item and a user's /me, each twice: the library's header says what Cache-Status says."""
    row = TARGETS.get(t.strategy)
    header = row.library_header if row is not None else None
    if header is None:
        return None
    for _ in range(FRESH_ID_ATTEMPTS):
        path = f"/items/{t.fresh_id()}"
        first = t.client.get(path)
        if not has_hit(first.headers.get("cache-status")):
            break  # a fresh key: somebody else's earlier read would make the first GET a hit
    second = t.client.get(path)
    seed = int(t.setting("seed", DEFAULT_SEED))
    auth = {"Authorization": f"Bearer {user_token(HEADER_CHECK_USER, seed)}"}
    me = [t.client.get("/me", headers=auth) for _ in range(2)]
    seen = [(path, first), (path, second), ("/me", me[0]), ("/me", me[1])]
    problems = [problem for p, r in seen if (problem := _disagreement(header, p, r)) is not None]
    if not problems and (first.headers.get(header), second.headers.get(header)) != ("MISS", "HIT"):
        problems.append(f"{path}: {header} {first.headers.get(header)} then {second.headers.get(header)}")
    shown = ", ".join(f"{r.headers.get(header)}/{r.headers.get('cache-status')!r}" for _, r in seen)
    return verdict(name, problems, f"{header}/Cache-Status on {path} twice and /me twice: {shown}")
