"""How items travel (exact-size JSON) and their client caching headers (ETag, Cache-Control)."""

from __future__ import annotations

import sys
import tracemalloc

import msgspec
import pytest

from cachebench.serve import codec, http_caching

# -- codec --------------------------------------------------------------------------------------


ITEM = codec.Item(7, 3, "2026-01-01T00:00:00.000000Z", "item-7", "p" * 1100)
SMALL = codec.Item(8, 1, "2026-01-01T00:00:00.000000Z", "item-8", "")


def test_encode_is_plain_json_of_exact_length() -> None:
    big = codec.encode(ITEM)
    small = codec.encode(SMALL)  # the shared buffer shrank; the earlier result is untouched
    assert type(big) is bytes and type(small) is bytes
    assert big == msgspec.json.encode(ITEM)
    assert small == msgspec.json.encode(SMALL)
    assert codec.decode_item(big) == ITEM


def test_encode_allocates_only_the_encoded_length() -> None:
    codec.encode(ITEM)  # size the shared buffer first; only the result should be allocated below
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        encoded = codec.encode(ITEM)
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert allocated == sys.getsizeof(encoded)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xffgarbage",
        b'{"id": 1',
        b"[]",
        b'{"id": "7", "version": 3, "updated_at": "t", "name": "n", "payload": "p"}',
        b'{"id": 7, "version": 3, "updated_at": "t", "name": "n"}',
        msgspec.json.encode(codec.Profile(1, 1, "user-1", "u@example.test", "free")),
    ],
    ids=["empty", "binary", "truncated", "array", "wrong-type", "missing-field", "a-profile"],
)
def test_decode_item_rejects_what_is_not_an_item(data: bytes) -> None:
    with pytest.raises(codec.DecodeError):
        codec.DECODERS["item"](data)
    with pytest.raises(ValueError):  # documented as a ValueError, which callers may catch
        codec.decode_item(data)


def test_decode_profile_roundtrip_and_rejects_an_item() -> None:
    profile = codec.Profile(2, 1, "user-2", "user-2@example.test", "team")
    assert codec.DECODERS["me"](codec.encode(profile)) == profile
    with pytest.raises(codec.DecodeError):
        codec.decode_profile(codec.encode(ITEM))


# -- http_caching -------------------------------------------------------------------------------

CURRENT = http_caching.etag("item", 1, 1)


def test_etag_and_cache_control_format() -> None:
    assert CURRENT == '"item-1-v1"'
    assert http_caching.etag("me", 4, 12) == '"me-4-v12"'
    assert http_caching.cache_control(30, private=False) == "max-age=30"
    assert http_caching.cache_control(0, private=True) == "private, max-age=0"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"item-1-v1"', True),
        (' "item-1-v1" ', True),
        ('"a", "item-1-v1"', True),
        ('"a","b",W/"item-1-v1"', True),
        ('W/"item-1-v1"', True),  # If-None-Match uses the weak comparison
        ("*", True),
        ('"item-1-v2"', False),
        ('"item-1-v10"', False),
        ('"item-11-v1"', False),
        ('"item-1-v1', False),
        ('"*"', False),  # a quoted star is an ordinary tag
        ('W/"item-1-v2", "x"', False),
    ],
)
def test_matches_if_none_match(header: str | None, matches: bool) -> None:
    assert http_caching.matches_if_none_match(header, CURRENT) is matches
