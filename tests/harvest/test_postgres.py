"""PostgresSink and PostgresStateStore on a real server: schema, keys, untimed records, secrets,
the two commit paths, concurrent first use, and the lazy asyncpg import."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evenergy_async import EvEnergyClient, VehicleStatusLog
from evenergy_async._harvest import (
    DatabaseError,
    HarvestBatch,
    Harvester,
    LogKind,
    MemoryStateStore,
    PartitionState,
    PostgresSink,
    PostgresStateStore,
    SQLiteStateStore,
    TransactionalSink,
)
from evenergy_async._harvest._postgres import is_database_url, redact_dsn
from evenergy_async.simulator import Simulator

from ..pgserver import PgServer
from .conftest import ALL_KINDS, PostgresTarget, assert_exactly_once, expected_lines

ROOT = Path(__file__).resolve().parents[2]


def batch(vid: str, records: list[VehicleStatusLog], *, watermark: int | None = None) -> HarvestBatch:
    state = PartitionState(token="t", vehicle_id=vid, kind=LogKind.STATUS, watermark=watermark, records=len(records))
    return HarvestBatch(
        token="t", vehicle_id=vid, kind=LogKind.STATUS, records=tuple(records), page_url=None, last=True, state=state
    )


def test_dsn_redaction() -> None:
    assert redact_dsn("postgresql://u:s3cret@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert redact_dsn("postgres://u:p%40ss@h/x?sslmode=require") == "postgres://u:***@h/x?sslmode=require"
    assert redact_dsn("postgresql://u@h/x?password=s3cret&sslmode=require") == (
        "postgresql://u@h/x?password=***&sslmode=require"
    )
    assert redact_dsn("postgresql:///x?host=/run/pg") == "postgresql:///x?host=/run/pg"
    assert is_database_url("postgresql://h/x") and is_database_url("POSTGRES://h/x")
    assert not is_database_url("out/") and not is_database_url("sqlite:///x")
    with pytest.raises(ValueError) as info:
        PostgresSink("mysql://u:s3cret@h/x")
    assert "s3cret" not in str(info.value)
    with pytest.raises(ValueError, match="schema"):
        PostgresStateStore("postgresql://h/x", schema='x"; DROP TABLE y; --')


async def test_schema_tables_keys_and_version(pg_server: PgServer, pg_schema: str) -> None:
    async with PostgresSink(pg_server.dsn, schema=pg_schema) as sink:
        assert pg_server.password not in repr(sink) and "***" in repr(sink)
        assert pg_server.password not in sink.sink_id
    columns = pg_server.psql(
        "SELECT table_name || '.' || column_name || ':' || data_type FROM information_schema.columns "
        f"WHERE table_schema = '{pg_schema}' AND table_name = 'status_logs' ORDER BY ordinal_position"
    ).splitlines()
    assert columns == [
        "status_logs.vehicle_id:text",
        "status_logs.ts:timestamp with time zone",
        "status_logs.record:jsonb",
        "status_logs.fetched_at:timestamp with time zone",
    ]
    pk = pg_server.psql(
        f"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{pg_schema}.command_logs'::regclass "
        "AND contype = 'p'"
    )
    assert pk.strip() == "PRIMARY KEY (vehicle_id, ts)"
    tables = set(pg_server.psql(f"SELECT tablename FROM pg_tables WHERE schemaname = '{pg_schema}'").split())
    assert tables == {
        "status_logs",
        "location_logs",
        "command_logs",
        "error_logs",
        "untimed_logs",
        "partitions",
        "sink_checkpoints",
        "schema_version",
    }
    assert pg_server.psql(f"SELECT version FROM {pg_schema}.schema_version ORDER BY 1").split() == ["1", "2"]


async def test_concurrent_first_use_creates_the_schema_once(pg_server: PgServer, pg_schema: str) -> None:
    stores = [PostgresStateStore(pg_server.dsn, schema=pg_schema) for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    for s in stores:
        await s.close()
    assert pg_server.psql(f"SELECT count(*) FROM {pg_schema}.schema_version").strip() == "2"


@pytest.mark.parametrize("method", ["copy", "unnest"])
async def test_records_without_a_timestamp_are_kept_once(pg_server: PgServer, pg_schema: str, method: str) -> None:
    ts = datetime(2026, 11, 2, 3, 4, 5, 678901, tzinfo=UTC)
    timed = VehicleStatusLog(sampled_at=ts, state_of_charge_percentage=40)
    by_url = VehicleStatusLog(url="https://api.example/v2/odd/record", state_of_charge_percentage=41)
    bare_a = VehicleStatusLog(state_of_charge_percentage=42)
    bare_b = VehicleStatusLog(state_of_charge_percentage=43)
    async with (
        PostgresStateStore(pg_server.dsn, schema=pg_schema) as state,
        PostgresSink(pg_server.dsn, schema=pg_schema, method=method) as sink,
    ):
        assert isinstance(sink, TransactionalSink) and sink.shares_transaction(state)
        b = batch("v1", [timed, by_url, bare_a, bare_b], watermark=5)
        await sink.commit_with_state([b], [b.state])
        assert sink.records_written == 4 and sink.duplicates == 0
        await sink.commit_with_state([b], [b.state])  # the same records again: dropped, not lost or doubled
        assert sink.records_written == 4 and sink.duplicates == 4
        counts = await sink.counts()
        assert counts["status_logs"] == (1, 1) and counts["untimed_logs"] == (3, 3)
        rows = await sink.records(LogKind.STATUS)
        assert sorted(r["state_of_charge_percentage"] for _, r in rows) == [40, 41, 42, 43]
        loaded = await state.load("v1", LogKind.STATUS)  # keyed by (vehicle, kind); the label is informative
        assert loaded is not None and loaded.watermark == 5 and loaded.records == 4 and loaded.token == "t"
    async with PostgresSink(pg_server.dsn, schema=pg_schema, method=method) as sink:  # text PostgreSQL cannot hold
        odd = VehicleStatusLog(sampled_at=datetime(2026, 1, 1, tzinfo=UTC), data_source="a\x00b \\u0000 \\\x00")
        await sink.commit_with_state([batch("v2", [odd])], [])
        (row,) = [r for vid, r in await sink.records(LogKind.STATUS) if vid == "v2"]
        assert row["data_source"] == "a\ufffdb \\u0000 \\\ufffd"  # NUL -> U+FFFD, the rest as sent
    stored_ts = pg_server.psql(f"SELECT ts AT TIME ZONE 'UTC' FROM {pg_schema}.status_logs WHERE vehicle_id = 'v1'").strip()
    assert stored_ts == "2026-11-02 03:04:05.678901"


async def test_copy_goes_straight_in_and_a_record_already_there_stages_the_load(
    pg_server: PgServer, pg_schema: str
) -> None:
    """COPY writes a load straight into the table; when one of its records is already there the
    savepoint is rolled back and the load goes through the staging table: the new records are
    added, the old one counted as a duplicate, the untimed record kept once, and the state
    committed with them."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    recs = [
        VehicleStatusLog(sampled_at=base + timedelta(minutes=i), state_of_charge_percentage=i % 100) for i in range(700)
    ]
    untimed = VehicleStatusLog(state_of_charge_percentage=7)
    async with (
        PostgresStateStore(pg_server.dsn, schema=pg_schema) as state,
        PostgresSink(pg_server.dsn, schema=pg_schema, method="copy") as sink,
    ):
        first = batch("v1", recs[:500], watermark=1)
        await sink.commit_with_state([first], [first.state])
        assert (sink.records_written, sink.duplicates, sink.staged_loads) == (500, 0, 0)
        second = batch("v1", [*recs[499:], untimed], watermark=2)  # recs[499] is already there
        await sink.commit_with_state([second], [second.state])
        assert (sink.records_written, sink.duplicates, sink.staged_loads) == (701, 1, 1)
        third = batch("v2", recs[:450], watermark=3)  # another vehicle: nothing there, straight in
        await sink.commit_with_state([third], [third.state])
        assert (sink.records_written, sink.duplicates, sink.staged_loads) == (1151, 1, 1)
        counts = await sink.counts()
        assert counts["status_logs"] == (1150, 1150) and counts["untimed_logs"] == (1, 1)
        loaded = await state.load("v1", LogKind.STATUS)
        assert loaded is not None and loaded.watermark == 2
    stored = pg_server.psql(
        f"SELECT count(*), min(ts), max(ts) FROM {pg_schema}.status_logs WHERE vehicle_id = 'v1'"
    ).strip()
    assert stored.startswith("700|2026-11-01 00:00:00")


async def test_schemas_are_separate_and_a_newer_version_is_refused(pg_server: PgServer, pg_schema: str) -> None:
    other = pg_schema + "_b"
    async with PostgresSink(pg_server.dsn, schema=pg_schema) as a, PostgresSink(pg_server.dsn, schema=other) as b:
        await a.commit_with_state([batch("v", [VehicleStatusLog(sampled_at=datetime(2026, 1, 1, tzinfo=UTC))])], [])
        assert (await a.counts())["status_logs"] == (1, 1)
        assert (await b.counts())["status_logs"] == (0, 0)
        assert not a.shares_transaction(PostgresStateStore(pg_server.dsn, schema=other))
    pg_server.psql(f"INSERT INTO {pg_schema}.schema_version (version) VALUES (3)")
    with pytest.raises(DatabaseError, match="version 3, newer"):
        async with PostgresStateStore(pg_server.dsn, schema=pg_schema):
            pass


async def test_wrong_password_is_a_database_error_without_the_password(pg_server: PgServer) -> None:
    wrong = pg_server.dsn.replace(pg_server.password, "N0t-The-Password")
    with pytest.raises(DatabaseError) as info:
        async with PostgresSink(wrong):
            pass
    assert "N0t-The-Password" not in str(info.value) and "N0t-The-Password" not in repr(info.value)
    assert "password authentication failed" in str(info.value)
    with pytest.raises(RuntimeError, match="not open"):
        await PostgresStateStore(pg_server.dsn).partitions()


@pytest.mark.parametrize("state_kind", ["memory", "sqlite"])
async def test_postgres_sink_with_another_state_store(
    sim: Simulator, client: EvEnergyClient, pg_server: PgServer, pg_schema: str, tmp_path: Path, state_kind: str
) -> None:
    """Not one transaction: the records commit first, the state after; a re-run after losing the
    state re-sends everything and the primary keys drop it all."""
    target = PostgresTarget(pg_server.dsn, pg_schema)
    for attempt in range(2):
        state = MemoryStateStore() if state_kind == "memory" else SQLiteStateStore(tmp_path / f"s{attempt}.sqlite")
        async with state, target.sink() as sink, Harvester(client, kinds=ALL_KINDS, state=state, page_size=9) as h:
            assert not sink.shares_transaction(state)
            report = await h.run(sink)
        assert report.complete
        total = sum(report.records.values())
        assert (sink.records_written, sink.duplicates) == ((total, 0) if attempt == 0 else (0, total))
    vids = [v["id"] for v in sim.data.vehicles_of(sim.user_id(0))]
    for kind in ALL_KINDS:
        assert_exactly_once(await target.lines(kind), expected_lines(sim, kind, vids))


def test_the_core_imports_without_asyncpg() -> None:
    code = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "import asyncio, evenergy_async\n"
        "from evenergy_async import PostgresSink\n"
        "try:\n"
        "    asyncio.run(PostgresSink('postgresql://u:pw@127.0.0.1:9/x').open())\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert out.returncode == 0, out.stderr
    assert "evenergy_async[postgres]" in out.stdout


async def test_a_timed_sink_keeps_the_one_transaction(
    sim: Simulator, client: EvEnergyClient, pg_server: PgServer, pg_schema: str
) -> None:
    """The CLI's --metrics-* wrapper times commit_with_state and keeps records and states together."""
    from evenergy_async import HarvestMetrics

    metrics = HarvestMetrics()
    async with (
        PostgresStateStore(pg_server.dsn, schema=pg_schema) as state,
        PostgresSink(pg_server.dsn, schema=pg_schema) as inner,
    ):
        sink = metrics.wrap_sink(inner)
        assert isinstance(sink, TransactionalSink) and sink.shares_transaction(state)
        assert not metrics.wrap_sink(inner).shares_transaction(MemoryStateStore())
        async with Harvester(client, kinds=ALL_KINDS, state=state, page_size=9) as h:
            report = await h.run(sink)
        assert report.complete
        assert state.commits == 0 and inner.transactions > 0  # every state went in the sink's transactions
        assert len(await state.partitions()) == report.partitions_done
    observed = metrics.registry.get_sample_value("evenergy_sink_commit_seconds_count")
    assert observed == inner.transactions + 1  # and the empty commit() that pins the start


async def test_record_column_holds_the_record_as_the_api_sent_it(
    sim: Simulator, client: EvEnergyClient, pg_server: PgServer, pg_schema: str
) -> None:
    """``record`` is the server's JSON object itself (the sink takes wire records): a field the
    client's models do not know is kept, and nothing is re-encoded from a model."""
    vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
    for rec in sim.data.logs("status", vid):
        rec["x_new_field"] = {"from": "a newer API"}  # schema drift the models ignore
    target = PostgresTarget(pg_server.dsn, pg_schema)
    async with (
        target.state_store() as state,
        target.sink() as sink,
        Harvester(client, vehicles=[vid], kinds=[LogKind.STATUS], state=state) as h,
    ):
        assert (await h.run(sink)).complete
        rows = await sink.records(LogKind.STATUS)
    sent = {rec["url"]: rec for rec in sim.data.logs("status", vid)}
    assert len(rows) == len(sent) > 0
    for row_vid, rec in rows:
        assert row_vid == vid and rec == sent[rec["url"]]
