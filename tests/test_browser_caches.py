"""Browsers keep their HTTP caches from one Locust process to the next (browser_state)."""

from __future__ import annotations

import pytest
from test_scenarios import FAST_ORIGIN, run_locust

from cachebench.load import browser_state
from cachebench.load.browser_state import CLIENT_CACHE_DIR_ENV
from cachebench.results import BrowserCounts
from cachebench.run.processes.launcher import TargetProcess


def test_browsers_keep_their_caches_from_one_locust_process_to_the_next(tmp_path):
    caches = tmp_path / "browsers"
    caches.mkdir()
    env = {CLIENT_CACHE_DIR_ENV: str(caches)}
    with TargetProcess("client-headers", {**FAST_ORIGIN, "max_age_s": 60}) as target:
        runs = []
        for name in ("first", "second"):
            (tmp_path / name).mkdir()
            runs.append(run_locust("browser_clients", target.url, tmp_path / name, "--keys", "200",
                                   users=4, run_time="2s", env=env))  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.output[-3000:]
    assert sorted(p.name for p in caches.iterdir()) == [f"browser-0-{n}.json" for n in range(4)]
    # The second process's browsers answer locally items they never fetched in that process:
    # their copies came from the first.
    fetched: set[str] = set()
    carried_over = 0
    for _, item_id, _, outcome in sorted(runs[1].rows("reads"), key=lambda row: float(row[0])):
        if outcome == "client_local" and item_id not in fetched:
            carried_over += 1
        fetched.add(item_id)
    assert carried_over > 0

    def local_share(browser: BrowserCounts) -> float:
        return browser.client_local / (browser.client_local + browser.network + browser.not_modified)

    first, second = (local_share(run.latency.browser) for run in runs)
    assert second > first, (first, second)


def test_a_browser_cache_file_is_named_by_identity_and_an_unreadable_one_starts_empty(tmp_path):
    with pytest.raises(ValueError, match="identity"):
        browser_state.cache_file(tmp_path, "../0-1")
    path = browser_state.cache_file(tmp_path, "1-7")
    assert browser_state.load(path) == []  # never saved
    browser_state.save(path, [{"key": "k", "body": "{}"}])
    assert browser_state.load(path) == [{"key": "k", "body": "{}"}]
    assert [p.name for p in tmp_path.iterdir()] == ["browser-1-7.json"]  # no partial file left
    path.write_text('{"entries": [')  # cut short
    assert browser_state.load(path) == []
