"""What a user varies between runs of one output and one state: ``since`` lowered (a backfill),
raised, lowered in steps, a backfill interrupted and resumed -- every record of the widest
window asked for so far comes exactly once, for each sink (JSONL + SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from evenergy_async._converter import parse_timestamp
from evenergy_async._harvest import (
    Harvester,
    LogKind,
    MemoryStateStore,
    PartitionState,
    PostgresSink,
    PostgresStateStore,
    SQLiteStateStore,
)
from evenergy_async.simulator import Simulator, SimulatorConfig

from ..pgserver import PgServer
from .conftest import Gated, JsonlTarget, Target, assert_exactly_once, make_client, normalized
from .test_crash import run_child

KINDS = (LogKind.STATUS, LogKind.COMMAND)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=31, users=2, vehicles=4, logs_per_kind=40)


def times(sim: Simulator) -> list[datetime]:
    """Every record's timestamp, oldest first."""
    out = []
    for vehicle in sim.data.vehicles:
        for kind in KINDS:
            out += [parse_timestamp(r[kind.time_field]) for r in sim.data.logs(kind.value, vehicle["id"])]
    return sorted(out)


def quantile(sim: Simulator, q: float) -> datetime:
    """A ``since`` between two records, ``q`` of the way through the data."""
    ts = times(sim)
    i = int(len(ts) * q)
    return ts[i - 1] + (ts[i] - ts[i - 1]) / 2


def expected(sim: Simulator, kind: LogKind, since: datetime | None) -> Counter[str]:
    out: Counter[str] = Counter()
    for vehicle in sim.data.vehicles:
        vid = vehicle["id"]
        for rec in sim.data.logs(kind.value, vid):
            if since is None or parse_timestamp(rec[kind.time_field]) >= since:
                out[vid + " " + normalized(kind, rec)] += 1
    return out


U0 = datetime(2026, 11, 21, tzinfo=UTC)  # the simulator's data ends on 2026-11-20
U1 = datetime(2026, 11, 26, tzinfo=UTC)


def add_logs(sim: Simulator, n: int, after: datetime) -> None:
    for vehicle in sim.data.vehicles:
        for kind in KINDS:
            sim.add_logs(kind.value, vehicle["id"], n, after=after)


async def harvest(
    sim: Simulator,
    target: Target,
    since: datetime | None,
    *,
    until: datetime | None = None,
    stop_after: int | None = None,
) -> Any:
    """One run over ``target``'s sink and state; with ``stop_after``, cancelled after that many deliveries."""
    clients = [make_client(sim, user) for user in range(sim.config.users)]
    for c in clients:
        await c.__aenter__()
    try:
        async with (
            target.state_store() as state,
            target.sink() as sink,
            Harvester(clients, kinds=KINDS, since=since, until=until, state=state, page_size=7, commit_batches=2) as h,
        ):
            if stop_after is None:
                return await h.run(sink)
            gated = Gated(sink, stop_after)
            task = asyncio.ensure_future(h.run(gated))
            waiter = asyncio.ensure_future(gated.reached.wait())
            await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
            assert not task.done(), "the run ended before it was stopped"
            task.cancel()
            waiter.cancel()
            await asyncio.gather(task, waiter, return_exceptions=True)
            return None
    finally:
        for c in clients:
            await c.close()


async def check(sim: Simulator, target: Target, since: datetime | None) -> None:
    for kind in KINDS:
        assert_exactly_once(await target.lines(kind), expected(sim, kind, since))


async def test_since_lowered_raised_and_lowered_in_steps(sim: Simulator, target: Target) -> None:
    s75, s50, s25 = quantile(sim, 0.75), quantile(sim, 0.5), quantile(sim, 0.25)
    report = await harvest(sim, target, s50, until=U0)
    assert report.complete
    await check(sim, target, s50)
    # raised: nothing again, and the new records come
    add_logs(sim, 2, U0)
    report = await harvest(sim, target, s75, until=U1)
    assert report.complete and sum(report.records.values()) == 2 * 2 * 4
    await check(sim, target, s50)
    # lowered: the records between the new and the old since come (a backfill), once
    report = await harvest(sim, target, s25, until=U1)
    assert report.complete and sum(report.records.values()) == sum(
        sum(expected(sim, k, s25).values()) - sum(expected(sim, k, s50).values()) for k in KINDS
    )
    await check(sim, target, s25)
    # lowered again, to the beginning; then the same run again adds nothing
    await harvest(sim, target, None, until=U1)
    await check(sim, target, None)
    report = await harvest(sim, target, None, until=U1)
    assert report.complete and sum(report.records.values()) == 0
    await check(sim, target, None)
    async with target.state_store() as state:
        rows = await state.partitions()
    assert rows and all(r.covered_since is None and not r.pass_backfill and r.cursor is None for r in rows)


async def test_since_raised_above_the_watermark_leaves_no_hole_for_a_later_backfill(
    sim: Simulator, target: Target
) -> None:
    # run 1 covers [s25, U0]; records arrive just after U0 and days later; run 2 asks since a
    # day after U0: it continues from the watermark (the records in between come too: what a
    # partition covered stays one interval), so run 3, back at s25, has no hole to fill and
    # repeats nothing
    s25 = quantile(sim, 0.25)
    await harvest(sim, target, s25, until=U0)
    add_logs(sim, 2, U0)
    add_logs(sim, 3, U0 + timedelta(days=3))
    report = await harvest(sim, target, U0 + timedelta(days=1), until=U1)
    assert report.complete and sum(report.records.values()) == 5 * 2 * 4
    await check(sim, target, s25)
    report = await harvest(sim, target, s25, until=U1)
    assert report.complete and sum(report.records.values()) == 0
    await check(sim, target, s25)


async def test_backfill_cancelled_mid_way_resumes_without_duplicates(sim: Simulator, target: Target) -> None:
    s75, s10 = quantile(sim, 0.75), quantile(sim, 0.1)
    await harvest(sim, target, s75)
    await harvest(sim, target, s10, stop_after=6)  # the backfill stopped after 6 deliveries
    async with target.state_store() as state:
        rows = await state.partitions()
    assert any(r.pass_backfill and r.cursor is not None for r in rows), "no backfill was left mid-way"
    # resumed by a run that asks for an even earlier since: it finishes the backfill, then another
    report = await harvest(sim, target, None)
    assert report.complete
    await check(sim, target, None)


async def test_backfill_sigkilled_and_restarted(sim: Simulator, target: Target) -> None:
    s60 = quantile(sim, 0.6)
    code, output = await run_child(sim, target, "", since=s60)
    assert code == 0, output
    for n in (5, 11):  # killed twice mid-backfill (the n-th HTTP response), then run to the end
        code, output = await run_child(sim, target, f"fetch:{n}")
        assert code == -signal.SIGKILL, output
    code, output = await run_child(sim, target, "")
    assert code == 0 and "harvest complete" in output, output
    for kind in LogKind:
        got = await target.lines(kind)
        assert_exactly_once(got, expected(sim, kind, None))


async def test_a_version_2_sqlite_state_migrates_as_covered_from_the_beginning(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    done = PartitionState(token="token0", vehicle_id="v", kind=LogKind.STATUS, watermark=500, tail_keys=("t:499",))
    running = PartitionState(token="token0", vehicle_id="v", kind=LogKind.COMMAND, watermark=500, cursor="c",
                             pass_until=900, pass_since=490)  # fmt: skip
    async with SQLiteStateStore(path) as store:
        await store.commit([done, running], sink_id="s", checkpoint="{}")
    conn = sqlite3.connect(path)  # back to what version 2 wrote
    conn.execute("ALTER TABLE partitions DROP COLUMN covered_since")
    conn.execute("ALTER TABLE partitions DROP COLUMN pass_backfill")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    async with SQLiteStateStore(path) as store:
        assert await store.partitions() == [running, done]  # covered_since None: the beginning
        assert await store.sink_checkpoint("s") == "{}"
        backfill = attrs.evolve(done, covered_since=100, pass_backfill=True, pass_until=99, cursor="x")
        await store.commit([backfill])
        assert await store.load("v", LogKind.STATUS) == backfill
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    conn.close()


async def test_a_version_1_postgres_schema_migrates(pg_server: PgServer) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    done = PartitionState(token="token0", vehicle_id="v", kind=LogKind.STATUS, watermark=500, tail_keys=("t:499",))
    async with PostgresStateStore(pg_server.dsn, schema=schema) as store:
        await store.commit([done])
    pg_server.psql(  # back to what version 1 wrote
        f"ALTER TABLE {schema}.partitions DROP COLUMN covered_since, DROP COLUMN pass_backfill;"
        f"DELETE FROM {schema}.schema_version WHERE version = 2"
    )
    async with PostgresStateStore(pg_server.dsn, schema=schema) as store:
        assert await store.partitions() == [done]
        backfill = attrs.evolve(done, covered_since=100, pass_backfill=True, pass_until=99, cursor="x")
        await store.commit([backfill])
        assert await store.load("v", LogKind.STATUS) == backfill
    assert pg_server.psql(f"SELECT version FROM {schema}.schema_version ORDER BY 1").split() == ["1", "2"]


async def test_a_postgres_sink_with_a_state_that_did_not_fill_it_drops_every_repeat(
    sim: Simulator, pg_server: PgServer, tmp_path: Path
) -> None:
    # the records' primary key (vehicle, timestamp) is the dedup: a PostgreSQL sink with a
    # SQLite or memory state that knows nothing of its tables adds nothing twice
    schema = f"t_{uuid.uuid4().hex[:12]}"
    clients = [make_client(sim, user) for user in range(sim.config.users)]
    for c in clients:
        await c.__aenter__()
    try:
        for state in (SQLiteStateStore(tmp_path / "one.sqlite"), SQLiteStateStore(tmp_path / "two.sqlite"),
                      MemoryStateStore()):  # fmt: skip
            async with state, PostgresSink(pg_server.dsn, schema=schema) as sink:
                async with Harvester(clients, kinds=KINDS, state=state, page_size=7) as h:
                    report = await h.run(sink)
                assert report.complete
                for kind in KINDS:
                    rows = await sink.records(kind)
                    got = Counter(vid + " " + normalized(kind, rec) for vid, rec in rows)
                    assert_exactly_once(got, expected(sim, kind, None))
    finally:
        for c in clients:
            await c.close()
    assert sink.duplicates == sum(sum(expected(sim, k, None).values()) for k in KINDS)  # the last run's


@pytest.mark.parametrize("cursor_case", ["another-base-url", "unmappable"])
async def test_a_pass_resumed_under_another_base_url_goes_on_without_duplicates(
    sim: Simulator, tmp_path: Path, cursor_case: str
) -> None:
    # passes left mid-way, their cursors then moved to what another base URL (a proxy, another
    # host name and base path for the same API) saved, or to page links naming no list path
    target = JsonlTarget(tmp_path)
    await harvest(sim, target, None, stop_after=5)
    base = str(sim.base_url)
    async with target.state_store() as state:
        running = [r for r in await state.partitions() if r.cursor is not None]
        assert running and all(r.cursor is not None and r.cursor.startswith(base) for r in running)
        if cursor_case == "another-base-url":
            moved = [
                attrs.evolve(r, cursor=(r.cursor or "").replace(base, "https://old-proxy.example/ev/v2"))
                for r in running
            ]
        else:
            moved = [attrs.evolve(r, cursor=f"https://old.example/v2/pages/{i}?p=2") for i, r in enumerate(running)]
        await state.commit(moved)
    report = await harvest(sim, target, None)
    assert report.complete and not report.failures, report.failures
    await check(sim, target, None)


@pytest.mark.parametrize("name", ["status_logs.jsonl", "error_logs.jsonl", ".evenergy-sink-id", "link-to-command"])
async def test_a_state_file_that_is_one_of_the_outputs_files_is_refused(
    sim: Simulator, tmp_path: Path, name: str
) -> None:
    """``state=`` naming a file the JSONL sink writes (a kind's file, even one not harvested
    now; its identity file; a link to one) would have the sink append to the database or cut
    it back: refused before any request or write, for the library as for the CLI."""
    out = tmp_path / "out"
    out.mkdir()
    if name == "link-to-command":
        (out / name).symlink_to(out / "command_logs.jsonl")
    before = sim.stats.requests
    async with make_client(sim, 0) as client, Harvester(client, kinds=KINDS, state=out / name) as h:
        with pytest.raises(ValueError, match=r"is the JSONL output's own file .*: the sink would append to it"):
            await h.run(out)
    assert sim.stats.requests == before
    state_file = (out / name).resolve()
    assert state_file.read_bytes().startswith(b"SQLite format 3\0")  # the sink did not touch it
    assert not [f for f in out.glob("*.jsonl") if f.resolve() != state_file and f.stat().st_size]
    # as the message says, that file holds no records: removed, the output works with a state elsewhere
    state_file.unlink()
    async with make_client(sim, 0) as client, Harvester(client, kinds=KINDS, state=tmp_path / "s.sqlite") as h:
        report = await h.run(out)
    assert report.complete and report.records_total > 0


CHANGES: dict[str, list[dict[str, Any]]] = {
    "page size": [{"page_size": 7, "stop_after": 5}, {"page_size": 40, "stop_after": 3}, {"page_size": 3}],
    "kinds reordered": [{"kinds": KINDS, "stop_after": 6}, {"kinds": KINDS[::-1]}],
    "a kind dropped, then back": [{"kinds": KINDS, "stop_after": 6}, {"kinds": KINDS[:1]}, {"kinds": KINDS[::-1]}],
    "overlap": [{"overlap": 0, "stop_after": 6}, {"overlap": 86400}],
    "concurrency": [{"concurrency": 1, "stop_after": 6}, {"concurrency": 16}],
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_settings_changed_between_interrupted_runs(sim: Simulator, target: Target, change: str) -> None:
    """Between runs of one output and state a user changes the page size, the kinds' order, the
    kinds, the overlap, the concurrency: each run cut short mid-pass, the last completes, every
    record comes exactly once."""
    for run in CHANGES[change]:
        settings = {"kinds": KINDS, "page_size": 7, "commit_batches": 2, **run}
        stop_after = settings.pop("stop_after", None)
        concurrency = settings.pop("concurrency", 8)
        clients = [make_client(sim, user) for user in range(sim.config.users)]
        async with (
            clients[0], clients[1],
            target.state_store() as state,
            target.sink() as sink,
            Harvester(clients, state=state, concurrency=concurrency, per_token_concurrency=concurrency, **settings) as h,
        ):  # fmt: skip
            if stop_after is None:
                assert (await h.run(sink)).complete
                continue
            gated = Gated(sink, stop_after)
            task = asyncio.ensure_future(h.run(gated))
            await gated.reached.wait()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await check(sim, target, None)
