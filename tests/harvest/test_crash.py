"""SIGKILL a harvest subprocess mid-run (while fetching, inside a sink write, inside a state
commit), restart it: in the end every record is in the output exactly once and the state
is sound -- for each sink (JSONL + SQLite state; PostgreSQL tables + state)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import pytest

from evenergy_async._harvest import LogKind, SQLiteStateStore
from evenergy_async.simulator import Simulator, SimulatorConfig

from .conftest import JsonlTarget, PostgresTarget, Target, assert_exactly_once, expected_lines

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=21, users=2, vehicles=8, logs_per_kind=20)


async def run_child(sim: Simulator, target: Target, kill_at: str, *, since: datetime | None = None) -> tuple[int, str]:
    env = {
        "HARVEST_SINCE": since.isoformat() if since is not None else "",
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HARVEST_BASE_URL": str(sim.base_url),
        "HARVEST_TOKENS": ",".join(sim.user_token(i) for i in range(sim.config.users)),
        **target.child_env(),
        "HARVEST_KILL_AT": kill_at,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")


@pytest.mark.parametrize(
    ("point", "first", "second"),
    [("fetch", 9, 40), ("write", 4, 15), ("commit", 3, 9), ("synced", 2, 7)],
)
async def test_sigkill_and_restart_delivers_every_record_once(
    sim: Simulator, target: Target, point: str, first: int, second: int
) -> None:
    for n in (first, second):
        code, output = await run_child(sim, target, f"{point}:{n}")
        assert code == -signal.SIGKILL, output  # it really died there, mid-run
    if point == "write" and isinstance(target, JsonlTarget):
        out = target.directory
        partial = [
            k for k in LogKind if (out / k.filename).exists() and not (out / k.filename).read_bytes().endswith(b"\n")
        ]
        ends = {k.value: (out / k.filename).read_bytes()[-40:] for k in LogKind if (out / k.filename).exists()}
        assert partial, f"the kill inside a write should leave a partial last line: {ends}"
    code, output = await run_child(sim, target, "")
    assert code == 0, output
    assert "harvest complete" in output
    if isinstance(target, PostgresTarget):
        assert "duplicates=0" in output, output  # the restart re-sent nothing that was committed
    for kind in LogKind:
        assert_exactly_once(await target.lines(kind), expected_lines(sim, kind))
    async with target.state_store() as store:
        if isinstance(store, SQLiteStateStore):
            assert await store.integrity_check() == "ok"
        rows = await store.partitions()
    assert len(rows) == 8 * 4 and all(r.cursor is None and r.watermark is not None for r in rows)
