"""browser_clients — every simulated user keeps its own private HTTP cache, as a browser does.

Question: how much traffic do ``Cache-Control: max-age`` and ETag revalidation take off the
server, and at what staleness? Each user's cache honours max-age (answers locally while a copy
is fresh) and revalidates stale copies with ``If-None-Match`` (a 304 costs a round trip but no
body). latency.json counts, under ``browser``: ``client_local`` (answered without the network),
``not_modified`` (304s), ``network`` (full responses), ``bytes_saved`` (body bytes not sent
thanks to local answers and 304s) and ``bytes_received``; local answers also appear in the
histograms as ``client_local`` and in the read rows with the version of the cached copy, so
the staleness analysis sees what max-age costs. Run it against the ``client-headers`` target
(or any target started with ``client_headers=true``); a target without these headers gets no
local answers, as a real browser would.

The cache policy is hishel's (RFC 9111) sans-I/O state machine — freshness from max-age and
Date, conditional requests from ETag, 304 handling, invalidation on a successful PUT (§4.4) —
driven here over Locust's FastHttpUser client: only the I/O (sending through Locust, an
in-memory LRU storage per user) is ours. ``--client-cache-entries`` bounds each user's cache.
With ``--client-cache-dir`` (the runner sets it per session) each browser keeps its cache from
one Locust process to the next, as real clients keep theirs while a service runs
(``cachebench.load.browser_state``).

    locust -f scenarios/browser_clients.py --host http://127.0.0.1:8000
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from hishel import (
    BaseStorage,
    CacheMiss,
    CacheOptions,
    CouldNotBeStored,
    Entry,
    FromCache,
    Headers,
    IdleClient,
    InvalidateEntries,
    NeedRevalidation,
    NeedToBeUpdated,
    Request,
    Response,
    StoreAndUse,
)
from locust import events

from cachebench.load import browser_state, measurement
from cachebench.load.shapes import selected_shape
from scenarios._common import ITEM_GET, ITEM_PUT, ItemUser, add_common_arguments

#: The runner warms a target up until these caches have settled too (two max-ages).
CLIENTS_KEEP_CACHES = True


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(parser, distribution="zipf", zipf_alpha=0.99, write_ratio=0.05)
    parser.add_argument(
        "--client-cache-entries", type=int, default=256, help="Responses each simulated browser keeps (LRU)"
    )
    parser.add_argument(
        "--client-cache-dir",
        default="",
        env_var=browser_state.CLIENT_CACHE_DIR_ENV,
        help="Folder where each browser keeps its cache between Locust processes (none: start empty)",
    )


@dataclass
class _Stored:
    key: str
    request: Request
    status_code: int
    headers: Headers
    body: bytes


class MemoryStorage(BaseStorage):
    """One browser's cache storage: a dict with least-recently-used eviction.

    hishel ships SQLite and Redis storages; a browser's cache is private and in memory, and a
    thousand users each with a SQLite file would measure SQLite. Bodies arrive fully read
    (Locust reads them), so an entry is complete as soon as it is created.
    """

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max(1, max_entries)
        self._entries: OrderedDict[uuid.UUID, _Stored] = OrderedDict()
        self._ids_by_key: dict[str, list[uuid.UUID]] = {}

    @staticmethod
    def _entry(entry_id: uuid.UUID, stored: _Stored) -> Entry:
        headers = Headers({name: stored.headers.get_list(name) or [] for name in stored.headers})
        response = Response(stored.status_code, headers, iter((stored.body,)))
        return Entry(entry_id, stored.request, response)

    def create_entry(
        self,
        request: Request,
        response: Response,
        key: str,
        *,
        ttl: float | None = None,
        tti: float | None = None,
    ) -> Entry:
        body = b"".join(response.stream or ())
        entry_id = uuid.uuid4()
        self._entries[entry_id] = _Stored(key, request, response.status_code, response.headers, body)
        self._ids_by_key.setdefault(key, []).append(entry_id)
        while len(self._entries) > self.max_entries:
            self.remove_entry(next(iter(self._entries)))
        return self._entry(entry_id, self._entries[entry_id])

    def get_entries(self, key: str) -> list[Entry]:
        found = []
        for entry_id in self._ids_by_key.get(key, ()):
            self._entries.move_to_end(entry_id)
            found.append(self._entry(entry_id, self._entries[entry_id]))
        return found

    def to_rows(self) -> list[dict[str, object]]:
        """The entries as JSON-able rows, least recently used first (``from_rows`` takes them back)."""
        return [
            {
                "key": stored.key,
                "method": stored.request.method,
                "url": stored.request.url,
                "request_headers": _header_lists(stored.request.headers),
                "status": stored.status_code,
                "headers": _header_lists(stored.headers),
                "body": stored.body.decode("latin-1"),  # any bytes, one character each
            }
            for stored in self._entries.values()
        ]

    def from_rows(self, rows: list[dict[str, object]]) -> None:
        for row in rows[-self.max_entries :]:
            try:
                request = Request(str(row["method"]), str(row["url"]), Headers(row["request_headers"]))
                stored = _Stored(str(row["key"]), request, int(row["status"]), Headers(row["headers"]),
                                 str(row["body"]).encode("latin-1"))  # fmt: skip
            except (KeyError, TypeError, ValueError):
                continue  # a row this version cannot read: that entry starts cold
            entry_id = uuid.uuid4()
            self._entries[entry_id] = stored
            self._ids_by_key.setdefault(stored.key, []).append(entry_id)

    def update_headers(self, id: uuid.UUID, headers: Headers) -> None:  # noqa: A002 - hishel's name
        stored = self._entries.get(id)
        if stored is not None:
            stored.headers = headers

    def remove_entry(self, id: uuid.UUID) -> None:  # noqa: A002 - hishel's name
        stored = self._entries.pop(id, None)
        if stored is None:
            return
        ids = self._ids_by_key[stored.key]
        ids.remove(id)
        if not ids:
            del self._ids_by_key[stored.key]


@dataclass
class CacheAnswer:
    response: Response
    body: bytes
    from_cache: bool
    revalidated: bool


class PrivateHttpCache:
    """The I/O half of hishel's sans-I/O cache: walks its RFC 9111 states, sending with ``send``."""

    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage
        self.options = CacheOptions(shared=False)

    def handle(self, request: Request, send: Callable[[Request], Response]) -> CacheAnswer:
        # One key per URL for every method, so a PUT finds (and invalidates) the GETs' entries.
        key = request.url
        state = IdleClient(options=self.options)
        revalidated = False
        while True:
            if isinstance(state, IdleClient):
                state = state.next(request, self.storage.get_entries(key))
            elif isinstance(state, CacheMiss | NeedRevalidation):
                revalidated = isinstance(state, NeedRevalidation)
                state = state.next(send(state.request))
            elif isinstance(state, StoreAndUse):
                response = self.storage.create_entry(request, state.response, key).response
                return CacheAnswer(response, b"".join(response.stream or ()), False, revalidated)
            elif isinstance(state, CouldNotBeStored):
                response = state.response
                return CacheAnswer(response, b"".join(response.stream or ()), False, revalidated)
            elif isinstance(state, FromCache):
                response = state.entry.response
                return CacheAnswer(response, b"".join(response.stream or ()), True, revalidated)
            elif isinstance(state, NeedToBeUpdated):
                for entry in state.updating_entries:
                    self.storage.update_headers(entry.id, entry.response.headers)
                state = state.next()
            elif isinstance(state, InvalidateEntries):
                for entry_id in state.entry_ids:
                    self.storage.remove_entry(entry_id)
                state = state.next()
            else:
                raise TypeError(f"unexpected hishel state {state!r}")


def _header_lists(headers: Headers) -> dict[str, list[str]]:
    return {name: headers.get_list(name) or [] for name in headers}


def _hishel_headers(headers) -> Headers:
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items() if headers is not None else ():
        grouped.setdefault(name.lower(), []).append(value)
    return Headers(grouped)


class BrowserUser(ItemUser):
    """Reads and writes items through its own private HTTP cache."""

    def setup(self) -> None:
        options = self.environment.parsed_options
        self.storage = _kept_storages.pop(self.stream_id, None)
        if self.storage is None:  # a browser seen for the first time
            self.storage = MemoryStorage(getattr(options, "client_cache_entries", 256))
        self.cache = PrivateHttpCache(self.storage)
        folder = getattr(options, "client_cache_dir", "")
        self.saved_at = browser_state.cache_file(folder, self.stream_id) if folder else None
        if self.saved_at is not None:
            _browsers.add(self)

    def _sender(self, name: str, item_id: int, body: str | None = None) -> Callable[[Request], Response]:
        def send(request: Request) -> Response:
            headers = {header: request.headers[header] for header in request.headers}
            if body is not None:
                headers["content-type"] = "application/json"
            response = self.client.request(
                request.method,
                request.url,
                name=name,
                data=body,
                headers=headers,
                context=self.request_context(item_id=item_id),
            )
            content = response.content or b""
            if response.status_code == 200 and request.method == "GET":
                measurement.record_browser(network=1)
                measurement.record_browser(bytes_received=len(content))
            return Response(response.status_code, _hishel_headers(response.headers), iter((content,)))

        return send

    def read_item(self, item_id: int) -> None:
        context = self.request_context(item_id=item_id)  # taken now: the lateness at send time
        started_unix_s, started = time.time(), time.perf_counter()
        request = Request("GET", f"{self.host}/items/{item_id}", Headers({}))
        answer = self.cache.handle(request, self._sender(ITEM_GET, item_id))
        if not answer.from_cache:
            return
        measurement.record_browser(bytes_saved=len(answer.body))
        if answer.revalidated:
            measurement.record_browser(not_modified=1)  # Locust already reported the 304 itself
            return
        measurement.record_browser(client_local=1)
        # Answered without the network: report it like any request, so Locust's statistics and
        # ours count it (at the few microseconds the lookup took).
        self.environment.events.request.fire(
            request_type="GET",
            name=ITEM_GET,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=len(answer.body),
            response=None,
            context={
                **context,
                "outcome": measurement.CLIENT_LOCAL,
                "version": measurement.body_version(answer.body),
            },
            exception=None,
            start_time=started_unix_s,
        )

    def write_item(self, item_id: int) -> None:
        self.writes += 1
        body = f'{{"name":"w-{self.stream_id}-{self.writes}"}}'
        request = Request("PUT", f"{self.host}/items/{item_id}", Headers({}))
        self.cache.handle(request, self._sender(ITEM_PUT, item_id, body))


#: Browsers whose caches are saved when the test stops (those with a folder to keep them in).
_browsers: weakref.WeakSet[BrowserUser] = weakref.WeakSet()
#: The caches the previous process kept, by browser identity, read before any user starts: read
#: as each user started, 32 browsers' files held up the first second's requests (p99 140-170 ms).
_kept_storages: dict[str, MemoryStorage] = {}


@events.init.add_listener
def _load_browser_caches(environment, **_kwargs) -> None:
    options = environment.parsed_options
    folder = getattr(options, "client_cache_dir", "") if options is not None else ""
    if not folder:
        return
    for identity, rows in browser_state.load_all(folder).items():
        storage = MemoryStorage(getattr(options, "client_cache_entries", 256))
        storage.from_rows(rows)
        _kept_storages[identity] = storage


@events.test_stop.add_listener
def _save_browser_caches(**_kwargs) -> None:
    for browser in list(_browsers):
        browser_state.save(browser.saved_at, browser.storage.to_rows())


Shape = selected_shape()
