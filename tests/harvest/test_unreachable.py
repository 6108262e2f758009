"""The API gone mid-harvest: the run stops with APIUnreachableError, commits what it delivered,
and a restart against the API back on the same address finishes exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from evenergy_async import (
    APIUnreachableError,
    EvEnergyClient,
    Harvester,
    RetryPolicy,
    SQLiteStateStore,
    TransportError,
)
from evenergy_async._harvest import LogKind
from evenergy_async.simulator import SimulatorConfig

from ..spec_oracle import validated_simulator

ROOT = Path(__file__).resolve().parents[2]
KINDS = (LogKind.STATUS, LogKind.COMMAND)
DATA = {"seed": 5, "users": 1, "vehicles": 6, "logs": 300}
UNREACHABLE_AFTER = 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_simulator(port: int) -> asyncio.subprocess.Process:
    """The simulator in its own process (so that it can die), serving DATA on ``port``."""
    args = [f"--{k}={v}" for k, v in DATA.items()]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evenergy_async.simulator",
        "--port",
        str(port),
        "--latency",
        "0.005",
        *args,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert b"serving" in line, line
    return proc


@pytest.fixture
async def port() -> AsyncIterator[int]:
    yield free_port()


def instant(row: dict[str, Any], kind: LogKind) -> datetime:
    return datetime.fromisoformat(row[kind.time_field].replace("Z", "+00:00"))


def lines(out: Path) -> dict[LogKind, Counter[tuple[str, datetime]]]:
    """Each kind's (vehicle, record time) -> how many lines hold it."""
    got = {}
    for kind in KINDS:
        path = out / kind.filename
        rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        got[kind] = Counter((r["vehicle_id"], instant(r, kind)) for r in rows)
    return got


def harvester(token: str, port: int, out: Path) -> tuple[EvEnergyClient, Harvester]:
    client = EvEnergyClient(
        token,
        base_url=f"http://127.0.0.1:{port}/v2",
        retry=RetryPolicy(max_attempts=2, backoff_base=0.1),
        timeout=5.0,
    )
    h = Harvester(
        client,
        kinds=KINDS,
        page_size=10,
        concurrency=4,
        per_token_concurrency=4,
        commit_batches=1,
        state=out / "state.sqlite",
        unreachable_after=UNREACHABLE_AFTER,
    )
    return client, h


async def test_api_gone_stops_the_run_and_a_restart_finishes_exactly_once(port: int, tmp_path: Path) -> None:
    reference = validated_simulator(SimulatorConfig(seed=5, users=1, vehicles=6, logs_per_kind=300))  # the same data
    token = reference.user_token(0)
    out = tmp_path / "out"
    proc = await start_simulator(port)
    try:
        client, h = harvester(token, port, out)
        async with client, h:
            run = asyncio.create_task(h.run(out))
            while not (out / "status_logs.jsonl").exists() or (out / "status_logs.jsonl").stat().st_size == 0:
                assert not run.done(), "the harvest ended before the simulator was killed"
                await asyncio.sleep(0.01)
            proc.kill()
            killed = time.monotonic()
            with pytest.raises(APIUnreachableError) as info:
                await asyncio.wait_for(run, 60)
            took = time.monotonic() - killed
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    error = info.value
    assert isinstance(error, TransportError)
    assert error.address == f"127.0.0.1:{port}" and error.address in str(error)
    assert token not in str(error) + repr(error)
    assert took < UNREACHABLE_AFTER + 10, f"the run took {took:.1f}s to give up"
    assert not h.report.failures, "the outage failed partitions instead of ending the run"
    first = lines(out)
    delivered = sum(sum(c.values()) for c in first.values())
    assert delivered > 0 and all(n == 1 for c in first.values() for n in c.values())
    async with SQLiteStateStore(out / "state.sqlite") as state:
        committed = sum(s.records for s in await state.partitions())
    assert committed == delivered  # the state covers exactly what the output holds

    proc = await start_simulator(port)  # the API back, on the same address, with the same data
    try:
        client, h = harvester(token, port, out)
        async with client, h:
            report = await h.run(out)
    finally:
        proc.kill()
        await proc.wait()
    assert not report.failures
    got = lines(out)
    for kind in KINDS:
        expected = {
            (v["id"], instant(r, kind))
            for v in reference.data.vehicles
            for r in reference.data.logs(kind.value, v["id"])
        }
        assert all(n == 1 for n in got[kind].values()), f"{kind}: duplicates"
        assert set(got[kind]) == expected, f"{kind}: {len(expected - set(got[kind]))} missing"


async def test_unreachable_after_must_be_positive() -> None:
    async with EvEnergyClient("tok") as client:
        with pytest.raises(ValueError, match="unreachable_after"):
            Harvester(client, unreachable_after=0)
        Harvester(client, unreachable_after=None)  # never give up
