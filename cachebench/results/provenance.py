"""Where a run's numbers come from: the measured code's hash, the git state, the machine, the versions."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil

from cachebench.results.folder import PROJECT_ROOT

CODE_DIRS = ("targets", "scenarios", "cachebench")
PACKAGES = (
    "fastapi", "starlette", "uvicorn", "redis", "hiredis", "cachetools", "locust",
    "prometheus_client", "pydantic", "msgspec", "hdrhistogram", "psutil",
)  # fmt: skip


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def code_hash(root: Path = PROJECT_ROOT) -> str:
    """SHA-256 over the measured code; runs with different hashes are not comparable."""
    digest = hashlib.sha256()
    for directory in CODE_DIRS:
        for path in sorted((root / directory).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, object]:
    status = _git("status", "--porcelain", "--", *CODE_DIRS)
    return {"commit": _git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def machine() -> dict[str, object]:
    cpu_model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "hostname": platform.node(),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found
