"""Client-side caching headers (RFC 9110/9111): Cache-Control, strong ETags and 304s.

Parsing of ``If-None-Match`` (lists, ``W/`` weak tags, ``*``) is werkzeug's; only the choice of
validator and headers lives here.
"""

from __future__ import annotations

from werkzeug.http import parse_etags


def etag(kind: str, ident: int, version: int) -> str:
    """A strong validator that every process derives alike and that changes with the version."""
    return f'"{kind}-{ident}-v{version}"'


def matches_if_none_match(header: str | None, current_etag: str) -> bool:
    """True when ``If-None-Match`` names the current representation (weak comparison, RFC 9110 13.1.2)."""
    if not header:
        return False
    return parse_etags(header).contains_weak(current_etag.strip('"'))


def cache_control(max_age_s: int, private: bool) -> str:
    # No ``public`` on the rest: a response to a request without Authorization is storable by
    # shared caches already, so the directive adds nothing (REDbot: STORE_PUBLIC_UNNECESSARY).
    return f"private, max-age={max_age_s}" if private else f"max-age={max_age_s}"
