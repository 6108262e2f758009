"""Fleet scale: many tokens through one connection pool, the same requests however many tokens.

    python benchmarks/fleet.py                 # 10 tokens x 1,000 vehicles vs 10,000 tokens x 1 vehicle
    python benchmarks/fleet.py --quick         # 10 x 100 vs 1,000 x 1
    python benchmarks/fleet.py --cli 5000      # the CLI with --credentials: 5,000 tokens vs 50 tokens

Each scenario starts the simulator in its own process (N users, the vehicles spread over them,
one page of logs per vehicle and kind, rate limit out of reach) behind a TCP relay in that same
process, which counts the TCP connections the client opens. The harvest runs in a fresh
process of its own (``--child``) so its peak RSS and CPU time are its own: a ``Harvester``
with ``credentials=`` (label, token) pairs over one client, the vehicles given per label (so
both shapes make exactly the same requests: 3 per vehicle, no listing), a ``JsonlSink`` and a
SQLite state file. Reported: wall, requests/s, µs of client CPU (user + system) per request,
peak RSS of the client process, TCP connections opened, and whether every record arrived
exactly once (line counts against the simulator's).

``--cli N``: the issue's held-out check -- ``evenergy-async harvest --credentials FILE`` with N
tokens (one vehicle each, the vehicles listed by the API) against 50 tokens with the same
number of requests (``N * 4 / 50 / 3`` vehicles each... rounded), measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("status", "location", "command")


# -- the server process: simulator + counting relay ----------------------------------------


async def serve(users: int, vehicles: int, logs: int) -> None:
    from yarl import URL

    from evenergy_async.simulator import Simulator, SimulatorConfig

    opened = 0
    open_now = 0
    max_open = 0
    upstream: list[tuple[str, int]] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError):
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal opened, open_now, max_open
        opened += 1
        open_now += 1
        max_open = max(max_open, open_now)
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream[0])
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            open_now -= 1

    relay = await asyncio.start_server(handle, "127.0.0.1", 0)
    relay_url = URL(f"http://127.0.0.1:{relay.sockets[0].getsockname()[1]}")
    config = SimulatorConfig(
        seed=1,
        users=users,
        vehicles=vehicles,
        logs_per_kind={**dict.fromkeys(KINDS, logs), "error": 0},
        rate_limit=10**9,
        rate_window=1.0,
        precompute_pages=True,
        public_url=str(relay_url / "v2"),
    )
    sim = Simulator(config)
    await sim.start("127.0.0.1", 0)
    listen = sim.listen_url
    upstream.append((str(listen.host), int(listen.port or 80)))
    info = {
        "base_url": str(sim.base_url),
        "tokens": [sim.user_token(i) for i in range(users)],
        "vehicles": [[v["id"] for v in sim.data.vehicles_of(sim.user_id(i))] for i in range(users)],
        "records": sum(sim.data.log_count(k) for k in KINDS),
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
    }
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(65536) else None)
    await stop.wait()
    sys.stdout.write(json.dumps({"opened": opened, "max_open": max_open, "requests": sim.stats.requests}) + "\n")
    sys.stdout.flush()
    relay.close()
    await sim.close()


class Server:
    def __init__(self, users: int, vehicles: int, logs: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(users), str(vehicles), str(logs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        self.info: dict[str, Any] = json.loads(self.proc.stdout.readline())

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        counts: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return counts


# -- the client process ------------------------------------------------------------------------


async def child(spec: dict[str, Any]) -> None:
    from evenergy_async import EvEnergyClient
    from evenergy_async._harvest import Harvester, JsonlSink, SQLiteStateStore

    out = spec["out"]
    credentials = [(f"u{i}", t) for i, t in enumerate(spec["tokens"])]
    vehicles = {f"u{i}": ids for i, ids in enumerate(spec["vehicles"])}
    del spec
    t0 = time.perf_counter()
    c0 = time.process_time()
    async with (
        EvEnergyClient(base_url=os.environ["FLEET_BASE_URL"], max_connections=int(os.environ["FLEET_CONC"])) as client,
        SQLiteStateStore(os.path.join(out, "state.sqlite")) as state,
        Harvester(
            client,
            credentials=credentials,
            vehicles=vehicles,
            kinds=KINDS,
            state=state,
            concurrency=int(os.environ["FLEET_CONC"]),
        ) as harvester,
    ):
        report = await harvester.run(JsonlSink(out))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "rss": rss,
                "requests": report.http_requests,
                "records": report.records_total,
                "complete": report.complete,
            }
        )
    )


def lines_in(out: str) -> int:
    total = 0
    for kind in KINDS:
        path = os.path.join(out, f"{kind}_logs.jsonl")
        if os.path.exists(path):
            with open(path, "rb") as f:
                total += sum(1 for _ in f)
    return total


def run_scenario(tokens: int, vehicles_per_token: int, logs: int, concurrency: int) -> dict[str, Any]:
    server = Server(tokens, tokens * vehicles_per_token, logs)
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
            spec = Path(tmp) / "spec.json"
            spec.write_text(
                json.dumps({"out": tmp, "tokens": server.info["tokens"], "vehicles": server.info["vehicles"]})
            )
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "FLEET_BASE_URL": server.info["base_url"],
                "FLEET_CONC": str(concurrency),
            }
            proc = subprocess.Popen([sys.executable, __file__, "--child", str(spec)], stdout=subprocess.PIPE, env=env)
            assert proc.stdout is not None
            output = proc.stdout.read()
            proc.wait()
            result: dict[str, Any] = json.loads(output)
            result["exactly_once"] = result["complete"] and lines_in(tmp) == server.info["records"]
    finally:
        counts = server.stop()
    result.update(tokens=tokens, vehicles=tokens * vehicles_per_token, connections=counts["opened"])
    return result


def run_cli(tokens: int, vehicles_per_token: int, logs: int, concurrency: int) -> dict[str, Any]:
    server = Server(tokens, tokens * vehicles_per_token, logs)
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-cli-") as tmp:
            creds = Path(tmp) / "fleet.jsonl"
            creds.write_text("".join(json.dumps({"access_token": t}) + "\n" for t in server.info["tokens"]))
            out = os.path.join(tmp, "out")
            env = {**os.environ, "PYTHONPATH": str(ROOT), "EVENERGY_TOKEN": ""}
            argv = [sys.executable, "-m", "evenergy_async", "harvest", "--credentials", str(creds), "--out", out]
            argv += ["--base-url", server.info["base_url"], "--kinds", ",".join(KINDS), "--json", "-q"]
            argv += ["--concurrency", str(concurrency)]
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
            assert proc.stdout is not None
            output = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            report = json.loads(output)
            result = {
                "wall": wall,
                "cpu": usage.ru_utime + usage.ru_stime,
                "rss": usage.ru_maxrss * 1024,
                "requests": report["http_requests"],
                "exactly_once": os.waitstatus_to_exitcode(status) == 0 and lines_in(out) == server.info["records"],
            }
    finally:
        counts = server.stop()
    result.update(tokens=tokens, vehicles=tokens * vehicles_per_token, connections=counts["opened"])
    return result


def table(rows: list[dict[str, Any]], concurrency: int) -> str:
    out = [
        f"| tokens | vehicles | requests | wall | req/s | µs client CPU / request | peak RSS | TCP connections "
        f"(cap {concurrency}) | exactly once |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['tokens']:,} | {r['vehicles']:,} | {r['requests']:,} | {r['wall']:.2f} s | "
            f"{r['requests'] / r['wall']:,.0f} | {r['cpu'] / r['requests'] * 1e6:,.0f} | "
            f"{r['rss'] / 2**20:.0f} MB | {r['connections']} | {'yes' if r['exactly_once'] else 'NO'} |"
        )
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(child(json.loads(Path(sys.argv[2]).read_text())))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 vehicles instead of 10,000")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--logs", type=int, default=20, help="logs per vehicle and kind (one page)")
    parser.add_argument("--cli", type=int, metavar="N", help="the CLI with N tokens vs 50 tokens")
    args = parser.parse_args()
    if args.cli:
        n = args.cli
        # N tokens x 1 vehicle: N listings + 3N log pages; 50 tokens x V vehicles: 50*ceil(V/100) + 150V
        per = round(4 * n / 150)
        rows = [run_cli(50, per, args.logs, args.concurrency), run_cli(n, 1, args.logs, args.concurrency)]
        print(table(rows, args.concurrency))
        ratio = rows[1]["wall"] / rows[0]["wall"]
        print(
            f"\nwall {n} tokens / 50 tokens: {ratio:.2f} (target <= 1.25); connections "
            f"{rows[1]['connections']} (target <= {2 * args.concurrency}); peak RSS "
            f"{rows[1]['rss'] / 2**20:.0f} MB (target <= 150)"
        )
        return
    vehicles = 1_000 if args.quick else 10_000
    rows = [
        run_scenario(10, vehicles // 10, args.logs, args.concurrency),
        run_scenario(vehicles, 1, args.logs, args.concurrency),
    ]
    print(table(rows, args.concurrency))
    small, big = (r["cpu"] / r["requests"] for r in rows)
    print(f"\nclient CPU per request, {vehicles:,} tokens / 10 tokens: {big / small:.2f} (target <= 1.15)")


if __name__ == "__main__":
    main()
