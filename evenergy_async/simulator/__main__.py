"""``python -m evenergy_async.simulator``: serve the simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

from .._cli_observe import port_number
from ._app import Simulator
from ._config import SimulatorConfig
from ._faults import FaultConfig
from ._pages import DEFAULT_LINK_STYLE, LINK_STYLES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not the whole usage block."""
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m evenergy_async.simulator",
        description="Serve the ev.energy v2 (vehicles) simulator on HTTP until interrupted.",
        epilog="exit codes: 0 stopped (Ctrl-C or SIGTERM); 1 cannot listen on --host/--port "
        "(in use, not an address of this machine); 2 bad option",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8080, help="port (0: any free port)")
    p.add_argument("--seed", type=int, default=0, help="data seed")
    p.add_argument("--users", type=int, default=3, help="end users")
    p.add_argument("--vehicles", type=int, default=30, help="vehicles (round-robin over users)")
    p.add_argument("--logs", type=int, default=50, help="logs per vehicle and kind")
    p.add_argument("--rate-limit", type=int, default=1000, help="requests per window per bucket")
    p.add_argument("--rate-window", type=float, default=3600.0, help="rate-limit window (s)")
    p.add_argument("--latency", type=float, default=0.0, help="added latency per request (s)")
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="probability of a fault on log-list requests (default 0)")
    p.add_argument("--fault-seed", type=int, default=0, help="fault seed")
    p.add_argument(
        "--public-url", default=None, metavar="URL",
        help="the base URL clients use when it is not this listener (a reverse proxy, a "
             "container's published port), e.g. https://sim.example/api/v2: every Link, url "
             "field and problem instance names it; OAuth endpoints are under its parent",
    )
    p.add_argument(
        "--link-style", choices=sorted(LINK_STYLES), default=DEFAULT_LINK_STYLE,
        help="how list answers spell their Link header (every spelling is legal; bodies are "
             "the same): " + "; ".join(f"{k}: {v}" for k, v in LINK_STYLES.items()),
    )
    return p


class _CannotListen(Exception):
    pass


def _config(args: argparse.Namespace) -> SimulatorConfig:
    faults = FaultConfig(rate=args.fault_rate, seed=args.fault_seed) if args.fault_rate else None
    return SimulatorConfig(
        seed=args.seed, users=args.users, vehicles=args.vehicles, logs_per_kind=args.logs,
        rate_limit=args.rate_limit, rate_window=args.rate_window, latency=args.latency,
        faults=faults, link_style=args.link_style, public_url=args.public_url,
    )


async def _serve(args: argparse.Namespace, config: SimulatorConfig) -> None:
    sim = Simulator(config)
    try:
        base = await sim.start(args.host, args.port)
    except OSError as exc:
        await sim.close()
        # asyncio's bind error spells the address again: the system's own words are enough
        reason = exc.strerror if isinstance(exc, socket.gaierror) or not exc.errno else os.strerror(exc.errno)
        raise _CannotListen(f"cannot listen on {args.host}:{args.port}: {reason or exc}") from None
    try:
        print(f"ev.energy simulator serving {base}", flush=True)
        if sim.listen_url != base:
            print(f"  listening on:    {sim.listen_url}")
        print(f"  token endpoint:  {sim.token_url}")
        print(f"  client_id:       {sim.client_id}")
        print(f"  client_secret:   {sim.client_secret}")
        for i in range(config.users):
            print(f"  user {i} token:    {sim.user_token(i)}  ({sim.user_id(i)})")
        first = next(iter(sim.data.vehicles_by_id), None)
        if first is not None:
            print(f"  try: curl -H 'Authorization: Bearer {sim.user_token(0)}' "
                  f"{base}/vehicles")
        print("Press Ctrl-C to stop.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await sim.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = _config(args)
    except ValueError as exc:
        parser.error(str(exc))  # one line, exit status 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args, config))
    except _CannotListen as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    print("simulator stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
