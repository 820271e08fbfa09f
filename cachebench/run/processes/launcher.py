"""Start a target under uvicorn on a free loopback port, wait until it serves, stop it by PID."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from cachebench.run.processes.children import HOST, free_port, terminate
from cachebench.settings import ENV_PREFIX, load_settings
from targets import find_target

READY_TIMEOUT_S = 30.0
LOG_TAIL_CHARS = 3000
#: What uvicorn logs once it listens, and when the port was taken first.
LISTENING = "Uvicorn running on"
BIND_FAILED = "error while attempting to bind"
#: Ports tried when each one chosen free was taken before uvicorn could bind it.
PORT_ATTEMPTS = 3


class PortTaken(RuntimeError):
    """The target exited because another process took its port first."""


def settings_env(settings: dict[str, object]) -> dict[str, str]:
    """``{"l1_ttl_s": 5}`` as the environment a target reads: ``{"CACHEBENCH_L1_TTL_S": "5"}``."""
    env = {}
    for name, value in settings.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[f"{ENV_PREFIX}{name.upper()}"] = "" if value is None else str(value)
    return env


class TargetProcess:
    """One target: ``uvicorn targets.<module>:app`` with its settings in the environment."""

    def __init__(
        self,
        strategy: str,
        settings: dict[str, object] | None = None,
        workers: int = 1,
        port: int | None = None,
        cpus: list[int] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.strategy = strategy
        row = find_target(strategy)
        self.module = row.module
        # A cache library's target needs an optional extra: say which, rather than show uvicorn's
        # ModuleNotFoundError in a log tail.
        if row.library is not None and importlib.util.find_spec(row.library) is None:
            raise ValueError(f"target {strategy!r} needs {row.library}: pip install -e '.[{row.extra}]'")
        self.settings = dict(settings or {})
        # Validate in this process first, so bad settings fail with one clear line.
        load_settings(strategy=strategy, **self.settings)
        self.workers = workers
        self.port = port
        self.cpus = cpus
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._private_dir: Path | None = None
        self.origin_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> TargetProcess:
        """Start and wait until it serves; a free port another process takes first (between
        ``free_port`` and uvicorn's bind, over a second of imports) is replaced, twice at most."""
        chosen = self.port
        for attempt in range(PORT_ATTEMPTS):
            self.port = chosen if chosen is not None else free_port()
            try:
                return self._start()
            except PortTaken:
                if chosen is not None or attempt == PORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _start(self) -> TargetProcess:
        self._private_dir = Path(tempfile.mkdtemp(prefix=f"cachebench-{self.strategy}-"))
        prometheus_dir = self._private_dir / "prometheus"
        prometheus_dir.mkdir()
        settings = dict(self.settings)
        # A private origin file: writes made while measuring this target stay with it.
        settings.setdefault("origin_path", self._private_dir / "origin.sqlite3")
        self.origin_path = Path(settings["origin_path"])
        env = {**os.environ, **settings_env(settings)}
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prometheus_dir)
        command = [
            sys.executable, "-m", "uvicorn", f"{self.module}:app",
            "--host", HOST, "--port", str(self.port), "--workers", str(self.workers),
            "--no-access-log", "--log-level", "info",
        ]  # fmt: skip
        log_path = self.log_path or self._private_dir / "target.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._log_path = log_path
        try:
            self._wait_until_ready()
            if self.cpus:
                for process in self.processes():
                    process.cpu_affinity(self.cpus)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    log = self.log_tail()
                    failure = PortTaken if BIND_FAILED in log else RuntimeError
                    raise failure(f"target {self.strategy} exited with {self.proc.returncode}:\n{log}")
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200 and self._all_workers_up():
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"target {self.strategy} did not answer in {READY_TIMEOUT_S}s:\n{self.log_tail()}")

    def _all_workers_up(self) -> bool:
        # Our own log must say it listens: another process on the port (one that took it before
        # our bind) answers /healthz too. With several workers /healthz answers as soon as the
        # first is up; the others must have finished starting too before anything is measured.
        log = self._log_path.read_text(errors="replace")
        return LISTENING in log and log.count("Application startup complete") >= self.workers

    def processes(self) -> list[psutil.Process]:
        """The supervisor (when several workers) and every worker, for CPU and memory sampling."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        parent = psutil.Process(self.proc.pid)
        return [parent, *parent.children(recursive=True)]

    def log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    def __enter__(self) -> TargetProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ExternalTarget:
    """A service the user runs: measured over HTTP, with no process of ours to sample."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def processes(self) -> list[psutil.Process]:
        return []
