"""Load goes to this machine only: one check decides it for --url, keep-warm and trace replay."""

from __future__ import annotations

import pytest

from cachebench.arg_types import is_loopback_url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.1.2.3", "http://localhost:80/x", "http://[::1]:8000"]
)
def test_loopback_addresses_and_localhost_are_this_machine(url):
    assert is_loopback_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.example.com",  # a name that starts like a loopback address
        "http://localhost.example.com",
        "http://10.0.0.1:8000",
        "http://[::2]",
        "http://[::1",  # not a URL at all
        "",
        None,
    ],
)
def test_anything_else_is_not(url):
    assert not is_loopback_url(url)


def test_the_run_command_refuses_a_look_alike_name():
    from cachebench.run.matrix import BenchFileError, load_matrix

    with pytest.raises(BenchFileError, match="127.example.com"):
        load_matrix(None, {}, external_url="http://127.example.com:8000")
