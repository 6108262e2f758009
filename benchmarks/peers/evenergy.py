"""Peer 5: evenergy_async, through its public API only.

``extra.mode``:
* ``harvester`` (default): the ``Harvester`` streaming ``HarvestBatch``es of typed records;
* ``paginators``: the plain client, ``client.status_logs.list(vid).pages()`` per partition
  in the same worker pool as peers 1-4;
* ``jsonl``: the harvester's ``run()`` into a ``JsonlSink`` with an SQLite state file, what
  the CLI does (durable, exactly once: every commit fsyncs the files, then commits the state).
  ``extra.out_dir`` (memory.py) keeps the output there; without it the peer writes to a
  temporary directory, checks the JSONL line count against the records after the timed run,
  and removes it. ``extra.fsync = False``: the sink does not fsync (not durable; shows what
  durability costs).

The harvester gets the vehicle IDs (no listing), the three kinds, ``concurrency`` and
``per_token_concurrency`` both C (one token), and a fixed ``until`` (the simulator's end):
by default it would use the run's start time, which makes every run's URLs new to the
server's page cache.
``extra.no_orjson``: hide orjson and msgspec before importing the library (as if the ``fast``
extra were not installed), to show what the stdlib fallback costs.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import Job, Tally, main, run_pool

ev: Any = None
Harvester: Any = None
JsonlSink: Any = None
PostgresSink: Any = None
PostgresStateStore: Any = None


def setup(job: Job) -> None:
    global ev, Harvester, JsonlSink, PostgresSink, PostgresStateStore
    if job.extra.get("mode") == "jsonl" and not job.extra.get("out_dir"):
        job.extra["_tmp_dir"] = tempfile.mkdtemp(prefix="evbench-jsonl-")
    if job.extra.get("mode") == "postgres":
        job.extra["_schema"] = f"bench_{uuid.uuid4().hex[:12]}"
    if job.extra.get("no_orjson"):
        sys.modules["orjson"] = None  # type: ignore[assignment]  # import orjson -> ImportError
        sys.modules["msgspec"] = None  # type: ignore[assignment]
    ev = importlib.import_module("evenergy_async")
    if job.extra.get("mode", "harvester") != "paginators":
        Harvester = getattr(ev, "Harvester", None)
        JsonlSink = getattr(ev, "JsonlSink", None)
        if Harvester is None:  # not re-exported at the top level yet: the package's own public names
            harvest_pkg = importlib.import_module("evenergy_async._harvest")
            Harvester, JsonlSink = harvest_pkg.Harvester, harvest_pkg.JsonlSink
            print("note: Harvester imported from evenergy_async._harvest", file=sys.stderr)
    if job.extra.get("mode") == "postgres":
        importlib.import_module("asyncpg")  # imported here (not timed), as the other peers' libraries
        PostgresSink, PostgresStateStore = ev.PostgresSink, ev.PostgresStateStore


def client_for(job: Job) -> Any:
    return ev.EvEnergyClient(auth=ev.BearerToken(job.token), base_url=job.base_url, max_connections=job.concurrency)


async def paginators(job: Job) -> Tally:
    async with client_for(job) as client:
        services = {"status": client.status_logs, "location": client.location_logs, "command": client.command_logs}

        wire = job.extra.get("wire")  # analysis only: the same pages as parsed JSON (no models)

        async def one(vid: str, kind: str, tally: Tally) -> None:
            paginator = services[kind].list(vid, page_size=job.page_size)
            if wire:
                paginator = paginator._with_structure(list)
            async for page in paginator.pages():
                tally.requests += 1
                tally.records += len(page.items)

        return await run_pool(job.partitions(), job.concurrency, one)


def harvester_for(job: Job, client: Any, **kwargs: Any) -> Any:
    return Harvester(
        client,
        vehicles=job.vehicle_ids,
        kinds=job.kinds,
        until=datetime.fromisoformat(job.extra["until"]),  # fixed, so every run asks the same pages
        page_size=job.page_size,
        concurrency=job.concurrency,
        per_token_concurrency=job.concurrency,  # one token here: the same limit C as the other peers
        **kwargs,
    )


def report_extra(report: Any) -> dict[str, Any]:
    return {
        "harvest_requests": report.requests,
        "http_requests": report.http_requests,
        "retries": report.retries,
        "max_buffered_records": report.max_buffered_records,
        "commits": report.commits,
    }


async def harvester(job: Job) -> Tally:
    tally = Tally()
    async with client_for(job) as client, harvester_for(job, client) as h:
        async for batch in h:
            tally.records += len(batch.records)
        tally.requests = h.report.requests
        tally.extra = report_extra(h.report)
    return tally


async def jsonl(job: Job) -> Tally:
    """The harvester's ``run()`` into a JsonlSink with an SQLite state file (the CLI's path)."""
    tally = Tally()
    out_dir = job.extra.get("out_dir") or job.extra["_tmp_dir"]
    # extra.state = "memory": an in-memory state (not durable; shows what the SQLite file costs)
    state = None if job.extra.get("state") == "memory" else os.path.join(out_dir, "harvest-state.sqlite")
    tuning = {k: job.extra[k] for k in ("queue_size", "commit_batches", "commit_interval") if k in job.extra}
    async with client_for(job) as client, harvester_for(job, client, state=state, **tuning) as h:
        report = await h.run(JsonlSink(out_dir, fsync=job.extra.get("fsync", True)))
        tally.records = report.records_total
        tally.requests = report.requests
        tally.extra = report_extra(report)
    return tally


async def postgres(job: Job) -> Tally:
    """The harvester's ``run()`` into PostgreSQL: sink and state in one database and schema."""
    tally = Tally()
    dsn, schema = job.extra["dsn"], job.extra["_schema"]
    tuning = {k: job.extra[k] for k in ("queue_size", "commit_batches", "commit_interval") if k in job.extra}
    async with (
        client_for(job) as client,
        PostgresStateStore(dsn, schema=schema) as state,
        harvester_for(job, client, state=state, **tuning) as h,
        PostgresSink(dsn, schema=schema) as sink,
    ):
        report = await h.run(sink)
        tally.records = report.records_total
        tally.requests = report.requests
        tally.extra = report_extra(report)
    return tally


async def _count_and_drop(dsn: str, schema: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        total = 0
        for kind in ("status", "location", "command"):
            total += await conn.fetchval(f'SELECT count(*) FROM "{schema}".{kind}_logs')
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        return int(total)
    finally:
        await conn.close()


def check_postgres(job: Job, result: dict[str, Any]) -> None:
    """After the timed run: the tables hold exactly the records reported (then the schema goes)."""
    import asyncio

    rows = asyncio.run(_count_and_drop(job.extra["dsn"], job.extra["_schema"]))
    if rows != result["records"]:
        raise SystemExit(f"PostgreSQL tables hold {rows} rows, the harvest reported {result['records']} records")
    result["table_rows"] = rows


def check_output(job: Job, result: dict[str, Any]) -> None:
    if job.extra.get("mode") == "postgres":
        check_postgres(job, result)
    else:
        check_jsonl(job, result)


def count_lines(directory: str) -> int:
    total = 0
    for path in Path(directory).glob("*.jsonl"):
        with path.open("rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""))
    return total


def check_jsonl(job: Job, result: dict[str, Any]) -> None:
    """After the timed run: the files hold exactly the records reported (then the temp dir goes)."""
    tmp = job.extra.get("_tmp_dir")
    if tmp is None:
        return
    try:
        lines = count_lines(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if lines != result["records"]:
        raise SystemExit(f"JSONL files hold {lines} lines, the harvest reported {result['records']} records")
    result["jsonl_lines"] = lines


async def harvest(job: Job) -> Tally:
    mode = job.extra.get("mode", "harvester")
    if mode == "paginators":
        return await paginators(job)
    if mode == "jsonl":
        return await jsonl(job)
    if mode == "postgres":
        return await postgres(job)
    return await harvester(job)


if __name__ == "__main__":
    main(harvest, setup=setup, after=check_output)
