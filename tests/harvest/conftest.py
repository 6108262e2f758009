"""Helpers for harvester tests: clients on the simulator and exact comparisons with its data."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable
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
from evenergy_async._harvest import LogKind
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
        out[vid + " " + json.dumps(row, sort_keys=True)] += 1
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
