"""The ``cachebench`` command: one small function per subcommand, errors as one ``error:`` line.

cachebench serve STRATEGY [--port N] [--workers N] [--set NAME=VALUE ...]
cachebench verify [STRATEGY ...] [--url URL] [--workers N]
cachebench run [--bench FILE | --quick] [--targets ...] [--scenario ...] [--duration S] [--users N]
               [--rate R] [--repeat N] [--workers N] [--url URL]
cachebench report [RUN_DIR]
cachebench compare RUN_A RUN_B
cachebench sweep [--simulate] [--max-staleness 5s --max-memory 256MB --min-hit-ratio 0.9 ...]
cachebench schema [FILE] [--check RUN_DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape

from cachebench import arg_types as argtypes
from cachebench.cli.report_command import add_parsers as add_report_parsers
from cachebench.cli.schema_command import add_parsers as add_schema_parsers
from cachebench.cli.sweep_command import add_parsers as add_sweep_parsers
from cachebench.run.processes.children import HOST
from cachebench.run.processes.launcher import TargetProcess
from cachebench.run.processes.redis_server import RedisServer
from cachebench.run.verify.verification import FAIL, PASS, WARN, CheckResult, verify
from cachebench.settings import Settings, SettingsError, load_settings
from targets import TARGETS, default_targets, find_target

DEFAULT_PORT = 8000
#: Fast origin for verification runs: the checks are about behaviour, not speed.
VERIFY_SETTINGS: dict[str, object] = {"origin_latency_ms": 1, "origin_jitter_ms": 0}
SERVE_POLL_S = 0.5
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class Stopped(KeyboardInterrupt):
    """SIGTERM: stop what we started, as Ctrl-C does. A KeyboardInterrupt, so that every handler
    of Ctrl-C handles it too: as a plain Exception, the runner took it for a session that failed
    to start, marked that session's cells failed and went on to the next one."""


def raise_stopped(signum: int, frame: object) -> None:
    raise Stopped


# -- argument helpers ------------------------------------------------------------------------


def _settings_from(assignments: list[tuple[str, str]]) -> dict[str, object]:
    valid = [name for name in Settings.model_fields if name != "strategy"]
    settings: dict[str, object] = {}
    for name, value in assignments:
        if name == "strategy":
            raise ValueError("give the strategy as the first argument, not with --set")
        if name not in valid:
            raise ValueError(f"unknown setting {name!r} in --set; valid names: {', '.join(valid)}")
        settings[name] = value
    return settings


def _redis_url_given(settings: dict[str, object]) -> str | None:
    return (
        str(settings.get("redis_url") or "")
        or os.environ.get("CACHEBENCH_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or None
    )


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise ValueError(
                f"cannot listen on {HOST}:{port} ({exc.strerror}); pick another with --port"
            ) from None


@contextlib.contextmanager
def _private_redis(needed: bool) -> Iterator[RedisServer | None]:
    """A private redis-server for the block when ``needed``; None otherwise."""
    if not needed:
        yield None
        return
    with RedisServer() as server:
        yield server


# -- serve -----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    row = find_target(args.strategy)
    settings = _settings_from(args.set)
    validated = load_settings(strategy=args.strategy, **settings)  # before anything starts
    if args.strategy == "custom" and validated.backend is None:
        raise ValueError("strategy custom needs --set backend=package.module:Class")
    port = args.port or DEFAULT_PORT
    _check_port_free(port)
    own_redis = row.needs_redis and _redis_url_given(settings) is None
    with _private_redis(own_redis) as redis_server:
        if redis_server is not None:
            settings["redis_url"] = redis_server.url
        with TargetProcess(args.strategy, settings, workers=args.workers, port=port) as target:
            workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
            print(f"cachebench: {args.strategy} serving on {target.url} ({workers})")
            if redis_server is not None:
                print(f"  redis: private redis-server (pid {redis_server.pid}) on {HOST}:{redis_server.port}")
            print(f"  try:   curl {target.url}/items/1   ({target.url}/healthz, {target.url}/metrics)")
            print(f"  stop:  Ctrl-C, or kill {os.getpid()}", flush=True)
            try:
                while target.proc is not None and target.proc.poll() is None:
                    time.sleep(SERVE_POLL_S)
            except KeyboardInterrupt:
                print("cachebench: stopping", flush=True)
                return 0
            raise RuntimeError(f"target {args.strategy} exited on its own:\n{target.log_tail()}")


# -- verify ----------------------------------------------------------------------------------


class _Printer:
    """One line per check; rich colours on a terminal, plain text otherwise."""

    STYLES = {PASS: "green", WARN: "yellow", FAIL: "bold red"}

    def __init__(self) -> None:
        self.console = Console(highlight=False, soft_wrap=True) if sys.stdout.isatty() else None
        self.counts = {PASS: 0, WARN: 0, FAIL: 0}

    def line(self, text: str) -> None:
        if self.console is not None:
            self.console.print(escape(text))
        else:
            print(text, flush=True)

    def for_strategy(self, strategy: str) -> Callable[[CheckResult], None]:
        def report(result: CheckResult) -> None:
            self.counts[result.status] += 1
            label = result.status.upper()
            rest = f"  {strategy:<14}  {result.name:<27}  {result.reason}"
            if self.console is not None:
                self.console.print(f"[{self.STYLES[result.status]}]{label}[/]{escape(rest)}")
            else:
                print(label + rest, flush=True)

        return report

    def summary(self, strategies: Sequence[str]) -> None:
        total = sum(self.counts.values())
        self.line(
            f"verify: {total} checks over {len(strategies)} target{'s' if len(strategies) != 1 else ''}"
            f" ({', '.join(strategies)}): {self.counts[PASS]} passed, {self.counts[WARN]} warned,"
            f" {self.counts[FAIL]} failed"
        )


def _verify_settings(redis_url: str | None, external_redis: bool) -> dict[str, object]:
    settings = dict(VERIFY_SETTINGS)
    if redis_url is not None:
        settings["redis_url"] = redis_url
    if external_redis:
        # Somebody else's Redis: our own key prefix, so we neither read nor clobber their keys.
        settings["namespace"] = f"verify{secrets.token_hex(3)}"
    return settings


def cmd_verify(args: argparse.Namespace) -> int:
    for strategy in args.strategies:
        find_target(strategy)
    printer = _Printer()
    if args.url:
        if len(args.strategies) > 1:
            raise ValueError("with --url give at most one strategy (what the service should be)")
        strategy = args.strategies[0] if args.strategies else None
        label = _label_from(args.url, strategy)
        verify(args.url, strategy, strict=False, workers=args.workers, report=printer.for_strategy(label))
        printer.summary([label])
        return 1 if printer.counts[FAIL] else 0
    strategies = list(dict.fromkeys(args.strategies)) or default_targets()
    external = _redis_url_given({})
    needs_redis = any(TARGETS[s].needs_redis for s in strategies)
    with _private_redis(needs_redis and external is None) as redis_server:
        redis_url = redis_server.url if redis_server is not None else external
        for strategy in strategies:
            if redis_server is not None:
                redis_server.flushall()  # each target starts from an empty cache
            workers = args.workers or TARGETS[strategy].verify_workers
            settings = _verify_settings(redis_url, external is not None)
            with TargetProcess(strategy, settings, workers=workers) as target:
                verify(target.url, strategy, workers=workers, report=printer.for_strategy(strategy))
    printer.summary(strategies)
    return 1 if printer.counts[FAIL] else 0


def _label_from(url: str, strategy: str | None) -> str:
    if strategy:
        return strategy
    with contextlib.suppress(httpx.HTTPError, ValueError):
        reported = httpx.get(f"{url.rstrip('/')}/healthz", timeout=5).json().get("strategy")
        if isinstance(reported, str) and reported:
            return reported
    return "unknown"


# -- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cachebench", description="Benchmark caching strategies for FastAPI."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run one target until Ctrl-C",
        description="Run one target; with a private redis-server if it needs Redis and REDIS_URL is unset.",
    )
    serve.add_argument("strategy", metavar="STRATEGY", help=f"one of {', '.join(TARGETS)}")
    serve.add_argument(
        "--port", type=argtypes.port, default=None, help=f"port on {HOST} (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--workers", type=argtypes.positive_int, default=1, help="uvicorn worker processes (default 1)"
    )
    serve.add_argument(
        "--set",
        type=argtypes.assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting, e.g. --set l1_ttl_s=5 --set invalidation=version (repeatable)",
    )
    serve.set_defaults(func=cmd_serve)

    check = commands.add_parser(
        "verify",
        help="check targets (or a running service) against the HTTP contract",
        description="Start each target and check it against the HTTP contract; exit 1 if any check fails.",
    )
    check.add_argument(
        "strategies",
        nargs="*",
        metavar="STRATEGY",
        help=f"any of {', '.join(TARGETS)} (default: {', '.join(default_targets())})",
    )
    check.add_argument("--url", help="check an already running service instead of starting targets")
    check.add_argument(
        "--workers",
        type=argtypes.positive_int,
        default=None,
        help="workers per target (default: 2 for hierarchical, 1 otherwise); with --url, how many serve it",
    )
    check.set_defaults(func=cmd_verify)
    _add_run_parser(commands)
    add_report_parsers(commands)
    add_sweep_parsers(commands)
    add_schema_parsers(commands)
    return parser


# -- run -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from cachebench.run.driver import run_bench
    from cachebench.run.matrix import BENCH_DIR, load_matrix

    bench_file = BENCH_DIR / "quick.toml" if args.quick else (args.bench or BENCH_DIR / "default.toml")
    overrides: dict[str, object] = {
        "targets": args.targets, "scenarios": args.scenario, "duration_s": args.duration,
        "repeat": args.repeat, "workers": args.workers, "label": args.label,
    }  # fmt: skip
    matrix = load_matrix(bench_file, overrides, external_url=args.url)
    if args.rate is not None or args.users is not None:
        matrix = matrix.with_load(users=args.users, offered_rate_per_s=args.rate)
    run_dir = run_bench(matrix, external_url=args.url)
    return 0 if _run_status(run_dir) == "complete" else 1


def _run_status(run_dir) -> str:
    from cachebench.results import read_manifest

    return read_manifest(run_dir).status


def _add_run_parser(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run the benchmark matrix into a results folder",
        description="Run a bench file's matrix (default bench/default.toml); flags override the file.",
    )
    source = run.add_mutually_exclusive_group()
    source.add_argument("--bench", type=Path, help="bench file (TOML)")
    source.add_argument("--quick", action="store_true", help="the smoke matrix (bench/quick.toml), < 1 min")
    run.add_argument("--targets", type=argtypes.names, help="comma-separated strategies")
    run.add_argument("--scenario", type=argtypes.names, help="comma-separated scenarios")
    run.add_argument("--duration", type=argtypes.positive_float, help="measured seconds per cell")
    run.add_argument("--users", type=argtypes.positive_int, help="Locust users (closed loop unless --rate)")
    run.add_argument(
        "--rate", type=argtypes.positive_float, help="offered rate, req/s of all users (an open loop)"
    )
    run.add_argument("--repeat", type=argtypes.positive_int, help="repetitions of every cell")
    run.add_argument("--workers", type=argtypes.positive_int, help="uvicorn workers per target")
    run.add_argument("--label", help="name suffix of the results folder")
    run.add_argument("--url", help="measure an already running service (no processes started)")
    run.set_defaults(func=cmd_run)


def _one_line(exc: BaseException) -> str:
    """The first line of the message as the error; any further lines (a log tail) indented below it."""
    first, _, rest = str(exc).partition("\n")
    text = f"error: {first or type(exc).__name__}"
    if rest.strip():
        text += "\n" + "\n".join(f"  | {line}" for line in rest.strip().splitlines())
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    previous = signal.signal(signal.SIGTERM, raise_stopped)
    # Also when started with SIGINT ignored (``cmd &`` in a script): Ctrl-C / kill -INT must stop us.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return args.func(args)
    except (SettingsError, ValueError, RuntimeError) as exc:
        print(_one_line(exc), file=sys.stderr)
        return EXIT_ERROR
    except httpx.HTTPError as exc:
        where = f" ({exc.request.url})" if _has_request(exc) else ""
        print(f"error: {type(exc).__name__}{where}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` or similar that stopped reading: nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error carries no request
    except RuntimeError:
        return False
    return True
