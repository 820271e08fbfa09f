"""A TCP proxy on 127.0.0.1 that delays every request by ``delay_ms``: the ``slow`` Redis fault.

The target talks to Redis through it; each chunk the client sends reaches Redis ``delay_ms``
later (answers come back at once), so every Redis call takes that much longer, in order, as
over a slow network. The delay can change while connections are open.

Written here rather than taken from a library: Toxiproxy, the maintained tool for this, is a
Go server binary that is neither on the machine nor installable with pip (toxiproxy-python is
only a 2019 client for it), and the one toxic needed is ~100 lines of asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from cachebench.run.processes.children import HOST

CHUNK_BYTES = 65536
START_TIMEOUT_S = 5.0


class DelayProxy:
    """Listens on a free loopback port and relays to ``upstream_port``, delaying client→server data.

    Runs its own event loop on a daemon thread; ``stop()`` closes the listener and every relayed
    connection, so nothing outlives it.
    """

    def __init__(self, upstream_port: int, upstream_host: str = HOST, delay_ms: float = 0.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_ms = delay_ms
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cachebench-delay", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> DelayProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=START_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=START_TIMEOUT_S)
        self._loop.close()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """Relayed connections open now (two relay tasks each)."""
        return len(self._tasks) // 2

    async def _listen(self) -> int:
        # Port 0: the kernel picks a free one, so there is no race with another process.
        self._server = await asyncio.start_server(self._relay, HOST, 0)
        return self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()  # as a refused connection would look to the client
            return
        upstream = asyncio.create_task(self._pipe(client_reader, server_writer, delayed=True))
        downstream = asyncio.create_task(self._pipe(server_reader, client_writer, delayed=False))
        self._tasks |= {upstream, downstream}
        try:
            # Either side closing ends the connection for both, as a direct one would.
            await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (upstream, downstream):
                task.cancel()
            await asyncio.gather(upstream, downstream, return_exceptions=True)
            self._tasks -= {upstream, downstream}
            for writer in (client_writer, server_writer):
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool) -> None:
        if not delayed:
            while data := await reader.read(CHUNK_BYTES):
                writer.write(data)
                await writer.drain()
            return
        # Each chunk keeps the time it arrived and leaves delay_ms after it, in order: a queue
        # and a sender, so chunks arriving during one chunk's delay are not delayed twice.
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                arrived, data = await queue.get()
                if not data:
                    return
                wait_s = arrived + self.delay_ms / 1000 - time.monotonic()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                queue.put_nowait((time.monotonic(), data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
