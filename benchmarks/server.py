"""The benchmark server: evenergy_async's simulator in its own process.

    python benchmarks/server.py --vehicles 200 --logs 500 [--latency 0.02] [--port 0]

Log pages are serialized up front (``precompute_pages``), the rate limit is set far out of
reach (10^9 requests per 1 s window, so the limiter's window stays tiny) and one user owns
every vehicle, so one user token sees them all. Error logs are not generated (no peer
harvests them). Once listening it prints one JSON line on stdout (base URL, token, vehicle
IDs, records per kind); it serves until its stdin closes or it gets SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

from evenergy_async.simulator import Simulator, SimulatorConfig

KINDS = ("status", "location", "command")


def config(vehicles: int, logs: int, latency: float) -> SimulatorConfig:
    return SimulatorConfig(
        seed=1,
        users=1,
        vehicles=vehicles,
        logs_per_kind={**dict.fromkeys(KINDS, logs), "error": 0},
        rate_limit=10**9,
        rate_window=1.0,
        latency=latency,
        precompute_pages=True,
    )


async def serve(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    sim = Simulator(config(args.vehicles, args.logs, args.latency))
    await sim.start(host="127.0.0.1", port=args.port)
    try:
        vehicle_ids = [v["id"] for v in sim.data.vehicles]
        count = getattr(sim.data, "log_count", None)  # cheaper than decoding every series
        expected = {
            kind: count(kind) if count else sum(len(sim.data.logs(kind, vid)) for vid in vehicle_ids)
            for kind in KINDS
        }
        info = {
            "base_url": str(sim.base_url),
            "token": sim.user_token(0),
            "vehicle_ids": vehicle_ids,
            "expected": expected,
            "latency": args.latency,
            # every log is older than this: a fixed upper bound for harvesters that filter on one
            "until": sim.config.end.isoformat(),
            "setup_s": time.perf_counter() - t0,
        }
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(65536) else None)
        await stop.wait()
        loop.remove_reader(sys.stdin.fileno())
        sys.stderr.write(f"server: {sim.stats.requests} requests, by status {dict(sim.stats.by_status)}\n")
    finally:
        await sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--logs", type=int, default=500, help="logs per kind per vehicle")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
