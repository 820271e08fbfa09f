"""ASGI middleware that counts requests by route template and status.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which wraps every response in a stream
and costs a measurable share of a cache hit's time.
"""

from __future__ import annotations

from cachebench.serve import metrics


class RequestMetrics:
    def __init__(self, app) -> None:
        self.app = app
        self._counters: dict[tuple[str, int], metrics.TickCounter] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_note_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = scope.get("route")
            labels = (route.path if route is not None else "unmatched", status)
            counter = self._counters.get(labels)
            if counter is None:
                counter = self._counters[labels] = metrics.TickCounter(metrics.REQUESTS.labels(*labels))
            counter.inc()
