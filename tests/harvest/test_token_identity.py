"""Partitions are the data's (vehicle, kind), not the token's label: reorder, add, remove or
rotate tokens between runs, or reach a vehicle through two tokens, and every record still
comes exactly once. Old state files (keyed by label) migrate without new duplicates."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from evenergy_async import HarvestBatch, Harvester, JsonlSink, SQLiteStateStore
from evenergy_async._harvest import LogKind, MemoryStateStore, PartitionState
from evenergy_async._harvest._state import merge_partition_states
from evenergy_async.simulator import Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator
from ..test_cli import cli
from .conftest import make_client

KINDS = (LogKind.STATUS, LogKind.COMMAND)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with validated_simulator(SimulatorConfig(seed=8, users=2, vehicles=6, logs_per_kind=23)) as s:
        yield s


def union(out: Path) -> dict[LogKind, Counter[tuple[str, str]]]:
    """Each kind's (vehicle, record URL) -> how many lines hold it."""
    got: dict[LogKind, Counter[tuple[str, str]]] = {}
    for kind in KINDS:
        path = out / kind.filename
        rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        got[kind] = Counter((r["vehicle_id"], r["url"]) for r in rows)
    return got


def expected(sim: Simulator) -> dict[LogKind, set[tuple[str, str]]]:
    vids = [v["id"] for v in sim.data.vehicles]
    return {kind: {(vid, r["url"]) for vid in vids for r in sim.data.logs(kind.value, vid)} for kind in KINDS}


def assert_exactly_once(sim: Simulator, out: Path) -> None:
    got = union(out)
    for kind, keys in expected(sim).items():
        lines = sum(got[kind].values())
        assert lines == len(got[kind]), f"{kind}: {lines - len(got[kind])} duplicate lines"
        assert set(got[kind]) == keys, f"{kind}: {len(keys - set(got[kind]))} missing"


def until(run: int) -> datetime:
    """Run ``run``'s ``until``: the simulator's data ends on 2026-11-20, a day a run."""
    return datetime(2026, 11, 21, tzinfo=UTC) + timedelta(days=run)


def add_logs(sim: Simulator, run: int) -> None:
    """Two new logs of every vehicle and kind for run ``run``: after the previous run's until."""
    for vehicle in sim.data.vehicles:
        for kind in KINDS:
            sim.add_logs(kind.value, vehicle["id"], 2, after=until(run - 1))


async def test_reordered_added_removed_rotated_and_shared_tokens_give_every_record_once(
    sim: Simulator, tmp_path: Path
) -> None:
    a, b = sim.user_token(0), sim.user_token(1)
    rotated = sim.issue_token(sim.user_id(0))["access_token"]  # a new token string for user 0
    app = sim.issue_token(None)["access_token"]  # the app's own token: it sees every vehicle
    base = ["harvest", "--kinds", "status,command", "--page-size", "10", "--out", str(tmp_path)]
    base += ["--base-url", str(sim.base_url), "--quiet", "--json"]
    runs = [
        ("A,B", f"{a},{b}"),
        ("B,A: reordered", f"{b},{a}"),
        ("A: two tokens -> one", a),
        ("A,B: one token -> two", f"{a},{b}"),
        ("A',B: A rotated", f"{rotated},{b}"),
        ("APP,A': a vehicle visible to two tokens", f"{app},{rotated}"),
        ("B,APP", f"{b},{app}"),
    ]
    fetched: list[int] = []
    for i, (name, tokens) in enumerate(runs):
        if i:
            add_logs(sim, i)
        code, out, err = await cli(*base, "--until", until(i).isoformat(), env={"EVENERGY_TOKEN": tokens})
        assert code == 0, (name, err)
        fetched.append(sum(json.loads(out)["records"].values()))
        got = union(tmp_path)
        assert all(n == 1 for kind in KINDS for n in got[kind].values()), f"duplicates after {name}"
    # every run after the first fetched only what was new (A alone left B's vehicles for later)
    new_per_run = len(sim.data.vehicles) * len(KINDS) * 2
    assert fetched[1] == new_per_run and fetched[3] + fetched[2] == 2 * new_per_run
    assert_exactly_once(sim, tmp_path)


# -- state files written by the version that keyed partitions by the token's label ---------

V1_DDL = (  # the schema of version 1 (evenergy_async before partitions were keyed by vehicle)
    """CREATE TABLE IF NOT EXISTS partitions (
        token TEXT NOT NULL, vehicle_id TEXT NOT NULL, kind TEXT NOT NULL, watermark INTEGER,
        tail_keys TEXT NOT NULL DEFAULT '[]', cursor TEXT, pass_until INTEGER, pass_since INTEGER,
        pass_tail_keys TEXT NOT NULL DEFAULT '[]', pass_tail_open INTEGER NOT NULL DEFAULT 1,
        boundary_keys TEXT NOT NULL DEFAULT '[]', records INTEGER NOT NULL DEFAULT 0,
        passes INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,
        PRIMARY KEY (token, vehicle_id, kind))""",
    "CREATE TABLE IF NOT EXISTS sink_checkpoints (sink_id TEXT PRIMARY KEY, checkpoint TEXT NOT NULL, "
    "updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def write_v1(path: Path, rows: list[tuple[str, PartitionState]], sink: tuple[str, str]) -> None:
    """A version 1 state file: ``rows`` are (label, state) as that version stored them."""
    conn = sqlite3.connect(path)
    for ddl in V1_DDL:
        conn.execute(ddl)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for label, s in rows:
        conn.execute(
            "INSERT INTO partitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'x')",
            (
                label, s.vehicle_id, s.kind.value, s.watermark, json.dumps(list(s.tail_keys)), s.cursor,
                s.pass_until, s.pass_since, json.dumps(list(s.pass_tail_keys)), int(s.pass_tail_open),
                json.dumps(list(s.boundary_keys)), s.records, s.passes,
            ),
        )  # fmt: skip
    conn.execute("INSERT INTO sink_checkpoints VALUES (?, ?, 'x')", sink)
    conn.commit()
    conn.close()


class Crashing(JsonlSink):
    """A JSONL sink that fails (as a kill would stop it) at its ``after``-th write."""

    def __init__(self, directory: Path, after: int) -> None:
        super().__init__(directory, adopt_existing=True)
        self.after = after

    async def write(self, batch: HarvestBatch) -> None:
        self.after -= 1
        if self.after < 0:
            raise RuntimeError("killed")
        await super().write(batch)


async def harvest_as_v1(
    sim: Simulator, out: Path, store: MemoryStateStore, order: list[int], crash_after: int | None, run: int
) -> dict[str, str]:
    """One run as version 1 did it, labels token0, token1... by position in ``order`` (user
    indices), into an empty store (as a label's state was after a reorder). Returns the
    label each vehicle's rows had (vehicle ID -> label)."""
    clients = [make_client(sim, user) for user in order]
    for c in clients:
        await c.__aenter__()
    try:
        async with Harvester(
            {f"token{i}": c for i, c in enumerate(clients)},
            kinds=KINDS,
            until=until(run),
            page_size=10,
            commit_batches=1,
            state=store,
        ) as harvester:
            # version 1 appended to an output its (empty) state did not know: adopt_existing
            sink = JsonlSink(out, adopt_existing=True) if crash_after is None else Crashing(out, crash_after)
            try:
                await harvester.run(sink)
            except RuntimeError:
                assert crash_after is not None
            finally:
                await sink.close()
    finally:
        for c in clients:
            await c.close()
    return {vid: f"token{i}" for i, user in enumerate(order) for vid in vehicles_of(sim, user)}


def vehicles_of(sim: Simulator, user: int) -> list[str]:
    return [v["id"] for v in sim.data.vehicles_of(sim.user_id(user))]


@pytest.mark.parametrize("crash_after", [7, 20, None])
async def test_a_state_file_keyed_by_label_migrates_without_new_duplicates(
    sim: Simulator, tmp_path: Path, crash_after: int | None
) -> None:
    out = tmp_path / "out"
    # run 1, tokens A,B (token0 = user 0): complete
    first = MemoryStateStore()
    labels1 = await harvest_as_v1(sim, out, first, [0, 1], None, 0)
    add_logs(sim, 1)
    # run 2, tokens B,A: version 1 found no state under the new labels and started over
    # (every record again), and was killed mid-way (or not)
    second = MemoryStateStore()
    labels2 = await harvest_as_v1(sim, out, second, [1, 0], crash_after, 1)
    rows = [(labels1[s.vehicle_id], s) for s in await first.partitions()]
    rows += [(labels2[s.vehicle_id], s) for s in await second.partitions()]
    sink_id = JsonlSink(out).sink_id
    checkpoint = await second.sink_checkpoint(sink_id) or await first.sink_checkpoint(sink_id)
    assert checkpoint is not None
    state_path = tmp_path / "state.sqlite"
    write_v1(state_path, rows, (sink_id, checkpoint))
    if crash_after is not None:
        assert any(s.cursor is not None for _, s in rows), "the crash left no unfinished pass"
    add_logs(sim, 2)

    # run 3, tokens B,A, this version: the file migrates; only what is missing is added
    async with JsonlSink(out) as sink:
        await sink.recover(checkpoint)  # what a restart sees: the output as last committed
    before = union(out)
    async with SQLiteStateStore(state_path) as state:
        migrated = await state.partitions()
        assert len(migrated) == len({(s.vehicle_id, s.kind) for _, s in rows})
        clients = [make_client(sim, user) for user in (1, 0)]
        for c in clients:
            await c.__aenter__()
        try:
            async with Harvester(clients, kinds=KINDS, until=until(2), page_size=10, state=state) as harvester:
                report = await harvester.run(out)
        finally:
            for c in clients:
                await c.close()
    assert not report.failures
    conn = sqlite3.connect(state_path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    conn.close()
    after = union(out)
    for kind, keys in expected(sim).items():
        added = after[kind] - before[kind]
        assert set(after[kind]) == keys, f"{kind}: {len(keys - set(after[kind]))} missing"
        assert all(n == 1 for n in added.values()), f"{kind}: a record was added twice"
        assert not set(added) & set(before[kind]), f"{kind}: {len(set(added) & set(before[kind]))} records again"
    # a run with nothing new adds nothing
    async with SQLiteStateStore(state_path) as state:
        clients = [make_client(sim, user) for user in (0, 1)]
        for c in clients:
            await c.__aenter__()
        try:
            async with Harvester(clients, kinds=KINDS, until=until(2), page_size=10, state=state) as harvester:
                report = await harvester.run(out)
        finally:
            for c in clients:
                await c.close()
    assert sum(report.records.values()) == 0 and union(out) == after


def test_merge_keeps_the_furthest_row_and_every_delivered_key() -> None:
    vid = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
    done = PartitionState(token="token0", vehicle_id=vid, kind=LogKind.STATUS, watermark=100, tail_keys=("t:95",),
                          records=10, passes=1)  # fmt: skip
    running = PartitionState(token="token1", vehicle_id=vid, kind=LogKind.STATUS, watermark=None, cursor="c",
                             pass_until=200, pass_tail_keys=("t:199",), boundary_keys=("t:150",), records=4)  # fmt: skip
    older = PartitionState(token="token2", vehicle_id=vid, kind=LogKind.STATUS, watermark=50, cursor="d",
                           pass_until=90, pass_tail_keys=("t:89",), boundary_keys=("t:80",), records=3)  # fmt: skip
    merged = merge_partition_states([done, running, older])
    # the pass that reached furthest continues, held to the highest watermark
    assert (merged.cursor, merged.pass_until, merged.watermark) == ("c", 200, 100)
    assert set(merged.tail_keys) == {"t:95", "t:89", "t:80"}
    assert (merged.records, merged.passes) == (17, 1)
    finished_first = merge_partition_states([attrs.evolve(running, pass_until=100), done])
    assert finished_first.cursor is None and finished_first.watermark == 100  # a finished row wins a tie
    assert merge_partition_states([done]) is done
