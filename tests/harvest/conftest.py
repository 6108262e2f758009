"""Helpers for harvester tests: clients on the simulator and exact comparisons with its data."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from evenergy_async import (
    EvEnergyClient,
    RetryPolicy,
    VehicleAPIErrorLog,
    VehicleCommandLog,
    VehicleLocationLog,
    VehicleStatusLog,
)
from evenergy_async._converter import structure, unstructure
from evenergy_async._harvest import (
    HarvestBatch,
    JsonlSink,
    LogKind,
    PartitionState,
    PostgresSink,
    PostgresStateStore,
    SQLiteStateStore,
    StateStore,
)
from evenergy_async._harvest._verify import dict_record_key, harvested_keys
from evenergy_async.simulator import Simulator, SimulatorConfig

MODELS: dict[LogKind, Any] = {
    LogKind.STATUS: VehicleStatusLog,
    LogKind.LOCATION: VehicleLocationLog,
    LogKind.COMMAND: VehicleCommandLog,
    LogKind.ERROR: VehicleAPIErrorLog,
}

ALL_KINDS = tuple(LogKind)


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=11, users=3, vehicles=12, logs_per_kind=23)


def make_client(sim: Simulator, user: int, **kwargs: Any) -> EvEnergyClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
    kwargs.setdefault("sleep", no_sleep)
    return EvEnergyClient(sim.user_token(user), base_url=sim.base_url, **kwargs)


@pytest.fixture
async def clients(sim: Simulator) -> AsyncIterator[list[EvEnergyClient]]:
    """One client per simulator user; retries do not sleep."""
    opened = [make_client(sim, i) for i in range(sim.config.users)]
    for c in opened:
        await c.__aenter__()
    try:
        yield opened
    finally:
        for c in opened:
            await c.close()


def leftover_tasks() -> set[asyncio.Task[Any]]:
    """Tasks other than the current one, leaving out the in-process simulator's server tasks."""
    out = set()
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        coro = task.get_coro()
        qualname = getattr(coro, "__qualname__", "")
        if qualname.startswith("RequestHandler."):
            continue  # aiohttp.web serving the simulator in this same loop
        out.add(task)
    return out


def vehicles_of(sim: Simulator, user: int) -> list[str]:
    uid = sim.user_id(user)
    return [v["id"] for v in sim.data.vehicles_of(uid)]


def normalized(kind: LogKind, wire: dict[str, Any]) -> str:
    """A record's canonical JSON as the library models it (the harvest's line minus vehicle_id)."""
    data = unstructure(structure(wire, MODELS[kind]))
    return json.dumps(data, sort_keys=True)


def expected_lines(sim: Simulator, kind: LogKind, vehicle_ids: Iterable[str] | None = None) -> Counter[str]:
    ids = [v["id"] for v in sim.data.vehicles] if vehicle_ids is None else list(vehicle_ids)
    out: Counter[str] = Counter()
    for vid in ids:
        for rec in sim.data.logs(kind.value, vid):
            out[vid + " " + normalized(kind, rec)] += 1
    return out


def harvested_lines(directory: Path, kind: LogKind) -> Counter[str]:
    path = directory / kind.filename
    out: Counter[str] = Counter()
    if not path.exists():
        return out
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), "a partial last line was left in the output"
    for line in raw.splitlines():
        row = json.loads(line)
        vid = row.pop("vehicle_id")
        out[vid + " " + normalized(kind, row)] += 1  # lines hold the server's spelling (wire records)
    return out


def record_lines(records: Iterable[tuple[str, LogKind, Any]], kind: LogKind) -> Counter[str]:
    out: Counter[str] = Counter()
    for vid, k, rec in records:
        if k is kind:
            out[vid + " " + json.dumps(unstructure(rec), sort_keys=True)] += 1
    return out


def assert_exactly_once(got: Counter[str], expected: Counter[str]) -> None:
    dupes = [k for k, n in got.items() if n > 1]
    assert not dupes, f"{len(dupes)} duplicated records, e.g. {dupes[0][:120]}"
    missing = expected - got
    extra = got - expected
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} unexpected records"


# -- the sinks the exactly-once tests run against ---------------------------------------------


class JsonlTarget:
    """JSONL files in a directory, with the state in a SQLite file there (two commits per group)."""

    name = "jsonl"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def state_store(self) -> SQLiteStateStore:
        return SQLiteStateStore(self.directory / "state.sqlite")

    def sink(self) -> JsonlSink:
        return JsonlSink(self.directory)

    def child_env(self) -> dict[str, str]:
        return {"HARVEST_OUT": str(self.directory), "HARVEST_STATE": str(self.directory / "state.sqlite")}

    async def lines(self, kind: LogKind) -> Counter[str]:
        return harvested_lines(self.directory, kind)

    async def keys(self, kind: LogKind) -> list[tuple[str, str]]:
        return harvested_keys(str(self.directory / kind.filename), kind)


class PostgresTarget:
    """Tables in a PostgreSQL schema of the test's own, the state in the same schema (one transaction)."""

    name = "postgres"

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema

    def state_store(self) -> PostgresStateStore:
        return PostgresStateStore(self.dsn, schema=self.schema)

    def sink(self) -> PostgresSink:
        return PostgresSink(self.dsn, schema=self.schema)

    def child_env(self) -> dict[str, str]:
        return {"HARVEST_DSN": self.dsn, "HARVEST_SCHEMA": self.schema}

    async def rows(self, kind: LogKind) -> list[tuple[str, dict[str, Any]]]:
        async with self.sink() as sink:
            return await sink.records(kind)

    async def lines(self, kind: LogKind) -> Counter[str]:
        return Counter(vid + " " + normalized(kind, rec) for vid, rec in await self.rows(kind))  # the server's spelling (wire records)

    async def keys(self, kind: LogKind) -> list[tuple[str, str]]:
        return [(vid, dict_record_key(rec, kind)) for vid, rec in await self.rows(kind)]


Target = JsonlTarget | PostgresTarget


@pytest.fixture(params=["jsonl", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Each exactly-once test runs once per sink: JSONL + SQLite state, and PostgreSQL."""
    if request.param == "jsonl":
        return JsonlTarget(tmp_path)
    server = request.getfixturevalue("pg_server")
    return PostgresTarget(server.dsn, f"t_{uuid.uuid4().hex[:12]}")


class Gated:
    """A sink that lets ``limit`` deliveries through, then signals and blocks (to cancel there).

    A delivery is a ``write`` (JSONL) or a ``commit_with_state`` (a transactional sink).
    """

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.reached = asyncio.Event()

    @property
    def sink_id(self) -> str:
        return str(self.inner.sink_id)

    async def _gate(self) -> None:
        if self.limit <= 0:
            self.reached.set()
            await asyncio.Event().wait()
        self.limit -= 1

    async def recover(self, checkpoint: str | None) -> None:
        await self.inner.recover(checkpoint)

    async def write(self, batch: HarvestBatch) -> None:
        await self._gate()
        await self.inner.write(batch)

    async def commit(self) -> str | None:
        result: str | None = await self.inner.commit()
        return result

    def shares_transaction(self, state: StateStore) -> bool:
        return bool(getattr(self.inner, "shares_transaction", lambda _: False)(state))

    async def commit_with_state(self, batches: Sequence[HarvestBatch], states: Sequence[PartitionState]) -> None:
        await self._gate()
        await self.inner.commit_with_state(batches, states)

    async def close(self) -> None:
        await self.inner.close()
