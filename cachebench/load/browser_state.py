"""Browser caches that outlive a Locust process.

A service's clients keep their HTTP caches while the service runs; a Locust process starts its
users' caches empty. The runner starts a new Locust process for every cell and search step, so
without this every measured phase would open with browsers that had never read anything, and a
4 s cell under ``max-age=30`` answered only 12-14% of its reads locally. So each browser's
entries are saved when its process stops and loaded by the browser of the same identity
(process index and user number) in the next; measured with a 10 s max-age, the browsers then
answer 19-20% of reads locally and revalidate 5-6% more with a 304.

The runner names the folder through ``CLIENT_CACHE_DIR_ENV`` (one per session: another target's
versions and ETags mean nothing here). Entries are JSON, never pickle; freshness needs no fixing
up across processes, since it is read from each response's own ``Date`` and ``Cache-Control``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

CLIENT_CACHE_DIR_ENV = "CACHEBENCH_CLIENT_CACHE_DIR"

#: A browser identity as the scenarios name their users ("<process>-<user>"), nothing else.
_IDENTITY = re.compile(r"^[0-9]+-[0-9]+$")


def cache_file(folder: str | os.PathLike[str], identity: str) -> Path:
    if not _IDENTITY.match(identity):
        raise ValueError(f"not a browser identity: {identity!r}")
    return Path(folder) / f"browser-{identity}.json"


def save(path: Path, entries: list[dict[str, object]]) -> None:
    """Write ``entries`` (oldest first) whole or not at all: a process killed mid-write leaves the
    previous file, not half of one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"entries": entries}, separators=(",", ":")))
    os.replace(partial, path)


def load_all(folder: str | os.PathLike[str]) -> dict[str, list[dict[str, object]]]:
    """Every browser's saved entries in ``folder``, by identity."""
    saved = {}
    for path in Path(folder).glob("browser-*.json"):
        identity = path.stem.removeprefix("browser-")
        if _IDENTITY.match(identity):
            saved[identity] = load(path)
    return saved


def load(path: Path) -> list[dict[str, object]]:
    """The saved entries, oldest first; none for a browser seen for the first time or a file that
    cannot be read (the browser then starts empty, as a new one would)."""
    try:
        entries = json.loads(path.read_text()).get("entries")
    except (OSError, ValueError, AttributeError):
        return []
    return entries if isinstance(entries, list) else []
