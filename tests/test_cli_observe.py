"""The CLI's observability flags, run as a real subprocess against the simulator in this process:
Prometheus scraped during a harvest, the textfile after it, JSON log lines."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from evenergy_async._cli import token_label
from evenergy_async._harvest import LogKind
from evenergy_async.simulator import FaultConfig, Simulator, SimulatorConfig

from .spec_oracle import validated_simulator

ROOT = Path(__file__).resolve().parents[1]
SERIES = {
    "evenergy_harvest_records": "counter",
    "evenergy_http_requests": "counter",
    "evenergy_http_retries": "counter",
    "evenergy_harvest_partitions": "gauge",
    "evenergy_ratelimit_remaining": "gauge",
    "evenergy_sink_commit_seconds": "histogram",
    "evenergy_harvest_last_success_timestamp_seconds": "gauge",
}


@pytest.fixture
async def obs_sim() -> AsyncIterator[Simulator]:
    async with validated_simulator(SimulatorConfig(seed=5, users=1, vehicles=4, logs_per_kind=12)) as s:
        yield s


def env_for(sim: Simulator) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVENERGY_")}
    return {**base, "PYTHONPATH": str(ROOT), "EVENERGY_TOKEN": sim.user_token(0)}


async def start_cli(sim: Simulator, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evenergy_async",
        "harvest",
        "--base-url",
        str(sim.base_url),
        *args,
        env=env_for(sim),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_metrics_are_served_during_a_harvest(obs_sim: Simulator, tmp_path: Path) -> None:
    obs_sim.config.latency = 0.05  # a harvest of about 2 s: scraped while it runs
    port = free_port()
    proc = await start_cli(
        obs_sim, "--kinds", "status,command", "--page-size", "5", "--out", str(tmp_path), "--quiet",
        "--concurrency", "1", "--metrics-port", str(port),
    )  # fmt: skip
    scraped: list[str] = []
    async with aiohttp.ClientSession() as session:
        while proc.returncode is None:
            try:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    assert resp.status == 200
                    text = await resp.text()
                    if samples(text).get(("evenergy_http_requests_total", (("status", "200"),)), 0) > 0:
                        scraped.append(text)
            except aiohttp.ClientConnectionError:
                pass  # not listening yet (or any more)
            if len(scraped) >= 3:
                break
            await asyncio.sleep(0.1)
        code, _, err = await finish(proc)
    assert code == 0, err
    assert len(scraped) >= 3, "no scrape while the harvest ran"
    assert set(SERIES.items()) <= set(families(scraped[-1]).items())
    got = samples(scraped[-1])
    assert got[("evenergy_harvest_partitions", (("state", "pending"),))] >= 0
    assert got[("evenergy_harvest_last_success_timestamp_seconds", ())] == 0  # not yet
    with pytest.raises(aiohttp.ClientConnectionError):  # the server is gone with the run
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics"):
            pass


async def test_textfile_after_a_run(obs_sim: Simulator, tmp_path: Path) -> None:
    obs_sim.set_faults(FaultConfig(rate=0.0))
    vid = sorted(v["id"] for v in obs_sim.data.vehicles_of(obs_sim.user_id(0)))[0]
    obs_sim.inject_fault("http_503", count=2, path=f"/v2/vehicles/{vid}/status_logs")
    textfile = tmp_path / "metrics" / "evenergy.prom"
    textfile.parent.mkdir()
    out = tmp_path / "out"
    proc = await start_cli(
        obs_sim, "--kinds", "status,location", "--out", str(out), "--quiet", "--metrics-textfile", str(textfile)
    )
    code, _, err = await finish(proc)
    assert code == 0, err
    assert [p.name for p in textfile.parent.iterdir()] == ["evenergy.prom"]  # no temporary file left
    text = textfile.read_text()
    assert set(SERIES.items()) <= set(families(text).items())
    got = samples(text)
    vehicles = len(obs_sim.data.vehicles_of(obs_sim.user_id(0)))
    for kind in (LogKind.STATUS, LogKind.LOCATION):
        lines = (out / kind.filename).read_text().splitlines()
        assert got[("evenergy_harvest_records_total", (("kind", kind.value),))] == len(lines) == vehicles * 12
    assert got[("evenergy_harvest_partitions", (("state", "done"),))] == 2 * vehicles
    for state in ("failed", "parked", "pending"):
        assert got[("evenergy_harvest_partitions", (("state", state),))] == 0
    assert got[("evenergy_http_requests_total", (("status", "503"),))] == 2
    assert got[("evenergy_http_retries_total", (("reason", "503"),))] == 2
    requests = sum(v for (name, _), v in got.items() if name == "evenergy_http_requests_total")
    assert got[("evenergy_http_requests_total", (("status", "200"),))] == requests - 2
    assert 0 < got[("evenergy_ratelimit_remaining", ())] < 1000
    assert got[("evenergy_sink_commit_seconds_count", ())] >= 1
    first_success = got[("evenergy_harvest_last_success_timestamp_seconds", ())]
    assert first_success > 1.7e9
    assert not any("token" in dict(labels) for (_, labels) in got)  # no token label
    # a failing run keeps the last success of the previous one
    proc = await start_cli(
        obs_sim, "--kinds", "status", "--vehicle", "vhcl00000000000000000000000000", "--out", str(out),
        "--quiet", "--metrics-textfile", str(textfile),
    )  # fmt: skip
    code, _, err = await finish(proc)
    assert code == 1, err
    got = samples(textfile.read_text())
    assert got[("evenergy_harvest_last_success_timestamp_seconds", ())] == first_success
    assert got[("evenergy_harvest_partitions", (("state", "failed"),))] == 1
    assert got[("evenergy_http_requests_total", (("status", "404"),))] >= 1


async def test_textfile_that_cannot_be_written(obs_sim: Simulator, tmp_path: Path) -> None:
    """A textfile path that cannot be written at the start is a usage error before any record is
    fetched; one that stops being writable during the run is logged, and the harvest's own exit
    code stands (its data is complete)."""
    out = tmp_path / "out"
    code, _, err = await finish(
        await start_cli(obs_sim, "--out", str(out), "--quiet", "--metrics-textfile", str(tmp_path / "nope" / "m.prom"))
    )
    assert code == 2, err
    assert err.splitlines() == [f"evenergy-async: error: --metrics-textfile {tmp_path / 'nope' / 'm.prom'}: No such file or directory"]
    assert not [line for f in out.glob("*.jsonl") for line in f.read_text().splitlines()]  # no record fetched

    obs_sim.config.latency = 0.05  # a run of about 2 s
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    textfile = metrics_dir / "m.prom"
    proc = await start_cli(
        obs_sim, "--kinds", "status", "--page-size", "5", "--concurrency", "1", "--out", str(out), "--quiet",
        "--metrics-textfile", str(textfile), "--metrics-interval", "0.2",
    )  # fmt: skip
    for _ in range(200):  # the first write, at the start
        if textfile.exists() or proc.returncode is not None:
            break
        await asyncio.sleep(0.02)
    assert textfile.exists()
    textfile.unlink()
    metrics_dir.rmdir()  # gone while the harvest runs
    code, _, err = await finish(proc)
    assert code == 0, err
    assert f"metrics textfile {textfile} not written: No such file or directory" in err
    assert "Traceback" not in err
    vehicles = len(obs_sim.data.vehicles_of(obs_sim.user_id(0)))
    assert len((out / LogKind.STATUS.filename).read_text().splitlines()) == vehicles * 12


async def test_json_logs_are_one_object_a_line(obs_sim: Simulator, tmp_path: Path) -> None:
    vid = sorted(v["id"] for v in obs_sim.data.vehicles_of(obs_sim.user_id(0)))[0]
    obs_sim.inject_fault("http_503", path=f"/v2/vehicles/{vid}/command_logs")
    proc = await start_cli(
        obs_sim, "--kinds", "command", "--out", str(tmp_path), "--log-format", "json", "--log-level", "debug",
        "--progress-interval", "0.1",
    )  # fmt: skip
    code, out, err = await finish(proc)
    assert code == 0, err
    assert "harvest complete" in out  # the summary still goes to stdout
    records = [json.loads(line) for line in err.splitlines()]  # every stderr line is JSON: no progress line
    assert len(records) > 5
    assert len({r["run_id"] for r in records}) == 1
    assert all({"time", "level", "logger", "message", "run_id"} <= r.keys() for r in records)
    http = [r for r in records if r["logger"] == "evenergy_async.http" and "status" in r]
    assert http and all(r["level"] == "DEBUG" for r in http)
    page = next(r for r in http if r["route"] == "/vehicles/{vehicle_id}/command_logs")
    assert page["method"] == "GET" and page["status"] in (200, 503) and page["attempt"] >= 1
    assert page["token"] == token_label(obs_sim.user_token(0)) and page["kind"] == "command" and page["vehicle"].startswith("vhcl")
    retry = next(r for r in records if r.get("retry_reason") == "503")
    assert retry["level"] == "INFO" and retry["vehicle"] == vid
    finished = next(r for r in records if r["logger"] == "evenergy_async.harvest" and "records" in r)
    assert finished["level"] == "INFO" and finished["records"] == {"command": 4 * 12}
    assert obs_sim.user_token(0) not in err


def test_metrics_without_prometheus_client_is_a_usage_error(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from evenergy_async._cli import main\n"
        f"sys.exit(main(['harvest', '--out', {str(tmp_path)!r}, '--metrics-textfile', 'm.prom']))\n"
    )
    env = {**os.environ, "EVENERGY_TOKEN": "t", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "evenergy-async: error: --metrics-port/--metrics-textfile need prometheus-client: "
        "pip install 'evenergy_async[prometheus]'"
    ]
