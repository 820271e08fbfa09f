"""Settings errors name the environment variable that holds the bad value."""

from __future__ import annotations

import pytest

from cachebench.settings import SettingsError, load_settings

# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "env_var"),
    [
        ({"namespace": "Bad!"}, "CACHEBENCH_NAMESPACE"),
        ({"namespace": ""}, "CACHEBENCH_NAMESPACE"),
        ({"namespace": "a" * 17}, "CACHEBENCH_NAMESPACE"),
        ({"l1_ttl_s": 0}, "CACHEBENCH_L1_TTL_S"),
        ({"l1_max_entries": 0}, "CACHEBENCH_L1_MAX_ENTRIES"),
        ({"l1_max_bytes": 0}, "CACHEBENCH_L1_MAX_BYTES"),
        ({"redis_timeout_s": -1}, "CACHEBENCH_REDIS_TIMEOUT_S"),
        ({"invalidation": "sometimes"}, "CACHEBENCH_INVALIDATION"),
        ({"ttl_jitter": 1}, "CACHEBENCH_TTL_JITTER"),
        ({"coalesce": "maybe"}, "CACHEBENCH_COALESCE"),
        ({"max_body_bytes": 10}, "CACHEBENCH_MAX_BODY_BYTES"),
        ({"backend": "no-colon"}, "CACHEBENCH_BACKEND"),
    ],
)
def test_settings_error_names_the_env_var(overrides: dict[str, object], env_var: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(**overrides)
    message = str(raised.value)
    assert "\n" not in message
    assert f"{env_var}=" in message or f"{env_var}:" in message, message


def test_settings_error_names_strategy_env_var() -> None:
    with pytest.raises(SettingsError, match="CACHEBENCH_STRATEGY"):
        load_settings(strategy="Not a target name!")


def test_settings_error_names_redis_url_env_var() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(redis_url=5)
    assert "CACHEBENCH_REDIS_URL" in str(raised.value)
    assert "CACHEBENCH_CACHEBENCH_" not in str(raised.value)


def test_settings_error_from_environment_shows_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEBENCH_ORIGIN_LATENCY_MS", "slow")
    monkeypatch.setenv("CACHEBENCH_INVALIDATION", "never")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "CACHEBENCH_ORIGIN_LATENCY_MS='slow'" in message
    assert "CACHEBENCH_INVALIDATION='never'" in message


def test_settings_redis_url_env_and_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CACHEBENCH_REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    assert load_settings().redis_url == "redis://:secret@127.0.0.1:1/0"
    monkeypatch.setenv("CACHEBENCH_REDIS_URL", "redis://:mine@127.0.0.1:2/0")
    settings = load_settings()
    assert settings.redis_url == "redis://:mine@127.0.0.1:2/0"  # the prefixed name wins
    assert "mine" not in str(settings.public_dump())
