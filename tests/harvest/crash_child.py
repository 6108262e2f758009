"""A harvest in a subprocess that SIGKILLs itself at a chosen point (used by test_crash.py).

Environment: ``HARVEST_BASE_URL``, ``HARVEST_TOKENS`` (comma-separated), the sink --
``HARVEST_OUT`` and ``HARVEST_STATE`` (JSONL files, SQLite state) or ``HARVEST_DSN`` and
``HARVEST_SCHEMA`` (PostgreSQL tables and state, one transaction), ``HARVEST_SINCE`` (ISO, may be
empty) -- and
``HARVEST_KILL_AT`` = ``<point>:<n>`` with point one of
``fetch`` (the n-th HTTP response's headers have arrived, its body not yet read),
``write`` (JSONL: the n-th sink write, half of its bytes on disk; PostgreSQL: the n-th
transaction has COPYed its first rows into the staging table) or
``commit`` (inside the n-th state transaction, before COMMIT) or
``synced`` (JSONL: the n-th sink commit has fsynced the files, its state commit has not
started; PostgreSQL: the n-th transaction has just committed).
Empty: run to completion.
The hooks are the public aiohttp trace API and the documented hook methods of the sink and
the state store, overridden in subclasses here; nothing in the library is patched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from typing import Any

import aiohttp

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async._harvest import Harvester, JsonlSink, LogKind, PostgresSink, PostgresStateStore, SQLiteStateStore

point, _, count = os.environ.get("HARVEST_KILL_AT", "").partition(":")
remaining = int(count or 0)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def tick(where: str) -> bool:
    global remaining
    if point != where:
        return False
    remaining -= 1
    return remaining == 0


class KillingSink(JsonlSink):
    def _write_chunks(self, handle: Any, chunks: list[bytes]) -> int:
        if tick("write"):
            data = b"".join(chunks)
            last_line = data.rfind(b"\n", 0, len(data) - 1) + 1
            handle.write(data[: last_line + (len(data) - last_line) // 2])  # ends mid-line
            handle.flush()
            die()
        return super()._write_chunks(handle, chunks)

    def _commit_sync(self, pending: dict[str, list[bytes]]) -> str:
        checkpoint = super()._commit_sync(pending)
        if tick("synced"):
            die()  # the files are fsynced, the state commit with their checkpoint never happens
        return checkpoint


class KillingState(SQLiteStateStore):
    def _before_commit(self) -> None:
        if tick("commit"):
            die()


class KillingPostgresSink(PostgresSink):
    def _after_copy(self) -> None:
        if tick("write"):
            die()

    def _before_commit(self) -> None:
        if tick("commit"):
            die()

    def _after_commit(self) -> None:
        if tick("synced"):
            die()


async def on_request_end(session: Any, ctx: Any, params: Any) -> None:
    if tick("fetch"):
        die()


async def main() -> int:
    base_url = os.environ["HARVEST_BASE_URL"]
    tokens = os.environ["HARVEST_TOKENS"].split(",")
    since = datetime.fromisoformat(os.environ["HARVEST_SINCE"]) if os.environ.get("HARVEST_SINCE") else None
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        clients = [
            EvEnergyClient(t, base_url=base_url, session=session, retry=RetryPolicy(max_attempts=3)) for t in tokens
        ]
        dsn = os.environ.get("HARVEST_DSN")
        if dsn:
            schema = os.environ["HARVEST_SCHEMA"]
            state: Any = PostgresStateStore(dsn, schema=schema)
            # COPY + staging even for these small pages (auto would take the unnest INSERT):
            # the kills land inside the staged load; the other tests cover unnest
            sink: Any = KillingPostgresSink(dsn, schema=schema, method="copy")
        else:
            state = KillingState(os.environ["HARVEST_STATE"])
            sink = KillingSink(os.environ["HARVEST_OUT"])
        async with (
            state,
            sink,
            Harvester(
                clients, kinds=tuple(LogKind), since=since, state=state, page_size=6, concurrency=6, commit_batches=3
            ) as h,
        ):
            report = await h.run(sink)
    print(report.summary())
    if isinstance(sink, PostgresSink):
        print(f"duplicates={sink.duplicates}")
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
