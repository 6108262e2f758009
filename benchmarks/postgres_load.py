"""Load rate of PostgresSink into a local PostgreSQL server: records/s per method and group size.

Each row loads the same records (the simulator's status, location and command logs, as the
client decodes them) through ``PostgresSink.commit_with_state`` -- what ``Harvester.run``
calls, with the partitions' states in the same transaction -- into a fresh schema. The time
includes turning the records into wire JSON (the sink's own CPU), COPY/INSERT, the state
upserts and COMMIT; it excludes HTTP (measured in ``run.py``).

    .venv/bin/python benchmarks/postgres_load.py [--records 60000] [--rounds 3]

Starts a throwaway server with the default (durable: fsync on) settings from the OS
packages, as the tests do (tests/pgserver.py), or uses ``$EVENERGY_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evenergy_async import VehicleCommandLog, VehicleLocationLog, VehicleStatusLog, structure  # noqa: E402
from evenergy_async._harvest import HarvestBatch, LogKind, PartitionState, PostgresSink  # noqa: E402
from evenergy_async.simulator import SimulatorConfig  # noqa: E402
from evenergy_async.simulator._data import DataSet  # noqa: E402
from tests.pgserver import start_server  # noqa: E402

PAGE = 100
KINDS = (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND)
MODELS: dict[LogKind, Any] = {
    LogKind.STATUS: VehicleStatusLog,
    LogKind.LOCATION: VehicleLocationLog,
    LogKind.COMMAND: VehicleCommandLog,
}


def make_batches(records: int) -> list[HarvestBatch]:
    per_kind = records // len(KINDS)
    logs = 200
    vehicles = max(1, per_kind // logs)
    data = DataSet(SimulatorConfig(seed=5, users=1, vehicles=vehicles, logs_per_kind=logs))
    batches: list[HarvestBatch] = []
    for kind in KINDS:
        model = MODELS[kind]
        for vehicle in data.vehicles:
            vid = vehicle["id"]
            wire = data.logs(kind.value, vid)
            items = [structure(w, model) for w in wire]
            pages = [items[i : i + PAGE] for i in range(0, len(items), PAGE)]
            for n, page in enumerate(pages):
                last = n == len(pages) - 1
                state = PartitionState(token="bench", vehicle_id=vid, kind=kind, watermark=1, records=n)
                batches.append(
                    HarvestBatch(
                        token="bench",
                        vehicle_id=vid,
                        kind=kind,
                        records=tuple(page),
                        page_url=None,
                        last=last,
                        state=state,
                    )
                )
    return batches


async def load(dsn: str, method: str, batches: list[HarvestBatch], group: int) -> tuple[float, int]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    async with PostgresSink(dsn, schema=schema, method=method) as sink:
        t0 = time.perf_counter()
        for i in range(0, len(batches), group):
            chunk = batches[i : i + group]
            await sink.commit_with_state(chunk, [b.state for b in chunk])
        elapsed = time.perf_counter() - t0
        counts = await sink.counts()
    stored = sum(rows for table, (rows, _) in counts.items())
    return elapsed, stored


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--groups", default="1,8,32,64", help="pages (of 100 records) per transaction")
    args = parser.parse_args()
    t0 = time.perf_counter()
    server = start_server(durable=True)
    print(f"server ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    try:
        batches = make_batches(args.records)
        total = sum(len(b) for b in batches)
        print(f"{total} records in {len(batches)} pages of up to {PAGE}", file=sys.stderr)
        rows: list[tuple[str, int, list[float]]] = []
        for method in ("copy", "unnest", "auto"):
            for group in (int(g) for g in args.groups.split(",")):
                rates = []
                for _ in range(args.rounds):
                    elapsed, stored = await load(server.dsn, method, batches, group)
                    assert stored == total, (stored, total)
                    rates.append(total / elapsed)
                rows.append((method, group, rates))
                print(f"  {method} x{group}: {statistics.median(rates):,.0f} records/s", file=sys.stderr)
    finally:
        server.stop()
    print()
    print(f"PostgreSQL load rate, {total:,} records, median of {args.rounds} (min-max), fsync on, 2 cores:")
    print()
    print("| method | pages per transaction | records per transaction | records/s (median) | min - max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for method, group, rates in rows:
        desc = {
            "copy": "COPY to staging + INSERT ON CONFLICT",
            "unnest": "INSERT ... unnest() ON CONFLICT",
            "auto": "auto (the default: unnest below 2,000 records of a kind, else COPY)",
        }[method]
        print(
            f"| {desc} | {group} | {group * PAGE:,} | {statistics.median(rates):,.0f} "
            f"| {min(rates):,.0f} - {max(rates):,.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
