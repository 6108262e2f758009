"""Load rate of PostgresSink into a local PostgreSQL server: records/s per method and group size.

Each row loads the same records (the simulator's status, location and command logs, as the
harvester hands them to this sink: each record's JSON text, ``record_format = "json"``; ``--wire``:
the parsed objects, ``--typed``: models) through ``PostgresSink.commit_with_state`` -- what
``Harvester.run`` calls, with the partitions' states in the same transaction -- into a fresh
schema. The time includes making the rows (and, for ``--wire``/``--typed``, serializing the
records: the sink's own CPU), COPY/INSERT, the state upserts and COMMIT; it excludes HTTP
(measured in ``run.py``).

    .venv/bin/python benchmarks/postgres_load.py [--records 60000] [--rounds 3]

Starts a throwaway server with the default (durable: fsync on) settings from the OS
packages, as the tests do (tests/pgserver.py), or uses ``$EVENERGY_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evenergy_async import VehicleCommandLog, VehicleLocationLog, VehicleStatusLog, structure  # noqa: E402
from evenergy_async._harvest import HarvestBatch, LogKind, PartitionState, PostgresSink  # noqa: E402
from evenergy_async._harvest._types import dumps_each  # noqa: E402
from evenergy_async.simulator import SimulatorConfig  # noqa: E402
from evenergy_async.simulator._data import DataSet  # noqa: E402
from tests.pgserver import PgServer, start_server  # noqa: E402

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
            # the sink declares record_format = "json": the harvester gives it each record's JSON
            # text (--wire: the parsed objects; --typed: models)
            if TYPED:
                items: list[Any] = [structure(w, model) for w in wire]
            elif WIRE:
                items = list(wire)
            else:
                items = dumps_each(wire)
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
                        record_format="typed" if TYPED else "wire" if WIRE else "json",
                    )
                )
    return batches


TYPED = "--typed" in sys.argv  # models instead of the JSON texts the harvester hands this sink
WIRE = "--wire" in sys.argv  # parsed objects instead

_TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(directory: str | None) -> float:
    """CPU seconds used so far by the server's processes (the postmaster and its children)."""
    if directory is None:
        return float("nan")
    with open(os.path.join(directory, "data", "postmaster.pid")) as fh:
        postmaster = int(fh.readline())
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == postmaster or int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _TICK


@dataclass
class Measure:
    wall: float
    client_cpu: float
    server_cpu: float
    stored: int


async def load(server: PgServer, method: str, batches: list[HarvestBatch], group: int) -> Measure:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    async with PostgresSink(server.dsn, schema=schema, method=method) as sink:
        s0, c0, t0 = server_cpu(server.directory), time.process_time(), time.perf_counter()
        for i in range(0, len(batches), group):
            chunk = batches[i : i + group]
            await sink.commit_with_state(chunk, [b.state for b in chunk])
        wall = time.perf_counter() - t0
        client, srv = time.process_time() - c0, server_cpu(server.directory) - s0
        counts = await sink.counts()
    stored = sum(rows for table, (rows, _) in counts.items())
    return Measure(wall, client, srv, stored)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--groups", default="1,8,32,64", help="pages (of 100 records) per transaction")
    parser.add_argument("--typed", action="store_true", help="load models (the typed path) instead of JSON texts")
    parser.add_argument("--wire", action="store_true", help="load the parsed objects (record_format wire) instead")
    args = parser.parse_args()
    t0 = time.perf_counter()
    server = start_server(durable=True)
    print(f"server ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    try:
        batches = make_batches(args.records)
        total = sum(len(b) for b in batches)
        print(f"{total} records in {len(batches)} pages of up to {PAGE}", file=sys.stderr)
        rows: list[tuple[str, int, list[Measure]]] = []
        for method in ("copy", "unnest", "auto"):
            for group in (int(g) for g in args.groups.split(",")):
                runs = []
                for _ in range(args.rounds):
                    m = await load(server, method, batches, group)
                    assert m.stored == total, (m.stored, total)
                    runs.append(m)
                rows.append((method, group, runs))
                print(f"  {method} x{group}: {statistics.median(total / m.wall for m in runs):,.0f} records/s", file=sys.stderr)
    finally:
        server.stop()
    load1, load5, _ = os.getloadavg()
    print()
    print(
        f"PostgreSQL load rate: {total:,} records (status, location, command; ~{record_bytes(batches)} bytes of "
        f"JSON each), median of {args.rounds}, server with fsync on, 2 cores, load average {load1:.1f} "
        f"(5 min {load5:.1f}) at the end. CPU columns: microseconds per record in this process "
        "(wire JSON, COPY/bind encoding) and in the server's processes; their max bounds the rate "
        "on an idle 2-core machine (the two overlap while COPY streams).")
    print()
    print("| method | pages (100 records) per transaction | records/s wall (median, min-max) | client CPU us/record | server CPU us/record | records/s bound by CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for method, group, runs in rows:
        desc = {
            "copy": "COPY into the table (savepoint; staged on a key conflict)",
            "unnest": "INSERT ... unnest() ON CONFLICT",
            "auto": "auto (default: unnest below 100 records of a kind, else COPY)",
        }[method]
        rates = [total / m.wall for m in runs]
        client = statistics.median(m.client_cpu for m in runs) / total * 1e6
        srv = statistics.median(m.server_cpu for m in runs) / total * 1e6
        bound = 1e6 / max(client, srv) if max(client, srv) > 0 else float("nan")
        print(
            f"| {desc} | {group} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
            f"| {client:.1f} | {srv:.1f} | {bound:,.0f} |"
        )


def record_bytes(batches: list[HarvestBatch]) -> int:
    from evenergy_async import unstructure

    sample = [r for b in batches[:20] for r in b.records]
    sizes = (len(r) if isinstance(r, bytes) else len(json.dumps(unstructure(r))) for r in sample)
    return round(sum(sizes) / max(1, len(sample)))


if __name__ == "__main__":
    asyncio.run(main())
