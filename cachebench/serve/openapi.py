"""The contract's OpenAPI document: every response each route gives, the bodies, bearer auth.

FastAPI documents what it sees in a signature; most of the contract is not there (the hot GET
reads its id by hand, PUT reads its body by hand, a library's decorator hides what it returns,
and a 401, 404 or 413 is raised, not declared). ``describe`` writes the rest onto the routes
once they exist, for our reads and a library's alike, so every target publishes one document,
and ``tests/test_schemathesis.py`` holds every target to it with a fuzzer.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from cachebench.serve import codec

#: The security scheme's name in ``components.securitySchemes`` (schemathesis' auth config uses it).
BEARER_SCHEME = "bearer"

_SCHEMAS = "#/components/schemas/{name}"
_, _BODY_SCHEMAS = msgspec.json.schema_components([codec.Item, codec.Profile], ref_template=_SCHEMAS)
_ERROR = {
    "title": "HTTPError",
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _SCHEMAS.format(name=name)}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json("HTTPError")}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


_READ_HEADERS = {
    "Cache-Status": _header("RFC 9211, from the layer nearest the origin to the one nearest the client"),
    "Server-Timing": _header("time spent in each cache layer and the origin"),
    "ETag": _header("strong validator of this version (with client headers on)"),
    "Cache-Control": _header("max-age, and private on /me (with client headers on)"),
}
_NOT_MODIFIED = {
    "description": "If-None-Match names the current version (with client headers on): no body",
    "headers": {name: _READ_HEADERS[name] for name in ("ETag", "Cache-Control")},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "validators the client holds; a match is answered 304",
    "schema": {"type": "string"},
}
_UNAUTHORIZED = {
    **_error("no Authorization: Bearer <token>, or a token of no user"),
    "headers": {"WWW-Authenticate": _header("Bearer")},
}


def _contract(put_body: dict[str, Any]) -> dict[tuple[str, str], tuple[dict, dict]]:
    """(method, path) -> (responses, openapi_extra) for every route of the contract."""
    item = {"description": "the item", "content": _json("Item"), "headers": _READ_HEADERS}
    profile = {"description": "the caller's profile", "content": _json("Profile"), "headers": _READ_HEADERS}
    return {
        ("GET", "/items/{item_id}"): (
            {200: item, 304: _NOT_MODIFIED, 404: _error("no item has this id")},
            {"parameters": [_IF_NONE_MATCH]},
        ),
        ("PUT", "/items/{item_id}"): (
            {
                200: {
                    "description": "the item as written, its version incremented",
                    "content": _json("Item"),
                    "headers": {"Cache-Control": _header("no-store")},
                },
                404: _error("no item has this id"),
                413: _error("the body is over max_body_bytes (a setting, 65536 by default)"),
            },
            # Required: an empty PUT has nothing to write and is answered 422, so the document
            # says so rather than leave the body optional, as FastAPI would for a body it never saw.
            {"requestBody": {"required": True, "content": {"application/json": {"schema": put_body}}}},
        ),
        ("GET", "/me"): (
            {
                200: profile,
                304: _NOT_MODIFIED,
                401: _UNAUTHORIZED,
            },
            {"parameters": [_IF_NONE_MATCH], "security": [{BEARER_SCHEME: []}]},
        ),
    }


def describe(app: FastAPI, routes: list[APIRoute], put_body: dict[str, Any]) -> None:
    """Write the contract's responses, parameters and security onto ``routes`` and ``app``'s document.

    ``routes`` are the app's own and those of a router it includes (FastAPI builds an included
    router's routes lazily, so they are not in ``app.routes``); ``put_body`` is the JSON Schema
    of ``PUT /items/{id}``'s body.
    """
    contract = _contract(put_body)
    for route in routes:
        if not route.include_in_schema:
            continue
        for method in route.methods:
            if (method, route.path) not in contract:
                continue
            responses, extra = contract[method, route.path]
            route.responses = {**route.responses, **responses}
            merged = dict(route.openapi_extra or {})
            for key, value in extra.items():
                # Lists add up (a route may already document its path parameter); the rest is ours.
                merged[key] = merged.get(key, []) + value if isinstance(value, list) else value
            route.openapi_extra = merged

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update({**_BODY_SCHEMAS, "HTTPError": _ERROR})
            components["securitySchemes"] = {BEARER_SCHEME: {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi
