"""What observability costs per request: µs per call of the client's pipeline, by configuration.

    python benchmarks/observe.py [--requests 20000] [--repeat 3] [--rounds 3] [--before /path/to/old/checkout]

Each configuration runs in its own subprocess: ``--requests`` sequential
``client.vehicle_makes.get(id)`` calls over a ``MockTransport`` that returns a prepared
response (no network, no server: only the client's own work is timed), in CPU µs per request
(``time.process_time``: the machine's other load does not count); ``--rounds`` subprocess
rounds interleaved over the configurations, ``--repeat`` timed loops in each; the table shows
the minimum (the least disturbed run) and the median.

* ``opentelemetry absent``: the import of ``opentelemetry`` fails (as without the ``otel`` extra);
* ``opentelemetry-api, no provider``: installed, no SDK configured (the API's no-op tracer);
* ``SDK provider, spans recorded``: an SDK ``TracerProvider`` whose processor drops the spans;
* ``3 hooks``: no-op ``on_request``/``on_response``/``on_retry`` (otel absent);
* ``DEBUG logs``: the ``evenergy_async`` loggers at DEBUG into a ``NullHandler`` (otel absent);
* ``before`` (with ``--before DIR``): the same calls on another checkout (e.g. main before the
  observability change), otel absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, json, logging, sys, time
mode, n, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode in ("absent", "hooks", "debug", "before"):
    sys.modules["opentelemetry"] = None
if mode == "before":  # the other checkout, not this one's editable install
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, sys.argv[4])
import evenergy_async as ev

MAKE = json.dumps({
    "id": "vmak01HKX5486FJQQT88JCVM0XP11Z",
    "url": "https://api.ev.energy/v2/vehicle_makes/vmak01HKX5486FJQQT88JCVM0XP11Z",
    "name": "Tesla",
    "icon": None,
    "onboarding_url": None,
    "models": "https://api.ev.energy/v2/vehicle_models?make_id=vmak01HKX5486FJQQT88JCVM0XP11Z",
}).encode()

def handler(request):
    return ev.Response.build(200, MAKE, {"Content-Type": "application/json"}, url=request.url)

kwargs = {}
if mode == "sdk":
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    kwargs["tracer_provider"] = provider
if mode == "hooks":
    noop = lambda event: None
    kwargs["hooks"] = ev.Hooks(on_request=noop, on_response=noop, on_retry=noop)
if mode == "debug":
    logger = logging.getLogger("evenergy_async")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logging.NullHandler())

async def main():
    results = []
    async with ev.EvEnergyClient("token", transport=ev.MockTransport(handler), **kwargs) as client:
        get = client.vehicle_makes.get
        for _ in range(500):
            await get("vmak01HKX5486FJQQT88JCVM0XP11Z")
        for _ in range(repeat):
            t0 = time.process_time()  # CPU time: other processes on the machine do not count
            for _ in range(n):
                await get("vmak01HKX5486FJQQT88JCVM0XP11Z")
            results.append((time.process_time() - t0) / n * 1e6)
    print(json.dumps(results))

asyncio.run(main())
"""

MODES = {
    "absent": "opentelemetry absent",
    "api": "opentelemetry-api, no provider",
    "sdk": "SDK provider, spans recorded",
    "hooks": "3 hooks (no-op)",
    "debug": "DEBUG logs (NullHandler)",
}


def run(mode: str, n: int, repeat: int, path: Path) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(n), str(repeat), str(path)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr}")
    values: list[float] = json.loads(out.stdout)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="subprocess rounds, interleaved over the configurations")
    parser.add_argument("--before", type=Path, help="another checkout to compare (run with otel absent)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    modes = (["before"] if args.before is not None else []) + list(MODES)
    for _ in range(args.rounds):  # interleaved: a noisy moment hits every configuration alike
        for mode in modes:
            path = args.before if mode == "before" else ROOT
            rows.setdefault(mode, []).extend(run(mode, args.requests, args.repeat, path))
    if args.json:
        print(json.dumps(rows))
        return
    base = min(rows["absent"])
    runs = args.rounds * args.repeat
    print(f"{args.requests} sequential requests over MockTransport; CPU µs per request, min and median of {runs} runs\n")
    print("| configuration | µs per request, min | median | min vs otel absent |")
    print("|---|---:|---:|---:|")
    labels = {"before": f"before ({args.before})", **MODES}
    for mode, values in rows.items():
        best = min(values)
        print(f"| {labels[mode]} | {best:.2f} | {statistics.median(values):.2f} | {best - base:+.2f} |")


if __name__ == "__main__":
    main()
