"""``evenergy-async harvest --out postgresql://...``: CLI workers as real subprocesses against the
simulator in this process and a real PostgreSQL server -- the way a Kubernetes Indexed Job runs
them (``--shard $(JOB_COMPLETION_INDEX)/N``), one of them SIGKILLed mid-run and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evenergy_async._harvest import LogKind, PostgresSink, PostgresStateStore, shard_of
from evenergy_async._harvest._verify import dict_record_key, expected_keys
from evenergy_async.simulator import Simulator, SimulatorConfig

from .pgserver import PgServer
from .spec_oracle import validated_simulator

ROOT = Path(__file__).resolve().parents[1]
KINDS = ",".join(k.value for k in LogKind)


@pytest.fixture
async def fleet() -> AsyncIterator[Simulator]:
    # a little latency per request, so a worker is still running when it is killed
    config = SimulatorConfig(seed=31, users=2, vehicles=30, logs_per_kind=60, latency=0.01)
    async with validated_simulator(config) as s:
        yield s


def _env(sim: Simulator, extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EVENERGY_", "PG"))}
    tokens = ",".join(sim.user_token(i) for i in range(sim.config.users))
    return {**base, "PYTHONPATH": str(ROOT), "EVENERGY_TOKEN": tokens, **(extra or {})}


async def _start(sim: Simulator, *args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evenergy_async",
        "harvest",
        "--base-url",
        str(sim.base_url),
        "--kinds",
        KINDS,
        "--page-size",
        "20",
        "--concurrency",
        "4",
        "--quiet",
        *args,
        env=_env(sim, env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def _committed_in_shard(dsn: str, schema: str, shard: int, of: int) -> int:
    async with PostgresStateStore(dsn, schema=schema) as state:
        rows = await state.partitions()
    return sum(1 for r in rows if shard_of(r.vehicle_id, of) == shard and r.records > 0)


async def test_three_workers_one_killed_and_restarted_exactly_once(
    fleet: Simulator, pg_server: PgServer, pg_schema: str
) -> None:
    dsn = pg_server.dsn
    n = 3
    common = ["--schema", pg_schema, "--json"]

    def worker(i: int) -> list[str]:
        # worker 0 takes the DSN from the environment; the others from --out/--state
        if i == 0:
            return [*common, "--shard", f"{i}/{n}"]
        return [*common, "--shard", f"{i}/{n}", "--out", dsn, "--state", dsn]

    env0 = {"EVENERGY_DATABASE_URL": dsn}
    procs = [await _start(fleet, *worker(i), env=env0 if i == 0 else None) for i in range(n)]
    victim = 1
    deadline = asyncio.get_running_loop().time() + 60
    while await _committed_in_shard(dsn, pg_schema, victim, n) < 3:
        assert procs[victim].returncode is None, "the worker finished before it could be killed"
        assert asyncio.get_running_loop().time() < deadline, "worker 1 committed nothing in 60 s"
        await asyncio.sleep(0.05)
    procs[victim].send_signal(signal.SIGKILL)
    code, _ = await _finish(procs[victim])
    assert code == -signal.SIGKILL  # killed mid-run
    killed_at = await _committed_in_shard(dsn, pg_schema, victim, n)
    shard_partitions = sum(1 for v in fleet.data.vehicles if shard_of(v["id"], n) == victim) * len(LogKind)
    assert killed_at < shard_partitions, "the killed worker had already finished its shard"

    restarted = await _start(fleet, *worker(victim))
    outputs = []
    for proc in [procs[0], restarted, procs[2]]:
        code, output = await _finish(proc)
        assert code == 0, output
        outputs.append(output)

    for output in outputs:
        assert pg_server.password not in output
        assert "***" in output  # the DSN is shown, redacted

    async with PostgresSink(dsn, schema=pg_schema) as sink:
        counts = await sink.counts()
        for kind in LogKind:
            rows, distinct = counts[kind.endpoint]
            total = fleet.data.log_count(kind.value)
            assert rows == distinct == total, (kind, rows, distinct, total)
            got = [(vid, dict_record_key(rec, kind)) for vid, rec in await sink.records(kind)]
            assert set(got) == expected_keys(fleet, kind)
        assert counts["untimed_logs"] == (0, 0)
    async with PostgresStateStore(dsn, schema=pg_schema) as state:
        parts = await state.partitions()
    assert len(parts) == len(fleet.data.vehicles) * len(LogKind)
    assert all(p.cursor is None and p.watermark is not None for p in parts)


async def test_rerun_is_incremental_and_the_schema_is_versioned(
    cli_sim_small: Simulator, pg_server: PgServer, pg_schema: str
) -> None:
    dsn = pg_server.dsn
    code, output = await _finish(await _start(cli_sim_small, "--out", dsn, "--schema", pg_schema))
    assert code == 0, output
    assert pg_server.password not in output
    again = await _start(cli_sim_small, "--out", dsn, "--schema", pg_schema, "--json")
    code, output = await _finish(again)
    assert code == 0, output
    assert '"records_total": 0' in output  # nothing new: nothing fetched twice
    version = pg_server.psql(f"SELECT max(version) FROM {pg_schema}.schema_version")
    assert version.strip() == "2"
    # a schema from a newer release is refused with one clear line, not a traceback
    pg_server.psql(f"INSERT INTO {pg_schema}.schema_version (version) VALUES (99)")
    code, output = await _finish(await _start(cli_sim_small, "--out", dsn, "--schema", pg_schema))
    assert code == 6, output
    assert "version 99" in output and "Traceback" not in output


async def test_bad_password_and_unreachable_server_are_one_line_without_the_password(
    cli_sim_small: Simulator, pg_server: PgServer, tmp_path: Path
) -> None:
    wrong = pg_server.dsn.replace(pg_server.password, "Wr0ng-Secret-Value")
    code, output = await _finish(await _start(cli_sim_small, "--out", wrong))
    assert code == 6, output
    assert "Wr0ng-Secret-Value" not in output and "Traceback" not in output
    assert "password authentication failed" in output and "***" in output
    nowhere = "postgresql://harvester:An0ther-Secret@127.0.0.1:9/nowhere"
    code, output = await _finish(await _start(cli_sim_small, "--out", str(tmp_path), "--state", nowhere))
    assert code == 6, output
    assert "An0ther-Secret" not in output and "Traceback" not in output
    code, output = await _finish(await _start(cli_sim_small, "--out", pg_server.dsn, "--schema", "x; DROP TABLE y"))
    assert code == 2 and "schema" in output, output
    assert pg_server.password not in output


@pytest.fixture
async def cli_sim_small() -> AsyncIterator[Simulator]:
    async with validated_simulator(SimulatorConfig(seed=4, users=2, vehicles=6, logs_per_kind=15)) as s:
        yield s
