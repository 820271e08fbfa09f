"""What an L1 entry costs in memory: RSS growth per value byte, measured in a fresh interpreter.

Run as ``python -m cachebench.perf.entry_memory <entries>`` (``measure_memory`` does), it prints one
JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import subprocess
import sys

import psutil

MEMORY_REQUIREMENT = 1.3  # RSS growth per L1 value byte
MEMORY_ENTRY_COUNTS = "10000,50000"  # the default L1 size, and five times it


def memory_child(entries: int) -> None:
    """In a fresh interpreter: RSS growth of an L1Backend holding ``entries`` encoded items."""
    from cachebench.serve import codec
    from cachebench.serve.backends.l1_backend import L1Backend
    from cachebench.serve.origin import SEEDED_AT
    from cachebench.settings import Settings

    settings = Settings()
    rng = random.Random(settings.seed)
    backend = L1Backend(max_entries=entries + 1)  # + the warm-up entry
    process = psutil.Process()

    def seeded_item(item_id: int) -> codec.Item:
        # The origin's seeded shape: a hex payload of payload_bytes characters.
        payload = rng.randbytes((settings.payload_bytes + 1) // 2).hex()[: settings.payload_bytes]
        return codec.Item(item_id, 1, SEEDED_AT, f"item-{item_id}", payload)

    async def fill() -> int:
        value_bytes = 0
        for item_id in range(1, entries + 1):
            value = codec.encode(seeded_item(item_id))
            value_bytes += len(value)
            await backend.set(f"{settings.namespace}:item:{item_id}", value, settings.l1_ttl_s)
        return value_bytes

    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.set("warm-up", codec.encode(seeded_item(0)), settings.l1_ttl_s))
    gc.collect()
    rss_before = process.memory_info().rss
    value_bytes = loop.run_until_complete(fill())
    gc.collect()
    rss_after = process.memory_info().rss
    report = {
        "entries": backend.stats()["entries"] - 1,
        "value_bytes": value_bytes,
        "rss_delta_bytes": rss_after - rss_before,
    }
    print(json.dumps(report))


def measure_memory(entries: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "cachebench.perf.entry_memory", str(entries)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["ratio"] = report["rss_delta_bytes"] / report["value_bytes"]
    return report


if __name__ == "__main__":
    memory_child(int(sys.argv[1]))
