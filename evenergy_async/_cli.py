"""The ``evenergy-async`` command (also ``python -m evenergy_async``).

``harvest`` pulls vehicle logs into one JSONL file per kind, resumable from a state file;
``demo`` runs the same harvest end to end against the embedded simulator.
Credentials come from the environment only and are never printed.

Every failure a user can cause or meet ends in one line on stderr and a documented exit
code (:data:`EXIT_CODES`); a traceback is shown only with ``--debug`` (or ``EVENERGY_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import hashlib
import importlib.util
import itertools
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from . import _cli_observe
from ._converter import parse_timestamp
from ._harvest import (
    DatabaseError,
    Harvester,
    HarvestReport,
    JsonlSink,
    LogKind,
    MemoryStateStore,
    PostgresSink,
    PostgresStateStore,
    SQLiteStateStore,
    VehicleFailure,
)
from ._harvest._budget import BudgetReserveError
from ._harvest._credentials import (
    CredentialsFile,
    CredentialsFileError,
    CredentialsInUseError,
    CredentialsStoreError,
    is_utf8,
)
from ._harvest._postgres import DEFAULT_SCHEMA, _check_schema, is_database_url, redact_dsn
from ._harvest._sinks import SinkError, UnknownOutputError

if TYPE_CHECKING:
    from ._harvest import HarvestPlan

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1  # some vehicle (or a token's vehicle listing) failed
EXIT_USAGE = 2  # bad arguments, bad or missing credentials in the environment, wrong base URL
EXIT_INCOMPLETE = 3  # no failure, but work is parked until a token's budget returns
EXIT_CREDENTIALS = 4  # the API (or its token endpoint) rejected the credentials
EXIT_UNREACHABLE = 5  # no connection to the API (refused, DNS, TLS, or nothing answered for a while)
EXIT_LOCAL = 6  # the output directory, the state file, the database or another local file cannot be used
EXIT_INTERNAL = 70  # a bug: please report it
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); 143 for SIGTERM
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141  # stdout was closed early (e.g. piped into head), as a shell reports SIGPIPE

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "done: everything asked for was harvested"),
    (EXIT_FAILED, "some vehicles failed (listed in the report); run again to retry them"),
    (EXIT_USAGE, "usage error: bad option, credentials missing or malformed, wrong --base-url"),
    (EXIT_INCOMPLETE, "incomplete: a token's budget is spent and its work is parked; run again later"),
    (EXIT_CREDENTIALS, "credentials rejected by the API: check EVENERGY_TOKEN or the client id/secret"),
    (EXIT_UNREACHABLE, "API unreachable (refused, DNS, TLS, or no answer for a while); run again"),
    (
        EXIT_LOCAL,
        "output or state problem: directory or state file unusable, disk full, database refused or failed, "
        "output not matching the state",
    ),
    (EXIT_INTERNAL, "internal error, please report it (--debug shows the traceback)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C; 143 for SIGTERM): state committed, run again to continue"),
    (EXIT_BROKEN_PIPE, "stdout closed early (e.g. piped into head); the run itself finished"),
)

ENV_TOKEN = "EVENERGY_TOKEN"
ENV_CLIENT_ID = "EVENERGY_CLIENT_ID"
ENV_CLIENT_SECRET = "EVENERGY_CLIENT_SECRET"
ENV_BASE_URL = "EVENERGY_BASE_URL"
ENV_DEBUG = "EVENERGY_DEBUG"
ENV_DATABASE_URL = "EVENERGY_DATABASE_URL"

PROG = "evenergy-async"
MIN_PROGRESS_INTERVAL = 0.1
MAX_CONCURRENCY = 1000


class CLIError(Exception):
    """A failure with its exit code; the message is the one line the user sees."""

    code = EXIT_INTERNAL

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CLIError):
    code = EXIT_USAGE


# -- argument parsing ------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _timestamp(value: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or an RFC 3339 timestamp (naive means UTC)."""
    text = value.strip()
    try:
        if not text or not text[0].isdigit():
            raise ValueError(text)
        dt = parse_timestamp(text).astimezone(UTC)  # the converter's reading of the API's timestamps
        if dt.year < 1970:
            raise ValueError(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"not a date or timestamp: {value!r} (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None
    return dt


def _kinds(value: str) -> tuple[LogKind, ...]:
    try:
        return LogKind.parse_list(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard(value: str) -> tuple[int, int]:
    try:
        index_s, count_s = value.split("/")
        index, count = int(index_s), int(count_s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants I/N with 0 <= I < N, e.g. 0/4; got {value!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"wants I/N with 0 <= I < N, e.g. 0/4; got {value!r}")
    return index, count


def _int_range(low: int, high: int | None) -> Any:
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
        if n < low or (high is not None and n > high):
            raise argparse.ArgumentTypeError(
                f"must be {low}..{high}, got {n}" if high is not None else f"must be >= {low}, got {n}"
            )
        return n

    return parse


def _seconds_at_least(low: float) -> Any:
    def parse(value: str) -> float:
        try:
            n = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
        if not math.isfinite(n):
            raise argparse.ArgumentTypeError(f"must be a finite number of seconds, got {value!r}")
        if n < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g} seconds, got {value}")
        return n

    return parse


_seconds = _seconds_at_least(0.0)
_positive_int = _int_range(1, None)


def _exit_code_table() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"show a traceback on an internal error (also {ENV_DEBUG}=1)",
    )


def _add_harvest_options(p: argparse.ArgumentParser, *, demo: bool) -> None:
    p.add_argument(
        "--kinds",
        type=_kinds,
        default=(LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND),
        help="comma-separated log kinds: status,location,command,error (default: status,location,command)",
    )
    p.add_argument("--since", type=_timestamp, help="oldest timestamp to fetch, e.g. 2026-11-01 (UTC)")
    p.add_argument("--until", type=_timestamp, help="newest timestamp to fetch (default: the run's start time)")
    p.add_argument(
        "--concurrency",
        type=_int_range(1, MAX_CONCURRENCY),
        default=32,
        help=f"requests in flight overall, 1..{MAX_CONCURRENCY} (default 32)",
    )
    p.add_argument(
        "--per-token",
        type=_int_range(1, MAX_CONCURRENCY),
        default=8,
        dest="per_token",
        help="requests in flight per token (default 8)",
    )
    p.add_argument(
        "--page-size", type=_int_range(1, 100), default=100, dest="page_size", help="records per page, 1..100 (default 100)"
    )
    p.add_argument("--overlap", type=_seconds, default=600.0, help="seconds re-read below the watermark (default 600)")
    p.add_argument(
        "--budget-reserve",
        type=_int_range(0, None),
        default=0,
        dest="budget_reserve",
        help="requests of each token's hourly budget left unused, e.g. for your app's own calls on "
        "behalf of its users (default 0); a token down to it waits like a spent one (--max-park)",
    )
    p.add_argument(
        "--max-park",
        type=_seconds,
        default=3600.0,
        dest="max_park",
        help="wait at most this long for a token whose budget is spent; beyond it, its work is "
        "left for the next run (default 3600)",
    )
    p.add_argument(
        "--unreachable-after",
        type=_seconds_at_least(1.0),
        default=30.0,
        dest="unreachable_after",
        help="stop (state committed, exit code 5) when the API has not answered for this many seconds "
        "and the failures are connection-level (default 30)",
    )
    p.add_argument(
        "--progress-interval",
        type=_seconds_at_least(MIN_PROGRESS_INTERVAL),
        dest="progress_interval",
        help=f"seconds between progress updates, at least {MIN_PROGRESS_INTERVAL:g} "
        "(default 0.5 on a terminal, 10 otherwise)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--verbose", "-v", action="store_true", help="progress per token too")
    p.add_argument("--json", action="store_true", help="print the final report as JSON on stdout")
    _cli_observe.add_arguments(p)
    _add_common(p)
    if not demo:
        p.add_argument(
            "--out",
            help="output directory (one JSONL file per kind), or a postgresql:// URL (one table per kind); "
            f"default: ${ENV_DATABASE_URL} when set",
        )
        p.add_argument(
            "--state",
            help="state: a SQLite file (default OUT/harvest-state.sqlite) or a postgresql:// URL "
            "(default: the --out database)",
        )
        p.add_argument(
            "--schema",
            default=DEFAULT_SCHEMA,
            help=f"PostgreSQL schema of the tables and the state (default {DEFAULT_SCHEMA}; created on first use)",
        )
        p.add_argument(
            "--base-url",
            dest="base_url",
            help=f"API base URL (default ${ENV_BASE_URL}, else https://api.ev.energy/v2)",
        )
        p.add_argument(
            "--plan", action="store_true", help="print the forecast (requests, records, time) and exit; writes nothing"
        )
        p.add_argument(
            "--shard",
            type=_shard,
            help="take shard I of N of the vehicles (a stable hash of the ID); shards share a database "
            "--out/--state, or each has its own directory and state file",
        )
        p.add_argument(
            "--credentials",
            metavar="FILE",
            dest="credentials_file",
            help="JSON Lines file of user credentials, one object a line: "
            '{"access_token": ...} or {"refresh_token": ..., "access_token": ..., "expires_at": ...} '
            f"(the last two optional; refresh tokens use {ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}), each with an "
            'optional "label"; blank and # lines skipped. Read lazily; rotated refresh tokens are journaled to '
            f"FILE.rotations before use and folded into FILE at the end. Takes the place of {ENV_TOKEN}",
        )
        p.add_argument("--vehicle", action="append", default=[], help="a vehicle ID to harvest (repeatable)")
        p.add_argument("--vehicles-file", dest="vehicles_file", help="file with one vehicle ID per line ('-': stdin)")
        p.add_argument(
            "--retry-after-cap",
            type=_seconds,
            default=60.0,
            dest="retry_after_cap",
            help="longest Retry-After the client waits itself; longer ones park the token (default 60)",
        )


def _version() -> str:
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    epilog = _exit_code_table()
    parser = _Parser(
        prog=PROG,
        description="ev.energy v2 API tools: a resumable bulk log harvester and a demo against the simulator.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help=f"show a traceback on an internal error (also {ENV_DEBUG}=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    harvest = sub.add_parser(
        "harvest",
        help="harvest vehicle logs into JSONL files or PostgreSQL (resumable)",
        description=(
            "Harvest vehicle logs into OUT/<kind>_logs.jsonl, one record per line with its vehicle_id, "
            "or, with --out postgresql://..., into the tables <schema>.<kind>_logs. "
            f"Credentials from the environment: {ENV_TOKEN} (one or more comma-separated user tokens, "
            "each optionally labelled as label=token), or "
            f"{ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}; the database URL may come from {ENV_DATABASE_URL} "
            "(or leave the password out of the URL and set PGPASSWORD). Running it again continues where "
            "the last run stopped (exactly once, via the state)."
        ),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_harvest_options(harvest, demo=False)
    demo = sub.add_parser(
        "demo",
        help="start the embedded simulator and harvest from it end to end",
        description="Start the simulator on a free loopback port and harvest all of its vehicles' logs.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--vehicles", type=_int_range(0, 100_000), default=300, help="vehicles in the simulator (default 300)")
    demo.add_argument("--users", type=_int_range(1, 1000), default=3, help="users (one token each; default 3)")
    demo.add_argument("--logs", type=_int_range(0, 1_000_000), default=50, help="logs per vehicle and kind (default 50)")
    demo.add_argument("--seed", type=_int_range(0, 2**63 - 1), default=0)
    demo.add_argument("--latency", type=_seconds, default=0.0, help="simulated seconds per request (default 0)")
    demo.add_argument("--out", help="output directory (default: a temporary one, removed unless --keep)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary output directory")
    _add_harvest_options(demo, demo=True)
    return parser


# -- credentials -------------------------------------------------------------------------

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", re.ASCII)
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+", re.ASCII)  # visible ASCII: no spaces, no control characters


def token_label(secret: str, prefix: str = "tok") -> str:
    """A stable label for a credential that does not reveal it: a short hash."""
    return f"{prefix}-{hashlib.sha256(secret.encode()).hexdigest()[:8]}"


def _split_entry(entry: str, index: int) -> tuple[str | None, str]:
    """``label=token`` or a bare ``token`` (RFC 6750 tokens have ``=`` only as trailing padding)."""
    label, sep, rest = entry.partition("=")
    if not sep or not rest.strip("="):
        return None, entry
    label = label.strip()
    if not _LABEL.fullmatch(label):
        raise UsageError(
            f"{ENV_TOKEN} entry {index}: a label (before '=') must be letters, digits, '.', '_' or '-', "
            "at most 40 characters"
        )
    return label, rest.strip()


def credentials_from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Label -> credential from the environment (never printed).

    ``EVENERGY_TOKEN`` holds comma-separated tokens, each ``label=token`` or a bare token
    (labelled ``tok-`` plus a short hash of it); or ``EVENERGY_CLIENT_ID`` and
    ``EVENERGY_CLIENT_SECRET`` (labelled ``app-`` plus a short hash of the client ID).
    """
    from ._auth import BearerToken, ClientCredentials

    env = dict(os.environ) if env is None else env
    raw = env.get(ENV_TOKEN)
    if raw is not None and raw.strip():
        entries = [e.strip() for e in raw.split(",")]
        entries = [e for e in entries if e]
        if not entries:
            raise UsageError(f"{ENV_TOKEN} is set but holds no token (only commas or spaces)")
        creds: dict[str, Any] = {}
        seen: set[str] = set()
        for index, entry in enumerate(entries, 1):
            label, token = _split_entry(entry, index)
            if not token:
                raise UsageError(f"{ENV_TOKEN} entry {index} has a label but no token")
            if not _TOKEN_CHARS.fullmatch(token):
                raise UsageError(f"{ENV_TOKEN} entry {index} contains spaces or control characters: not a token")
            if token in seen:
                raise UsageError(f"{ENV_TOKEN} entry {index} repeats an earlier token: give each token once")
            seen.add(token)
            label = label or token_label(token)
            if label in creds:
                raise UsageError(f"{ENV_TOKEN} entry {index}: the label {label!r} is used twice")
            creds[label] = BearerToken(token)
        return creds
    client_id = env.get(ENV_CLIENT_ID, "").strip()
    secret = env.get(ENV_CLIENT_SECRET, "").strip()
    if client_id and secret:
        if not _TOKEN_CHARS.fullmatch(client_id) or not _TOKEN_CHARS.fullmatch(secret):
            raise UsageError(f"{ENV_CLIENT_ID}/{ENV_CLIENT_SECRET} contain spaces or control characters")
        return {token_label(client_id, "app"): ClientCredentials(client_id, secret)}
    if client_id or secret:
        raise UsageError(f"set both {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}")
    if raw is not None:
        raise UsageError(f"{ENV_TOKEN} is empty: set it to a token, or set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}")
    raise UsageError(f"no credentials: set {ENV_TOKEN}, or {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}")


def _check_vehicle_id(value: str, where: str) -> str:
    from ._sansio import validate_id

    try:
        return validate_id("vehicle", value)
    except ValueError:
        raise UsageError(f"{where}: {value[:60]!r} is not a vehicle ID (they look like vhcl + 26 letters/digits)") from None


def _vehicle_lines(path: str, stream: TextIO) -> Iterator[str]:
    """Vehicle IDs from an open file, read lazily (blank lines and # comments skipped)."""
    with stream if path != "-" else contextlib.nullcontext(stream):
        for number in itertools.count(1):
            line = stream.readline(_MAX_ID_LINE + 1)  # bounded: a file with no line end is not read whole
            if not line:
                return
            if len(line) > _MAX_ID_LINE:
                raise UsageError(f"--vehicles-file {path} line {number}: longer than {_MAX_ID_LINE:,} characters")
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]  # a byte order mark (Notepad, PowerShell 5; stdin too) is no part of an ID
            text = line.split("#", 1)[0].strip()  # a comment in another encoding is still a comment
            if text and not is_utf8(text):
                raise UsageError(f"--vehicles-file {path} line {number}: not UTF-8 text")
            if text:
                yield _check_vehicle_id(text, f"--vehicles-file {path} line {number}")


_MAX_ID_LINE = 4096  # a vehicle ID is 30 characters; a comment may follow it


def _open_vehicles_file(path: str) -> TextIO:
    # bytes that are not UTF-8 are kept as surrogates, so that _vehicle_lines names their line
    if path == "-":
        reconfigure = getattr(sys.stdin, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")  # a UTF-8 locale's stdin is strict
        return sys.stdin
    try:
        return open(path, encoding="utf-8", errors="surrogateescape")  # read lazily; closed by _vehicle_lines
    except OSError as exc:
        raise UsageError(f"cannot read --vehicles-file {path}: {exc.strerror or exc}") from None


# -- base URL -----------------------------------------------------------------------------


def _base_url(args: argparse.Namespace) -> str:
    from yarl import URL

    from ._sansio import DEFAULT_BASE_URL, check_base_url

    given = args.base_url if args.base_url is not None else os.environ.get(ENV_BASE_URL, "").strip() or None
    text = given or DEFAULT_BASE_URL
    source = "--base-url" if args.base_url is not None else ENV_BASE_URL
    try:
        url = URL(text)
    except (ValueError, TypeError):
        raise UsageError(f"{source} {text!r} is not a URL (e.g. https://api.ev.energy/v2)") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{source} {text!r} is not an http(s) URL with a host (e.g. https://api.ev.energy/v2)")
    try:
        check_base_url(url)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None
    return text


def _v2_hint(base_url: str) -> str:
    from yarl import URL

    url = URL(base_url)
    path = url.path.rstrip("/")
    if path.endswith("/v2"):
        return "is it the API's base URL?"
    return f"did you mean {url.with_path(path + '/v2')}?"


# -- progress ------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _count(n: int) -> str:
    if n < 100_000:
        return f"{n:,}"
    if n < 10_000_000:
        return f"{n / 1000:,.0f}k"
    return f"{n / 1_000_000:,.1f}M"


def eta_seconds(report: HarvestReport, plan: HarvestPlan | None, *, parked: bool) -> float | None:
    """Seconds left: from the forecast at first, then from the rate so far (None: unknown)."""
    if parked:
        return None
    elapsed = report.elapsed
    # two views of the share done: requests against the forecast's (trusted while the run
    # stays below it), and finished partitions once all of them are known; both if both
    fractions: list[float] = []
    expected = plan.total_requests if plan is not None else 0
    done_requests = report.requests
    if expected > 0 and done_requests < expected:
        fractions.append(done_requests / expected)
    exhausted = all(t.input_exhausted for t in report.tokens.values())
    finished = report.partitions_done + report.partitions_failed
    if exhausted and report.partitions_total:
        fractions.append(finished / report.partitions_total)
    fraction = sum(fractions) / len(fractions) if fractions else 0.0
    if plan is not None and (done_requests < 8 or elapsed < 1.0 or fraction <= 0):
        left = plan.estimated_seconds - elapsed
        if left > 0 or fraction <= 0:
            return max(0.0, left)  # the forecast's, until the run has a rate of its own
    if fraction <= 0 or elapsed <= 0:
        return None
    return elapsed * (1 - fraction) / fraction


def progress_lines(
    report: HarvestReport,
    *,
    parked: Sequence[str] = (),
    plan: HarvestPlan | None = None,
    width: int = 80,
    verbose: bool = False,
) -> list[str]:
    """The progress display: one line that fits ``width`` (plus one per token with ``verbose``)."""
    exhausted = all(t.input_exhausted for t in report.tokens.values())
    total = report.partitions_total
    if not exhausted and plan is not None:
        total = max(total, sum(t.partitions for t in plan.tokens))
    more = "" if exhausted or (plan is not None and total > report.partitions_total) else "+"
    eta = eta_seconds(report, plan, parked=bool(parked))
    eta_text = "parked" if parked else ("?" if eta is None else _duration(eta))
    budgets = [(t.budget_remaining, t.budget_limit) for t in report.tokens.values() if t.budget_remaining is not None]
    low = min(budgets, default=None, key=lambda b: b[0] or 0)
    kinds = " ".join(f"{k.value} {_count(report.records.get(k.value, 0))}" for k in report.kinds)
    # (priority, text): lower priority numbers are kept first when the width is short
    segments: list[tuple[int, str]] = [
        (0, f"{_duration(report.elapsed):>6}"),
        (1, f"{_count(report.records_total)} records"),
        (9, f"({kinds})"),
        (3, f"{report.partitions_done + report.partitions_failed}/{total}{more} parts"),
        (5, f"{_count(report.http_requests)} req"),
    ]
    if report.retries:
        segments.append((8, f"{_count(report.retries)} retries"))
    if low is not None:
        segments.append((7, f"budget {low[0]}/{low[1] if low[1] is not None else '?'}"))
    if report.partitions_failed or report.failures:
        segments.append((4, f"{len(report.failures)} failed"))
    if parked:  # names while they fit a line; a fleet's backfill parks thousands
        names = ",".join(parked) if len(parked) <= 3 else f"{len(parked):,} tokens"
        segments.append((4, f"parked: {names}"))
    segments.append((2, f"ETA {eta_text}"))
    keep: set[int] = set()
    used = 0
    for index in sorted(range(len(segments)), key=lambda i: segments[i][0]):
        text = segments[index][1]
        extra = len(text) + (2 if keep else 0)
        if used + extra <= width or not keep:
            keep.add(index)
            used += extra
    line = "  ".join(text for i, (_, text) in enumerate(segments) if i in keep)
    lines = [line[:width]]
    if verbose:
        for name, tok in report.tokens.items():
            budget = f"{tok.budget_remaining}/{tok.budget_limit}" if tok.budget_remaining is not None else "?"
            state = f" parked until {tok.parked_until:%H:%M:%S}Z" if tok.parked_until is not None else ""
            text = (
                f"  {name}: {tok.vehicles} vehicles, {tok.partitions_done + tok.partitions_failed}/{tok.partitions} "
                f"parts, {_count(tok.records)} records, {_count(tok.requests)} req, budget {budget}{state}"
            )
            lines.append(text[:width])
    return lines


def _terminal_width(stream: TextIO) -> int:
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return shutil.get_terminal_size().columns


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError, AttributeError):
        return False


class Progress:
    """Redraws in place on a terminal (``\\r`` and clear-to-end-of-line, fitted to its width);
    prints plain periodic lines otherwise. A closed stream stops it quietly."""

    def __init__(
        self,
        harvester: Harvester,
        stream: TextIO,
        *,
        interval: float | None,
        verbose: bool,
        plan: HarvestPlan | None = None,
    ) -> None:
        self.harvester = harvester
        self.stream = stream
        self.tty = _isatty(stream)
        self.every = interval if interval is not None else (0.5 if self.tty else 10.0)
        self.verbose = verbose
        self.plan = plan
        self._drawn = 0
        self._broken = False

    def render(self) -> list[str]:
        width = _terminal_width(self.stream) - 1 if self.tty else max(_terminal_width(self.stream) - 1, 79)
        return progress_lines(
            self.harvester.progress(),
            parked=self.harvester.parked_tokens,
            plan=self.plan,
            width=max(20, width),
            verbose=self.verbose,
        )

    def draw(self, final: bool = False) -> None:
        if self._broken:
            return
        lines = self.render()
        if self.tty:
            up = f"\x1b[{self._drawn - 1}A" if self._drawn > 1 else ""
            text = up + "\r" + "\n".join(line + "\x1b[K" for line in lines) + "\x1b[J"
            self._drawn = len(lines)
            if final:
                text += "\n"
                self._drawn = 0
        else:
            text = "".join(line + "\n" for line in lines)
        try:
            self.stream.write(text)
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._broken = True  # nobody reads the progress any more: the harvest goes on

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.every)
                self.draw()
        finally:
            self.draw(final=True)  # the final state, however short the run was


# kept for callers of the earlier one-line API
def progress_line(harvester: Harvester, width: int = 80) -> str:
    return progress_lines(harvester.progress(), parked=harvester.parked_tokens, width=width)[0]


# -- commands -------------------------------------------------------------------------------


async def _run_with_progress(
    harvester: Harvester, sink: JsonlSink, args: argparse.Namespace, plan: HarvestPlan | None = None
) -> HarvestReport:
    task = None
    if not args.quiet:
        progress = Progress(harvester, sys.stderr, interval=args.progress_interval, verbose=args.verbose, plan=plan)
        task = asyncio.create_task(progress.run())
    try:
        async with _cli_observe.of(args).harvesting(harvester, sink) as observed_sink:
            return await harvester.run(observed_sink)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.wait([task])


_CONNECTION_ERRORS = frozenset({"ConnectError", "APIUnreachableError"})
_NAMED_TOKENS = 5  # rejected tokens named on the error line; the report lists every one


def _rejected_tokens(failures: Iterable[VehicleFailure], credentials_file: str | None) -> str | None:
    """The line 'credentials rejected for token(s) ...: check ...', or None when none was rejected."""
    tokens = sorted({f.token for f in failures if f.credentials_rejected})
    if not tokens:
        return None
    named = ", ".join(tokens[:_NAMED_TOKENS])
    if len(tokens) > _NAMED_TOKENS:
        named += f" and {len(tokens) - _NAMED_TOKENS:,} more (see the report)"
    where = (
        f"their lines in {credentials_file} (a user who revoked access must authorize the app again)"
        if credentials_file
        else f"{ENV_TOKEN} or {ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}"
    )
    return f"credentials rejected for token(s) {named}: check {where}"


def _exit_code(report: HarvestReport, credentials_file: str | None = None) -> tuple[int, str | None]:
    """The exit code of a finished run, and the one line for stderr (None when all is well)."""
    if report.failures:
        errors = {f.error for f in report.failures}
        rejected = _rejected_tokens(report.failures, credentials_file)
        if rejected:
            return EXIT_CREDENTIALS, f"{rejected}; the rest of the run is saved"
        if errors <= _CONNECTION_ERRORS:
            return EXIT_UNREACHABLE, "the API was unreachable; run the same command again later to continue"
        n = len(report.failed_vehicles)
        listing = sum(1 for f in report.failures if f.vehicle_id is None)
        what = f"{n} vehicle(s)" + (f" and {listing} vehicle listing(s)" if listing else "")
        return EXIT_FAILED, f"{what} failed (see the report); run the same command again to retry them"
    if report.parked:
        return EXIT_INCOMPLETE, "incomplete: a token's budget is spent; run the same command again after it returns"
    if report.cancelled:
        return EXIT_INCOMPLETE, "incomplete: the run was stopped; run the same command again to continue"
    return EXIT_OK, None


async def _preflight(credentials: Mapping[str, Any], base_url: str, *, concurrency: int) -> None:
    """One cheap request per token before the harvest, so that wrong credentials, a wrong
    base URL or an unreachable API are told at once (not after retries of every vehicle).
    A token rejected while others pass does not stop the run: the harvest reports it.

    Every check goes through one client's pool (``with_auth`` views), ``concurrency`` at a
    time; one attempt after one quick retry for connection errors: a harvest that is about
    to run deserves a fast answer when nothing listens at all.
    """
    from ._client import EvEnergyClient
    from ._sansio import RetryPolicy

    many = len(credentials) > 1
    retry = RetryPolicy(max_attempts=2, backoff_base=0.25, backoff_max=0.5, retry_after_cap=0)
    gate = asyncio.Semaphore(concurrency)
    async with EvEnergyClient(base_url=base_url, retry=retry, timeout=10, max_connections=concurrency) as client:
        errors = await asyncio.gather(
            *(
                _check_token(client.with_auth(credential), label if many else None, base_url, gate)
                for label, credential in credentials.items()
            )
        )
    failed = [error for error in errors if error is not None]
    if not failed:
        return
    others = [error for error in failed if error.code != EXIT_CREDENTIALS]
    if others or len(failed) == len(errors):
        raise (others or failed)[0]  # the API as a whole, or every token: nothing to harvest
    # some tokens rejected, the rest fine: as for a credentials file, the rest is harvested and
    # the run names the rejected ones at its end (exit 4); a user who revoked access must not
    # stop everyone else's harvest


async def _check_token(client: Any, label: str | None, base_url: str, gate: asyncio.Semaphore) -> CLIError | None:
    """The CLI error that this token's check request calls for, or None."""
    from ._errors import (
        AuthError,
        ForbiddenError,
        NotFoundError,
        TransportError,
        UnauthorizedError,
    )

    who = f" (token {label})" if label else ""
    try:
        async with gate:
            await client.vehicles.list(page_size=1).first()
    except (UnauthorizedError, AuthError) as exc:
        detail = f": {exc.error}" if isinstance(exc, AuthError) and exc.error else ""
        return CLIError(
            f"credentials rejected{who}{detail} (HTTP {exc.status or '?'} from {exc.url or base_url}): "
            f"check {ENV_TOKEN}, or {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}",
            EXIT_CREDENTIALS,
        )
    except NotFoundError as exc:
        return UsageError(
            f"the API answered 404 for {_without_query(exc.url) or base_url + '/vehicles'}: wrong base URL {base_url}; "
            f"{_v2_hint(base_url)}"
        )
    except ForbiddenError:
        return None  # the token may not list vehicles; the harvest reports what it cannot read
    except TransportError as exc:
        return CLIError(_unreachable_message(exc, base_url), EXIT_UNREACHABLE)
    except Exception:
        return None  # 429, 5xx, odd bodies: the harvester has its own policy for these
    return None


def _without_query(url: str | None) -> str | None:
    from yarl import URL

    return str(URL(url).with_query(None)) if url else None


def _unreachable_message(exc: BaseException, base_url: str) -> str:
    from yarl import URL

    address = getattr(exc, "address", None)
    if not address:
        url = URL(str(getattr(exc, "url", None) or base_url))
        address = f"{url.host}:{url.port}" if url.host else base_url
    reason = getattr(exc, "message", None) or str(exc)
    if type(exc).__name__ == "APIUnreachableError":
        return f"{reason}; the work done is committed: run the same command again when it is back"
    if re.search(r"certificate", reason, re.IGNORECASE):
        return (
            f"API unreachable at {address}: its TLS certificate is not trusted ({reason}); "
            "check --base-url, or the system's CA certificates"
        )
    if re.search(r"SSL|TLS", reason):
        return f"API unreachable at {address}: TLS handshake failed ({reason}); does it speak https? check --base-url"

    return f"API unreachable at {address}: {reason}; check --base-url and the network, then run again"


SHARDED_CREDENTIALS = (
    "--shard does not split a --credentials file: every shard would refresh every token, and each "
    "refresh kills the refresh token the other shards hold; give each worker its own file of users instead"
)


def _harvest_setup(args: argparse.Namespace) -> None:
    """Everything checked before the first request: arguments, credentials, local paths."""
    if args.credentials_file:
        # a fleet: the file is read lazily by the harvest (its lines are checked as they come)
        args.credentials = {}
        if args.vehicle or args.vehicles_file:
            raise UsageError("--vehicle/--vehicles-file work with tokens from the environment, not --credentials")
        if args.shard is not None:
            raise UsageError(SHARDED_CREDENTIALS)
    else:
        args.credentials = credentials_from_env()
    args.base_url = _base_url(args)
    now = datetime.now(UTC)
    if args.since is not None and args.since > now:
        raise UsageError(f"--since {args.since.isoformat()} is in the future: nothing to harvest")
    if args.since is not None and args.until is not None and args.until < args.since:
        raise UsageError(f"--until {args.until.isoformat()} is before --since {args.since.isoformat()}")
    args.vehicles = None
    if args.vehicle or args.vehicles_file:
        if len(args.credentials) > 1:
            raise UsageError("--vehicle/--vehicles-file work with a single token")
        ids = [_check_vehicle_id(v.strip(), "--vehicle") for v in args.vehicle]
        if args.vehicles_file:
            stream = _open_vehicles_file(args.vehicles_file)
            args.vehicles = _chain(ids, _vehicle_lines(args.vehicles_file, stream))
        else:
            args.vehicles = ids
    for flag, value in (("--out", args.out), ("--state", args.state)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} is empty: give a directory or a postgresql:// URL")
    if args.out is None:
        args.out = os.environ.get(ENV_DATABASE_URL, "").strip() or None
    if args.out is None:
        raise UsageError(f"--out is required (a directory or a postgresql:// URL), unless {ENV_DATABASE_URL} is set")
    args.out_db = is_database_url(args.out)
    if not args.out_db:
        args.out = os.path.abspath(args.out)
    if args.state:
        args.state_path = args.state if is_database_url(args.state) else os.path.abspath(args.state)
    else:
        args.state_path = args.out if args.out_db else os.path.join(args.out, "harvest-state.sqlite")
    args.state_db = is_database_url(args.state_path)
    if not args.out_db and not args.state_db:
        from ._harvest._sinks import jsonl_sink_file

        clash = jsonl_sink_file(args.out, args.state_path)
        if clash is not None:
            raise UsageError(f"--state {args.state_path} is one of the output's own files ({clash}): give the state another path")
    if (args.out_db or args.state_db) and importlib.util.find_spec("asyncpg") is None:
        raise UsageError("PostgreSQL support needs asyncpg: pip install 'evenergy_async[postgres]'")
    try:
        args.schema = _check_schema(args.schema)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # --plan writes nothing: no output directory, and no state file unless one exists
    args.memory_state = args.plan and not args.state_db and not os.path.exists(args.state_path)
    if not args.plan and not args.out_db:
        os.makedirs(args.out, exist_ok=True)


async def cmd_harvest(args: argparse.Namespace) -> int:
    """Every token through one client's session and pool (``Harvester(client, credentials=...)``):
    the tokens of ``EVENERGY_TOKEN`` (checked up front), or a ``--credentials`` file read lazily."""
    from ._client import EvEnergyClient
    from ._sansio import RetryPolicy

    fleet = bool(args.credentials_file)
    credentials: Any
    if fleet:
        credentials = CredentialsFile(
            args.credentials_file,
            client_id=os.environ.get(ENV_CLIENT_ID, "").strip() or None,
            client_secret=os.environ.get(ENV_CLIENT_SECRET, "").strip() or None,
        )
        vehicles: Any = None
    else:
        credentials = args.credentials
        # --vehicle/--vehicles-file come with a single token
        vehicles = None if args.vehicles is None else {label: args.vehicles for label in credentials}
    client = EvEnergyClient(
        base_url=args.base_url,
        retry=RetryPolicy(retry_after_cap=args.retry_after_cap),
        max_connections=max(args.concurrency, 10),
        **_cli_observe.of(args).client_kwargs,
    )
    async with contextlib.AsyncExitStack() as stack:
        if fleet:
            await stack.enter_async_context(credentials)  # folds a crashed run's rotations in first
        state: Any
        if args.memory_state:
            state = MemoryStateStore()
        elif args.state_db:
            state = await stack.enter_async_context(PostgresStateStore(args.state_path, schema=args.schema))
        else:
            state = await stack.enter_async_context(SQLiteStateStore(args.state_path))
        if not fleet:  # a file's tokens are not all read up front: the harvest reports rejected ones
            await _preflight(credentials, args.base_url, concurrency=max(args.concurrency, 10))
        await stack.enter_async_context(client)
        harvester = await stack.enter_async_context(
            Harvester(
                client,
                credentials=credentials,
                vehicles=vehicles,
                kinds=args.kinds,
                since=args.since,
                until=args.until,
                state=state,
                page_size=args.page_size,
                concurrency=args.concurrency,
                per_token_concurrency=args.per_token,
                budget_reserve=args.budget_reserve,
                overlap=timedelta(seconds=args.overlap),
                max_park=args.max_park,
                shard=args.shard,
                unreachable_after=args.unreachable_after,
            )
        )
        if args.plan:
            plan = await harvester.plan()
            print(json.dumps(plan.to_dict(), indent=2) if args.json else plan.format())
            failures = [t.listing_failure for t in plan.tokens if t.listing_failure is not None]
            rejected = _rejected_tokens(failures, args.credentials_file)
            if rejected:  # a run would fail these tokens alike: say so now
                _say(f"error: {rejected}")
                return EXIT_CREDENTIALS
            return EXIT_OK
        # the forecast gives the progress display its ETA from the start (its vehicle listing
        # is reused by the run; a few sample pages are fetched twice); not for a file of tokens,
        # where it would read every credential and list every token's vehicles first
        forecast = await harvester.plan() if not args.quiet and not fleet else None
        sink: Any = PostgresSink(args.out, schema=args.schema) if args.out_db else JsonlSink(args.out)
        await stack.enter_async_context(sink)
        report = await _run_with_progress(harvester, sink, args, forecast)
    extra: dict[str, Any] = {"out": redact_dsn(args.out), "state": redact_dsn(args.state_path)}
    if args.out_db or args.state_db:
        extra["schema"] = args.schema
    _print_report(report, args, extra=extra)
    code, message = _exit_code(report, args.credentials_file)
    if message:
        _say(f"error: {message}")
    return code


def _chain(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest


def _print_report(report: HarvestReport, args: argparse.Namespace, extra: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps({**report.to_dict(), **extra}, indent=2))
    else:
        print(report.summary())
        for key, value in extra.items():
            print(f"  {key}: {value}")
    sys.stdout.flush()


async def cmd_demo(args: argparse.Namespace) -> int:
    from ._client import EvEnergyClient
    from .simulator import Simulator, SimulatorConfig

    temporary: bool = args.temporary
    out: str = args.out  # made absolute (or a new temporary directory) by main()
    args.state_path = os.path.join(out, "harvest-state.sqlite")
    config = SimulatorConfig(
        seed=args.seed, users=args.users, vehicles=args.vehicles, logs_per_kind=args.logs, latency=args.latency
    )
    if args.since is not None and args.until is not None and args.until < args.since:
        raise UsageError(f"--until {args.until.isoformat()} is before --since {args.since.isoformat()}")
    sim = Simulator(config)
    try:
        await sim.start("127.0.0.1", args.demo_port)
    except OSError:
        if not args.demo_port:
            raise
        await sim.start("127.0.0.1", 0)  # the last run's port is taken: its saved cursors are refetched
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(sim.close)
        await asyncio.to_thread(_save_port, out, sim.base_url.port or 0)
        if not args.quiet:
            _say(f"simulator: {sim.base_url}, {args.vehicles} vehicles, {args.users} users", prefix=False)
            _say(f"harvesting {args.logs} {','.join(k.value for k in args.kinds)} logs per vehicle", prefix=False)
            _say(f"into {out}", prefix=False)
        # one client's pool carries every user's token, as a harvest of a fleet does
        client = await stack.enter_async_context(
            EvEnergyClient(
                base_url=sim.base_url,
                max_connections=max(args.concurrency, 10),
                **_cli_observe.of(args).client_kwargs,
            )
        )
        t0 = time.perf_counter()
        async with Harvester(
            client,
            credentials={f"user{i}": sim.user_token(i) for i in range(args.users)},
            kinds=args.kinds,
            since=args.since,
            until=args.until,
            state=args.state_path,
            concurrency=args.concurrency,
            per_token_concurrency=args.per_token,
            budget_reserve=args.budget_reserve,
            page_size=args.page_size,
            overlap=timedelta(seconds=args.overlap),
            max_park=args.max_park,
            unreachable_after=args.unreachable_after,
        ) as harvester:
            forecast = await harvester.plan() if not args.quiet else None
            report = await _run_with_progress(harvester, JsonlSink(out), args, forecast)
        wall = time.perf_counter() - t0
        whole = args.since is None and args.until is None and not report.failures
        verified = await asyncio.to_thread(_verify_demo, sim, out, args.kinds) if whole else None
    extra: dict[str, Any] = {
        "out": out if not temporary or args.keep else f"{out} (removed)",
        "wall_seconds": round(wall, 3),
    }
    if verified is not None:
        extra["verified"] = verified
    _print_report(report, args, extra)
    if verified not in (None, "ok"):
        _say(f"error: demo verification {verified}")
        return EXIT_FAILED
    code, message = _exit_code(report)
    if message:
        _say(f"error: {message}")
    return code


_DEMO_PORT_FILE = "demo-port"


def _saved_port(out: str) -> int:
    """The port of the demo's last run in ``out``: the state's saved page links name it, so
    an interrupted demo resumes against a simulator on the same address."""
    try:
        with open(os.path.join(out, _DEMO_PORT_FILE), encoding="ascii") as fh:
            port = int(fh.read().strip())
    except (OSError, ValueError):
        return 0
    return port if 0 < port < 65536 else 0


def _save_port(out: str, port: int) -> None:
    with open(os.path.join(out, _DEMO_PORT_FILE), "w", encoding="ascii") as fh:
        fh.write(f"{port}\n")


def _verify_demo(sim: Any, out: str, kinds: Sequence[LogKind]) -> str:
    """Compare the JSONL files with the simulator's data: every record exactly once."""
    from ._harvest._verify import expected_keys, harvested_keys

    for kind in kinds:
        expected = expected_keys(sim, kind)
        got = harvested_keys(os.path.join(out, kind.filename), kind)
        if len(got) != len(set(got)):
            return f"FAILED: duplicate {kind.value} records"
        if set(got) != expected:
            return f"FAILED: {kind.value} records differ ({len(set(got) - expected)} extra, {len(expected - set(got))} missing)"
    return "ok"


# -- errors: one line and an exit code ---------------------------------------------------------


def _say(message: str, *, prefix: bool = True) -> None:
    """One line on stderr (quietly nothing if stderr is gone)."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write((f"{PROG}: " if prefix else "") + message + "\n")
        sys.stderr.flush()


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


_OS_HINTS = {
    errno.ENOSPC: "free some space, then run the same command again (the state is consistent)",
    errno.EDQUOT: "free some space, then run the same command again (the state is consistent)",
    errno.EACCES: "choose a directory you may write to (--out, --state)",
    errno.EPERM: "choose a directory you may write to (--out, --state)",
    errno.EROFS: "choose a writable directory (--out, --state)",
    errno.EEXIST: "--out must be a directory, not a file",
    errno.ENOTDIR: "--out and --state must be in directories, not under a file",
    errno.EISDIR: "--state must be a file, not a directory",
    errno.ENOENT: "check the path (--out, --state)",
    errno.EMFILE: "too many open files: lower --concurrency or raise the limit (ulimit -n)",
}


def _describe(exc: BaseException, args: argparse.Namespace | None) -> tuple[int, str] | None:
    """The exit code and one line for an exception the user can act on (None: a bug)."""
    from ._errors import AuthError, EvEnergyError, TransportError, UnauthorizedError

    if isinstance(exc, CLIError):
        return exc.code, str(exc)
    if isinstance(exc, BudgetReserveError):
        return EXIT_USAGE, f"{exc}: lower --budget-reserve"
    if isinstance(exc, CredentialsFileError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, CredentialsInUseError):
        return EXIT_LOCAL, str(exc)
    if isinstance(exc, CredentialsStoreError):
        return EXIT_LOCAL, f"{exc}; the journal FILE.rotations keeps the tokens saved so far: run again when fixed"
    if isinstance(exc, UnauthorizedError | AuthError):
        return EXIT_CREDENTIALS, (
            f"credentials rejected ({exc}): check {ENV_TOKEN}, or {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}"
        )
    if isinstance(exc, TransportError):
        return EXIT_UNREACHABLE, _unreachable_message(exc, getattr(args, "base_url", None) or "the API")
    if isinstance(exc, DatabaseError):  # its message never holds the password
        return EXIT_LOCAL, str(exc)
    state = getattr(args, "state_path", None) or "the state file"
    if isinstance(exc, UnknownOutputError):
        out = getattr(args, "out", None) or "the output directory"
        return EXIT_LOCAL, (
            f"{out} holds records that {redact_dsn(state)} has no record of: use the state that wrote them, "
            "or a new --out"
        )
    if isinstance(exc, SinkError):  # the output does not match the state (a file missing, cut short)
        return EXIT_LOCAL, f"output problem: {exc}"
    if isinstance(exc, sqlite3.Error):
        return EXIT_LOCAL, (
            f"state file {state} is not usable ({exc}): give another --state, or move this one away "
            "to start afresh (that re-harvests everything)"
        )
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        hint = _OS_HINTS.get(exc.errno or 0, "check the output directory and the state file")
        return EXIT_LOCAL, f"local file problem: {exc.strerror or exc}{where}; {hint}"
    if isinstance(exc, EvEnergyError):
        return EXIT_FAILED, f"the API call failed: {exc}"
    return None


def _classify(exc: BaseException, args: argparse.Namespace | None) -> tuple[int, str] | None:
    leaves = list(_leaves(exc))
    # the user's mistakes first, then credentials, the API, local files; a bug last
    user = (CLIError, BudgetReserveError, CredentialsFileError, CredentialsStoreError)
    for wanted in (
        user,
        _credential_types(),
        _transport_types(),
        DatabaseError,
        SinkError,
        sqlite3.Error,
        OSError,
        Exception,
    ):
        for leaf in leaves:
            if isinstance(leaf, wanted):
                return _describe(leaf, args)
    return None


def _credential_types() -> tuple[type[BaseException], ...]:
    from ._errors import AuthError, UnauthorizedError

    return (AuthError, UnauthorizedError)


def _transport_types() -> tuple[type[BaseException], ...]:
    from ._errors import TransportError

    return (TransportError,)


def _debug(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get(ENV_DEBUG, "").strip().lower() in {"1", "true", "yes"}


def _run(command: Any, args: argparse.Namespace) -> int:
    """Run the command's coroutine; SIGTERM stops it like Ctrl-C (the state is committed)."""

    async def guarded() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        terminated = False

        def on_term() -> None:
            nonlocal terminated
            terminated = True
            if task is not None:
                task.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, on_term)
        try:
            return int(await command(args))
        except asyncio.CancelledError:
            if terminated:
                _say("terminated (SIGTERM): the state is committed; run the same command again to continue")
                return EXIT_TERMINATED
            raise

    return asyncio.run(guarded())


# -- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            _say("error: give a command, harvest or demo (see: evenergy-async --help)")
            return EXIT_USAGE
        if args.command == "harvest":
            command = cmd_harvest
            _harvest_setup(args)
        else:
            command = cmd_demo
            args.temporary = args.out is None
            args.out = tempfile.mkdtemp(prefix="evenergy-demo-") if args.temporary else os.path.abspath(args.out)
            os.makedirs(args.out, exist_ok=True)
            args.demo_port = _saved_port(args.out)
        try:
            with _cli_observe.observing(args):
                return _run(command, args)
        finally:
            if args.command == "demo" and args.temporary and not args.keep:
                shutil.rmtree(args.out, ignore_errors=True)
    except SystemExit:
        raise  # argparse: --help, --version and usage errors (one line, code 2)
    except KeyboardInterrupt:
        _say("interrupted: the state is committed; run the same command again to continue")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout went away (e.g. `| head`): Python's documented recipe, so that the
        # interpreter's final flush does not complain again; nothing else to say
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        described = _classify(exc, args)
        if described is None or _debug(args):
            if _debug(args):
                with contextlib.suppress(OSError, ValueError):
                    traceback.print_exception(exc, file=sys.stderr)
            if described is None:
                name = type(next(_leaves(exc), exc)).__name__
                leaf = next(_leaves(exc), exc)
                _say(
                    f"error: internal error: {name}: {leaf}; please report it "
                    f"(run with --debug or {ENV_DEBUG}=1 for the traceback)"
                )
                return EXIT_INTERNAL
        assert described is not None
        code, message = described
        _say(f"error: {message}")
        return code
