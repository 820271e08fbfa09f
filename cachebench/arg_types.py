"""Argument types shared by the ``cachebench`` subcommands: each names the bad value it refuses."""

from __future__ import annotations

import argparse
import ipaddress
from urllib.parse import urlsplit


def assignment(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, not {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def names(text: str) -> list[str]:
    """A comma-separated list: ``l1,redis`` -> ``["l1", "redis"]``."""
    return [name.strip() for name in text.split(",") if name.strip()]


def is_loopback_url(url: str | None) -> bool:
    """Whether ``url`` names this machine: localhost or a loopback address, never a look-alike name.

    Every load loop checks its URL here, so "load stays on this machine" is decided in one place;
    a prefix test would let ``http://127.example.com`` or ``http://localhost.example.com`` through.
    """
    try:
        name = urlsplit(url or "").hostname or ""
    except ValueError:  # e.g. an unclosed "[" in the host
        return False
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
