"""State stores, sinks and record keys, without a server."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evenergy_async import VehicleCommandLog, VehicleStatusLog
from evenergy_async._harvest import (
    HarvestBatch,
    JsonlSink,
    LogKind,
    MemorySink,
    MemoryStateStore,
    PartitionState,
    SinkError,
    SQLiteStateStore,
    StateStore,
    shard_of,
)
from evenergy_async._harvest._sinks import OutputInUseError, UnknownOutputError
from evenergy_async._harvest._types import record_key, record_time, to_micros

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
TS = datetime(2026, 11, 1, 9, 39, 45, 984584, tzinfo=UTC)
URL = f"https://api.ev.energy/v2/vehicles/{VID}/status_logs/2026-11-01T09:39:45.984584Z"


def state(vid: str = VID, kind: LogKind = LogKind.STATUS, **kw: object) -> PartitionState:
    return PartitionState(token="t", vehicle_id=vid, kind=kind, **kw)  # type: ignore[arg-type]


def batch(kind: LogKind, n: int, start: int = 0, vid: str = VID) -> HarvestBatch:
    records = tuple(
        VehicleStatusLog(url=f"{URL}-{i}", sampled_at=TS, state_of_charge_percentage=i) for i in range(start, start + n)
    )
    return HarvestBatch(
        token="t", vehicle_id=vid, kind=kind, records=records, page_url=None, last=False, state=state(vid, kind)
    )


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


# -- record keys --------------------------------------------------------------------------


def test_record_keys_prefer_url_then_timestamp_then_content() -> None:
    us = to_micros(TS)
    assert record_key(VehicleStatusLog(url=URL), LogKind.STATUS) == f"t:{us}"
    assert record_key(VehicleStatusLog(sampled_at=TS), LogKind.STATUS) == f"t:{us}"
    # the same record with and without its URL gets the same key
    assert record_key(VehicleStatusLog(url=URL, sampled_at=TS), LogKind.STATUS) == f"t:{us}"
    # command logs are keyed by logged_at, not sampled_at
    assert record_key(VehicleCommandLog(logged_at=TS), LogKind.COMMAND) == f"t:{us}"
    odd = "https://api.ev.energy/v2/vehicles/x/status_logs/not-a-time"
    assert record_key(VehicleStatusLog(url=odd), LogKind.STATUS) == f"u:{odd}"
    bare1 = record_key(VehicleStatusLog(state_of_charge_percentage=5), LogKind.STATUS)
    bare2 = record_key(VehicleStatusLog(state_of_charge_percentage=6), LogKind.STATUS)
    assert bare1.startswith("h:") and bare1 != bare2
    assert bare1 == record_key(VehicleStatusLog(state_of_charge_percentage=5), LogKind.STATUS)
    assert record_time(VehicleStatusLog(), LogKind.STATUS) is None


def test_log_kind_parsing() -> None:
    assert LogKind.parse_list("status, command_logs,status") == (LogKind.STATUS, LogKind.COMMAND)
    assert LogKind.ERROR.filename == "error_logs.jsonl" and LogKind.LOCATION.time_field == "sampled_at"
    with pytest.raises(ValueError, match="unknown log kind"):
        LogKind.parse_list("status,gps")
    with pytest.raises(ValueError, match="no log kinds"):
        LogKind.parse_list("")


def test_shard_is_stable_and_spread() -> None:
    assert shard_of(VID, 4) == shard_of(VID, 4)
    assert shard_of(VID, 1) == 0
    ids = [f"vhcl{i:026d}" for i in range(400)]
    counts = [sum(1 for v in ids if shard_of(v, 4) == s) for s in range(4)]
    assert min(counts) > 60  # roughly even
    assert shard_of("vhcl00000000000000000000000042", 7) == 3  # fixed forever: no process-seeded hash()


# -- state stores ---------------------------------------------------------------------------


async def test_sqlite_store_round_trip_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.sqlite"
    full = state(
        watermark=123,
        tail_keys=("t:1", "h:ab"),
        cursor="https://x/v2/vehicles/a/status_logs?page_after=z",
        pass_until=456,
        pass_since=None,
        pass_tail_keys=("t:9",),
        pass_tail_open=False,
        boundary_keys=("t:3", "u:https://x"),
        records=42,
        passes=2,
    )
    async with SQLiteStateStore(path) as store:
        assert isinstance(store, StateStore)
        assert await store.load(VID, LogKind.STATUS) is None
        await store.commit([state(records=1), full], sink_id="jsonl:/x", checkpoint='{"files":{}}')
        assert await store.load(VID, LogKind.STATUS) == full  # the later state of a partition wins
    async with SQLiteStateStore(path) as store:
        assert await store.load(VID, LogKind.STATUS) == full
        assert await store.sink_checkpoint("jsonl:/x") == '{"files":{}}'
        assert await store.sink_checkpoint("other") is None
        assert await store.partitions() == [full]
        assert await store.integrity_check() == "ok"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


class FailingCommit(SQLiteStateStore):
    def _before_commit(self) -> None:
        raise RuntimeError("crash inside the transaction")


async def test_sqlite_commit_is_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    async with SQLiteStateStore(path) as store:
        await store.commit([state(records=1)], sink_id="s", checkpoint="1")
    async with FailingCommit(path) as store:
        with pytest.raises(RuntimeError):
            await store.commit([state(records=2), state("vhcl" + "1" * 26, records=3)], sink_id="s", checkpoint="2")
        # nothing of the failed commit is visible: neither partition nor the checkpoint
        assert (await store.load(VID, LogKind.STATUS)).records == 1  # type: ignore[union-attr]
        assert await store.load("vhcl" + "1" * 26, LogKind.STATUS) is None
        assert await store.sink_checkpoint("s") == "1"


async def test_sqlite_store_refuses_other_schema_and_use_when_closed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    async with SQLiteStateStore(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="schema version 99"):
        await SQLiteStateStore(path).open()
    with pytest.raises(RuntimeError, match="not open"):
        await SQLiteStateStore(tmp_path / "other.sqlite").load(VID, LogKind.STATUS)


async def test_memory_store() -> None:
    store = MemoryStateStore()
    assert isinstance(store, StateStore)
    await store.commit([state(records=5)], sink_id="m", checkpoint="7")
    assert (await store.load(VID, LogKind.STATUS)).records == 5  # type: ignore[union-attr]
    assert await store.sink_checkpoint("m") == "7"


# -- sinks ------------------------------------------------------------------------------------


async def test_jsonl_sink_writes_lines_with_vehicle_id(tmp_path: Path) -> None:
    async with JsonlSink(tmp_path) as sink:
        await sink.recover(None)
        await sink.write(batch(LogKind.STATUS, 2))
        await sink.write(batch(LogKind.COMMAND, 0))  # an empty batch writes nothing
        checkpoint = await sink.commit()
    lines = (tmp_path / "status_logs.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["vehicle_id"] for r in rows] == [VID, VID]
    assert rows[0]["sampled_at"] == "2026-11-01T09:39:45.984584Z" and rows[1]["state_of_charge_percentage"] == 1
    assert next(iter(rows[0])) == "vehicle_id"
    assert not (tmp_path / "command_logs.jsonl").exists()
    assert checkpoint is not None
    assert json.loads(checkpoint) == {
        "files": {"status_logs.jsonl": len((tmp_path / "status_logs.jsonl").read_bytes())}
    }


async def test_jsonl_sink_recover_truncates_to_the_checkpoint(tmp_path: Path) -> None:
    async with JsonlSink(tmp_path) as sink:
        await sink.recover(None)
        await sink.write(batch(LogKind.STATUS, 3))
        checkpoint = await sink.commit()
        committed = (tmp_path / "status_logs.jsonl").read_bytes()
        await sink.write(batch(LogKind.STATUS, 2, start=10))  # written, never committed
        await sink.write(batch(LogKind.ERROR, 1))  # a file created after the checkpoint
        await sink.commit()  # (the state commit with this checkpoint never happened)
    append(tmp_path / "status_logs.jsonl", b'{"vehicle_id": "vhcl01HRFF3SEVSC')  # a crash mid-line
    async with JsonlSink(tmp_path) as sink:
        await sink.recover(checkpoint)
        assert (tmp_path / "status_logs.jsonl").read_bytes() == committed
        assert (tmp_path / "error_logs.jsonl").read_bytes() == b""
        await sink.write(batch(LogKind.STATUS, 1, start=20))
        again = await sink.commit()
    assert (tmp_path / "status_logs.jsonl").read_text().count("\n") == 4
    assert json.loads(again or "")["files"]["status_logs.jsonl"] == (tmp_path / "status_logs.jsonl").stat().st_size


async def test_jsonl_sink_without_checkpoint_refuses_records_or_only_cuts_a_partial_line(tmp_path: Path) -> None:
    (tmp_path / "location_logs.jsonl").write_bytes(b'{"a": 1}\n{"b": 2}\n{"c"')
    (tmp_path / "command_logs.jsonl").write_bytes(b'{"no newline at all"')
    async with JsonlSink(tmp_path) as sink:
        # records the state knows nothing of: appending would write them again
        with pytest.raises(UnknownOutputError, match=r"location_logs\.jsonl holds records that the state has no record"):
            await sink.recover(None)
    assert (tmp_path / "location_logs.jsonl").read_bytes() == b'{"a": 1}\n{"b": 2}\n{"c"'  # nothing cut
    assert (tmp_path / "command_logs.jsonl").read_bytes() == b'{"no newline at all"'
    async with JsonlSink(tmp_path, adopt_existing=True) as sink:
        await sink.recover(None)
    assert (tmp_path / "location_logs.jsonl").read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert (tmp_path / "command_logs.jsonl").read_bytes() == b""
    (tmp_path / "location_logs.jsonl").unlink()
    (tmp_path / "command_logs.jsonl").write_bytes(b'{"only a partial line"')
    async with JsonlSink(tmp_path) as sink:
        await sink.recover(None)  # a partial line is no record: cut
    assert (tmp_path / "command_logs.jsonl").read_bytes() == b""


@pytest.mark.parametrize("content", [b"SQLite format 3\x00\xf8\x01", b"\xe9t\xe9\n", b"x" * 9000])
def test_jsonl_sink_refuses_an_identity_file_it_did_not_write(tmp_path: Path, content: bytes) -> None:
    (tmp_path / ".evenergy-sink-id").write_bytes(content)
    with pytest.raises(SinkError, match=r"\.evenergy-sink-id is not a JSONL output's identity file"):
        JsonlSink(tmp_path).sink_id  # noqa: B018 - the property reads the file
    assert (tmp_path / ".evenergy-sink-id").read_bytes() == content  # left as it was


def test_jsonl_sink_keeps_a_legacy_identity_whatever_its_path_holds(tmp_path: Path) -> None:
    """A directory from before identity files is known by its path, which may hold a newline."""
    out = tmp_path / "odd\nname\t"
    out.mkdir()
    (out / "status_logs.jsonl").write_bytes(b"")
    ident = JsonlSink(out).sink_id
    assert ident == f"jsonl:{out}"
    assert JsonlSink(out).sink_id == ident  # read back as written


async def test_jsonl_sink_refuses_files_shorter_than_committed(tmp_path: Path) -> None:
    async with JsonlSink(tmp_path) as sink:
        await sink.recover(None)
        await sink.write(batch(LogKind.STATUS, 3))
        checkpoint = await sink.commit()
    (tmp_path / "status_logs.jsonl").write_bytes(b"{}\n")
    async with JsonlSink(tmp_path) as sink:
        with pytest.raises(SinkError, match="committed"):
            await sink.recover(checkpoint)
        with pytest.raises(SinkError, match="unreadable"):
            await sink.recover("not json")
    (tmp_path / "status_logs.jsonl").unlink()
    async with JsonlSink(tmp_path) as sink:
        with pytest.raises(SinkError, match="missing"):
            await sink.recover(checkpoint)


async def test_jsonl_sink_buffers_until_commit(tmp_path: Path) -> None:
    async with JsonlSink(tmp_path, buffer_bytes=10_000) as sink:
        await sink.recover(None)
        await sink.write(batch(LogKind.STATUS, 3))
        assert not (tmp_path / "status_logs.jsonl").exists()  # serialized, not written yet
        await sink.write(batch(LogKind.STATUS, 100, start=3))  # over buffer_bytes: written now
        assert (tmp_path / "status_logs.jsonl").read_text().count("\n") == 103
        await sink.write(batch(LogKind.STATUS, 1, start=200))
        await sink.recover(await sink.commit())
    assert (tmp_path / "status_logs.jsonl").read_text().count("\n") == 104


async def test_memory_sink_rolls_back_uncommitted() -> None:
    sink = MemorySink()
    await sink.recover(None)
    await sink.write(batch(LogKind.STATUS, 2))
    checkpoint = await sink.commit()
    await sink.write(batch(LogKind.STATUS, 5))
    await sink.recover(checkpoint)
    assert len(sink.records) == 2


async def test_a_jsonl_output_has_one_writer_at_a_time(tmp_path: Path) -> None:
    # two harvests appending to the same files would each deliver every record
    async with JsonlSink(tmp_path) as first:
        await first.recover(None)
        second = JsonlSink(tmp_path)
        with pytest.raises(OutputInUseError, match="in use by another harvest"):
            await second.open()
        with pytest.raises(OutputInUseError):
            await second.recover(None)  # opens on first use: refused the same way
    async with JsonlSink(tmp_path) as again:  # closed: free again
        await again.recover(None)


def test_jsonl_sink_identity_travels_with_its_directory(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    ident = JsonlSink(fresh).sink_id
    assert ident.startswith("jsonl:") and str(fresh) not in ident  # not the path: a moved output stays known
    assert JsonlSink(fresh).sink_id == ident  # kept in the directory
    fresh.rename(tmp_path / "moved")
    assert JsonlSink(tmp_path / "moved").sink_id == ident
    # an output written before identity files existed keeps the identity its state knows it by
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "status_logs.jsonl").write_bytes(b'{"a": 1}\n')
    assert JsonlSink(legacy).sink_id == f"jsonl:{legacy}"
    assert JsonlSink(legacy).sink_id == f"jsonl:{legacy}"


@pytest.mark.parametrize("limit", [None, 1, 7, 4096])
def test_jsonl_sink_writes_every_chunk_in_order_whatever_the_os_writes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    # the OS may write fewer bytes than asked (a signal, a nearly full disk): the sink goes on
    # from the first byte not written, across chunk boundaries and past IOV_MAX chunks
    import os

    from evenergy_async._harvest import _sinks

    calls: list[int] = []

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        calls.append(len(buffers))
        if limit is None:
            return os.writev(fd, buffers)
        return os.write(fd, b"".join(bytes(b) for b in buffers)[:limit])

    monkeypatch.setattr(_sinks, "_writev", short_writev)
    chunks = [b"a" * (i % 5) + b"\n" for i in range(3000)] + [b"", b"tail\n"]  # more than IOV_MAX
    sink = JsonlSink(tmp_path)
    with open(tmp_path / "out.jsonl", "ab") as handle:
        assert sink._write_chunks(handle, chunks) == sum(map(len, chunks))
    assert (tmp_path / "out.jsonl").read_bytes() == b"".join(chunks)
    assert max(calls) <= _sinks._IOV_MAX
    monkeypatch.setattr(_sinks, "_writev", None)  # a platform without writev: one joined write
    with open(tmp_path / "out.jsonl", "ab") as handle:
        sink._write_chunks(handle, chunks)
    assert (tmp_path / "out.jsonl").read_bytes() == b"".join(chunks) * 2


async def test_sqlite_state_page_cache_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cache_kib"):
        SQLiteStateStore(tmp_path / "s.sqlite", cache_kib=8)
    with pytest.raises(ValueError, match="cache_kib"):
        SQLiteStateStore(tmp_path / "s.sqlite", cache_kib=True)  # type: ignore[arg-type]
    for kib in (512, 4096):
        async with SQLiteStateStore(tmp_path / f"s{kib}.sqlite", cache_kib=kib) as store:
            await store.commit([state()])
            size = await store._run(lambda s=store: s._db().execute("PRAGMA cache_size").fetchone()[0])
            assert size == -kib
            assert await store.load(VID, LogKind.STATUS) == state()
