"""The response headers verify reads: Cache-Status (RFC 9211), Server-Timing and Cache-Control."""

from __future__ import annotations

from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header


def cache_status_members(value: str | None) -> list[tuple[str, dict[str, str | bool]]]:
    """RFC 9211 ``Cache-Status`` as (cache name, params), from origin-nearest to client-nearest."""
    members = []
    for member in (value or "").split(","):
        name, *params = (part.strip() for part in member.split(";"))
        if not name:
            continue
        parsed: dict[str, str | bool] = {}
        for param in params:
            key, eq, val = param.partition("=")
            parsed[key.strip().lower()] = val.strip() if eq else True
        members.append((name, parsed))
    return members


def has_hit(cache_status: str | None) -> bool:
    return any(params.get("hit") for _, params in cache_status_members(cache_status))


def has_miss(cache_status: str | None) -> bool:
    return any(params.get("fwd") == "miss" for _, params in cache_status_members(cache_status))


def server_timing_names(value: str | None) -> list[str]:
    return [metric.split(";")[0].strip() for metric in (value or "").split(",") if metric.strip()]


def cache_control(value: str | None) -> ResponseCacheControl:
    # Directive names compare case-insensitively (RFC 9111 5.2); werkzeug's parser does not.
    return parse_cache_control_header((value or "").lower(), cls=ResponseCacheControl)
