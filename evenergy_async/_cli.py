"""The ``evenergy-async`` command (also ``python -m evenergy_async``).

``harvest`` pulls vehicle logs into one JSONL file per kind, resumable from a state file;
``demo`` runs the same harvest end to end against the embedded simulator.
Credentials come from the environment only and are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from . import _cli_observe
from ._harvest import Harvester, HarvestReport, JsonlSink, LogKind, MemoryStateStore, SQLiteStateStore

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1  # some vehicle (or a token's vehicle listing) failed
EXIT_USAGE = 2  # bad arguments or missing credentials
EXIT_INCOMPLETE = 3  # no failure, but work is parked until a token's budget returns
EXIT_INTERRUPTED = 130

ENV_TOKEN = "EVENERGY_TOKEN"
ENV_CLIENT_ID = "EVENERGY_CLIENT_ID"
ENV_CLIENT_SECRET = "EVENERGY_CLIENT_SECRET"


class UsageError(Exception):
    pass


# -- argument parsing ------------------------------------------------------------------


def _timestamp(value: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or an RFC 3339 timestamp (naive means UTC)."""
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or timestamp: {value!r} (e.g. 2026-11-01)") from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


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
        raise argparse.ArgumentTypeError(f"--shard wants I/N, e.g. 0/4, got {value!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N, got {value!r}")
    return index, count


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _seconds(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return n


def _add_harvest_options(p: argparse.ArgumentParser, *, demo: bool) -> None:
    p.add_argument(
        "--kinds",
        type=_kinds,
        default=(LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND),
        help="comma-separated log kinds: status,location,command,error (default: status,location,command)",
    )
    p.add_argument("--since", type=_timestamp, help="oldest timestamp to fetch, e.g. 2026-11-01 (UTC)")
    p.add_argument("--until", type=_timestamp, help="newest timestamp to fetch (default: the run's start time)")
    p.add_argument("--concurrency", type=_positive_int, default=32, help="requests in flight overall (default 32)")
    p.add_argument(
        "--per-token", type=_positive_int, default=8, dest="per_token", help="requests in flight per token (default 8)"
    )
    p.add_argument("--page-size", type=int, default=100, choices=range(1, 101), metavar="1..100", dest="page_size")
    p.add_argument("--overlap", type=_seconds, default=600.0, help="seconds re-read below the watermark (default 600)")
    p.add_argument(
        "--max-park",
        type=_seconds,
        default=3600.0,
        dest="max_park",
        help="wait at most this long for a token whose budget is spent; beyond it, its work is "
        "left for the next run (default 3600)",
    )
    p.add_argument(
        "--progress-interval", type=_seconds, dest="progress_interval", help="seconds between progress lines"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the final report as JSON on stdout")
    _cli_observe.add_arguments(p)
    if not demo:
        p.add_argument("--out", required=True, help="output directory (one JSONL file per kind)")
        p.add_argument("--state", help="state file (SQLite; default OUT/harvest-state.sqlite)")
        p.add_argument("--base-url", dest="base_url", help="API base URL (default https://api.ev.energy/v2)")
        p.add_argument("--plan", action="store_true", help="print the forecast (requests, time) and exit")
        p.add_argument(
            "--shard",
            type=_shard,
            help="take shard I of N of the vehicles (a stable hash of the ID); give each shard its own --out and --state",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evenergy-async",
        description="ev.energy v2 API tools: a resumable bulk log harvester and a demo against the simulator.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    harvest = sub.add_parser(
        "harvest",
        help="harvest vehicle logs into JSONL files (resumable)",
        description=(
            "Harvest vehicle logs into OUT/<kind>_logs.jsonl, one record per line with its vehicle_id. "
            f"Credentials from the environment: {ENV_TOKEN} (one or more comma-separated user tokens), or "
            f"{ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}. Running it again continues where the last run "
            "stopped (exactly once, via the state file). Exit codes: 0 done, 1 some vehicle failed, "
            "2 usage error, 3 incomplete (work parked until a budget returns: run again later)."
        ),
    )
    _add_harvest_options(harvest, demo=False)
    demo = sub.add_parser(
        "demo",
        help="start the embedded simulator and harvest from it end to end",
        description="Start the simulator on a free loopback port and harvest all of its vehicles' logs.",
    )
    demo.add_argument("--vehicles", type=_positive_int, default=300, help="vehicles in the simulator (default 300)")
    demo.add_argument("--users", type=_positive_int, default=3, help="users (one token each; default 3)")
    demo.add_argument("--logs", type=int, default=50, help="logs per vehicle and kind (default 50)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--latency", type=_seconds, default=0.0, help="simulated seconds per request (default 0)")
    demo.add_argument("--out", help="output directory (default: a temporary one, removed unless --keep)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary output directory")
    _add_harvest_options(demo, demo=True)
    return parser


# -- credentials -------------------------------------------------------------------------


def credentials_from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Label -> credential from the environment (never printed)."""
    from ._auth import BearerToken, ClientCredentials

    env = dict(os.environ) if env is None else env
    raw = env.get(ENV_TOKEN, "").strip()
    if raw:
        tokens = [t.strip() for t in raw.split(",") if t.strip()]
        if len(tokens) == 1:
            return {"default": BearerToken(tokens[0])}
        return {f"token{i}": BearerToken(t) for i, t in enumerate(tokens)}
    client_id = env.get(ENV_CLIENT_ID, "").strip()
    secret = env.get(ENV_CLIENT_SECRET, "").strip()
    if client_id and secret:
        return {"default": ClientCredentials(client_id, secret)}
    if client_id or secret:
        raise UsageError(f"set both {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}")
    raise UsageError(f"no credentials: set {ENV_TOKEN}, or {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}")


def _vehicle_lines(path: str) -> Iterator[str]:
    """Vehicle IDs from a file, read lazily (blank lines and # comments skipped)."""
    stream: TextIO
    with contextlib.ExitStack() as stack:
        stream = sys.stdin if path == "-" else stack.enter_context(open(path, encoding="utf-8"))
        for line in stream:
            text = line.split("#", 1)[0].strip()
            if text:
                yield text


# -- progress ------------------------------------------------------------------------------


def _eta(report: HarvestReport, harvester: Harvester) -> str:
    done = report.partitions_done + report.partitions_failed
    total = report.partitions_total
    exhausted = all(t.input_exhausted for t in report.tokens.values())
    if done == 0 or report.elapsed <= 0 or not exhausted:
        return "?"
    if harvester.parked_tokens:
        return "parked"
    left = max(0, total - done - report.partitions_parked)
    seconds = report.elapsed / done * left
    return f"{seconds:.0f}s"


def progress_line(harvester: Harvester) -> str:
    report = harvester.progress()
    kinds = " ".join(f"{k.value}={report.records.get(k.value, 0)}" for k in report.kinds)
    budgets = []
    for name, tok in report.tokens.items():
        if tok.budget_remaining is not None:
            budgets.append(f"{name}={tok.budget_remaining}/{tok.budget_limit}")
    parked = harvester.parked_tokens
    return (
        f"[{report.elapsed:6.1f}s] records {kinds} | requests {report.http_requests} retries {report.retries}"
        f" | budget {' '.join(budgets) or '?'} | parked {len(parked)}{' ' + ','.join(parked) if parked else ''}"
        f" | partitions {report.partitions_done}/{report.partitions_total}"
        f"{'+' if not all(t.input_exhausted for t in report.tokens.values()) else ''}"
        f" failed {report.partitions_failed} | ETA {_eta(report, harvester)}"
    )


async def _progress(harvester: Harvester, interval: float | None, stream: TextIO) -> None:
    tty = stream.isatty()
    every = interval if interval is not None else (0.5 if tty else 10.0)
    width = 0
    try:
        while True:
            await asyncio.sleep(every)
            line = progress_line(harvester)
            if tty:
                width = max(width, len(line))
                stream.write("\r" + line.ljust(width))
            else:
                stream.write(line + "\n")
            stream.flush()
    finally:
        # the final state, however short the run was
        line = progress_line(harvester)
        stream.write(("\r" + line.ljust(width) + "\n") if tty else (line + "\n"))
        stream.flush()


# -- commands -------------------------------------------------------------------------------


async def _run_with_progress(harvester: Harvester, sink: JsonlSink, args: argparse.Namespace) -> HarvestReport:
    task = None
    if not args.quiet:
        task = asyncio.create_task(_progress(harvester, args.progress_interval, sys.stderr))
    try:
        async with _cli_observe.of(args).harvesting(harvester, sink) as observed_sink:
            return await harvester.run(observed_sink)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.wait([task])


def _exit_code(report: HarvestReport) -> int:
    if report.failures:
        return EXIT_FAILED
    if report.parked or report.cancelled:
        return EXIT_INCOMPLETE
    return EXIT_OK


async def cmd_harvest(args: argparse.Namespace) -> int:
    from ._client import EvEnergyClient
    from ._sansio import DEFAULT_BASE_URL, RetryPolicy

    credentials = credentials_from_env()
    vehicles: Any = None
    if args.vehicle or args.vehicles_file:
        if len(credentials) > 1:
            raise UsageError("--vehicle/--vehicles-file work with a single token")
        ids: list[str] = list(args.vehicle)
        vehicles = ids if not args.vehicles_file else _chain(ids, _vehicle_lines(args.vehicles_file))
    out: str = args.out  # made absolute by main()
    state_path = args.state or os.path.join(out, "harvest-state.sqlite")
    base_url = args.base_url or DEFAULT_BASE_URL
    retry = RetryPolicy(retry_after_cap=args.retry_after_cap)
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for label, credential in credentials.items():
            try:
                client = EvEnergyClient(
                    credential,
                    base_url=base_url,
                    retry=retry,
                    max_connections=max(args.concurrency, 10),
                    **_cli_observe.of(args).client_kwargs,
                )
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            clients[label] = await stack.enter_async_context(client)
        # --plan reads a state file that exists and creates none
        keep = not args.plan or await asyncio.to_thread(os.path.exists, state_path)
        store: SQLiteStateStore | MemoryStateStore = SQLiteStateStore(state_path) if keep else MemoryStateStore()
        await stack.enter_async_context(store)
        state = store
        harvester = await stack.enter_async_context(
            Harvester(
                clients,
                vehicles=vehicles,
                kinds=args.kinds,
                since=args.since,
                until=args.until,
                state=state,
                page_size=args.page_size,
                concurrency=args.concurrency,
                per_token_concurrency=args.per_token,
                overlap=timedelta(seconds=args.overlap),
                max_park=args.max_park,
                shard=args.shard,
            )
        )
        if args.plan:
            plan = await harvester.plan()
            print(json.dumps(plan.to_dict(), indent=2) if args.json else plan.format())
            return EXIT_OK
        sink = await stack.enter_async_context(JsonlSink(out))
        report = await _run_with_progress(harvester, sink, args)
    _print_report(report, args, extra={"out": out, "state": state_path})
    return _exit_code(report)


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


async def cmd_demo(args: argparse.Namespace) -> int:
    from ._client import EvEnergyClient
    from .simulator import Simulator, SimulatorConfig

    temporary: bool = args.temporary
    out: str = args.out  # made absolute (or a new temporary directory) by main()
    config = SimulatorConfig(
        seed=args.seed, users=args.users, vehicles=args.vehicles, logs_per_kind=args.logs, latency=args.latency
    )
    async with Simulator(config) as sim, contextlib.AsyncExitStack() as stack:
        if not args.quiet:
            print(
                f"simulator: {sim.base_url} with {args.vehicles} vehicles of {args.users} users, "
                f"{args.logs} logs per vehicle and kind; harvesting {','.join(k.value for k in args.kinds)} "
                f"into {out}",
                file=sys.stderr,
            )
        clients = {
            f"user{i}": await stack.enter_async_context(
                EvEnergyClient(
                    sim.user_token(i),
                    base_url=sim.base_url,
                    max_connections=max(args.concurrency, 10),
                    **_cli_observe.of(args).client_kwargs,
                )
            )
            for i in range(args.users)
        }
        t0 = time.perf_counter()
        async with Harvester(
            clients,
            kinds=args.kinds,
            since=args.since,
            until=args.until,
            state=os.path.join(out, "harvest-state.sqlite"),
            concurrency=args.concurrency,
            per_token_concurrency=args.per_token,
            page_size=args.page_size,
            overlap=timedelta(seconds=args.overlap),
            max_park=args.max_park,
        ) as harvester:
            report = await _run_with_progress(harvester, JsonlSink(out), args)
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
    return _exit_code(report) if verified in (None, "ok") else EXIT_FAILED


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


# -- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "harvest":
        command = cmd_harvest
        args.out = os.path.abspath(args.out)
    else:
        command = cmd_demo
        args.temporary = args.out is None
        args.out = tempfile.mkdtemp(prefix="evenergy-demo-") if args.temporary else os.path.abspath(args.out)
    try:
        if args.command == "harvest":
            os.makedirs(args.out, exist_ok=True)
        with _cli_observe.observing(args):
            return asyncio.run(command(args))
    except UsageError as exc:
        print(f"evenergy-async: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted: the state is consistent; run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if args.command == "demo" and args.temporary and not args.keep:
            shutil.rmtree(args.out, ignore_errors=True)
