"""Lifecycle, precomputed pages, the bare app, stats, and the standalone command."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from evenergy_async.simulator import Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator
from .helpers import bearer, get_json, links


async def test_start_close_lifecycle(session: aiohttp.ClientSession) -> None:
    sim = validated_simulator(SimulatorConfig(users=1, vehicles=1, logs_per_kind=2))
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    before = sim.data.logs("status", sim.data.vehicles[0]["id"])[0]["url"]
    base = await sim.start()
    assert str(base).startswith("http://127.0.0.1:") and base.path == "/v2"
    assert base.port != 0 and sim.origin == base.origin()
    after = sim.data.logs("status", sim.data.vehicles[0]["id"])[0]["url"]
    assert after.startswith(str(base)) and after.rsplit("/", 1)[1] == before.rsplit("/", 1)[1]
    with pytest.raises(RuntimeError):
        await sim.start()
    status, _, _ = await get_json(session, f"{base}/vehicle_makes")
    assert status == 200
    await sim.close()
    await sim.close()  # idempotent
    with pytest.raises(aiohttp.ClientConnectionError):
        await get_json(session, f"{base}/vehicle_makes")
    with pytest.raises(RuntimeError):
        await sim.start()


async def test_precomputed_pages_match_and_follow_new_logs(
    session: aiohttp.ClientSession,
) -> None:
    cfg = SimulatorConfig(users=1, vehicles=2, logs_per_kind=250, precompute_pages=True)
    async with validated_simulator(cfg) as sim:
        vid = sim.data.vehicles[0]["id"]
        h = bearer(sim.user_token(0))
        url = f"{sim.base_url}/vehicles/{vid}/location_logs?page_size=100"
        items = []
        while url != "about:blank":
            status, body, resp = await get_json(session, url, h)
            assert status == 200
            items.extend(body)
            url = links(resp)["next"]
        assert items == sim.data.logs("location", vid)
        added = sim.add_logs("location", vid, 3)
        status, body, _ = await get_json(
            session, f"{sim.base_url}/vehicles/{vid}/location_logs?page_size=100", h)
        assert body[:3] == added and len(body) == 100


async def test_bare_app_learns_its_origin(session: aiohttp.ClientSession) -> None:
    sim = validated_simulator(SimulatorConfig(users=1, vehicles=1, logs_per_kind=2))
    async with TestServer(sim.app()) as server:
        status, body, _ = await get_json(
            session, server.make_url("/v2/vehicles"), bearer(sim.user_token(0)))
        assert status == 200
        assert body[0]["url"].startswith(str(server.make_url("/v2/vehicles/")))
    await sim.close()


@pytest.mark.invalid_requests("one request without a token (counted as a 401)")
async def test_stats_count_requests_by_status_and_operation(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    h = bearer(simulator.user_token(0))
    await get_json(session, f"{simulator.base_url}/vehicles", h)
    await get_json(session, f"{simulator.base_url}/vehicles")
    await get_json(session, f"{simulator.base_url}/vehicle_makes")
    stats = simulator.stats
    assert stats.requests == 3
    assert stats.by_status == {200: 2, 401: 1}
    assert stats.by_operation == {"get-vehicles": 2, "get-vehicle_makes": 1}
    assert stats.by_kind == {"vehicles": 2, "catalogue": 1}
    stats.reset()
    assert stats.requests == 0 and not stats.by_status


async def test_latency_is_added(session: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    async with validated_simulator(SimulatorConfig(users=1, vehicles=1, logs_per_kind=1,
                                         latency=0.05)) as sim:
        t0 = loop.time()
        await get_json(session, f"{sim.base_url}/vehicle_makes")
        assert loop.time() - t0 >= 0.05


async def test_standalone_command_serves_until_interrupted(
    session: aiohttp.ClientSession,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evenergy_async.simulator", "--port", "0", "--vehicles", "2",
        "--logs", "3", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = []
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "the simulator exited early"
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        base = lines[0].split()[-1]
        token = next(ln.split()[3] for ln in lines if ln.strip().startswith("user 0 token"))
        assert any("client_secret" in ln for ln in lines)
        status, body, _ = await get_json(session, f"{base}/vehicles", bearer(token))
        assert status == 200 and len(body) == 1  # 2 vehicles over 3 users
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_standalone_command_that_cannot_start_says_why_in_one_line() -> None:
    """A port in use, a host that is not this machine's, an impossible port: one line on
    stderr and an exit code from the help's list, never a traceback."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [
            (["--port", str(port)], 1, f"cannot listen on 127.0.0.1:{port}: Address already in use"),
            (["--host", "no-such-host.invalid", "--port", "0"], 1, "cannot listen on no-such-host.invalid:0: "),
            (["--port", "99999"], 2, "argument --port: a port is 0..65535, got 99999"),
            (["--users", "0"], 2, "users must be > 0"),
        ]
        for args, code, says in cases:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "evenergy_async.simulator", *args,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            lines = err.decode().splitlines()
            assert proc.returncode == code, err
            assert len(lines) == 1 and lines[0].startswith("python -m evenergy_async.simulator: error: "), err
            assert says in lines[0]


@pytest.mark.invalid_requests("a request without a token; a path the document lacks")
async def test_caller_middlewares_are_outermost(session: aiohttp.ClientSession) -> None:
    """A caller's middleware sees every raw request and every final response: pipeline
    refusals (401, 404, 429), injected faults and OAuth answers included."""
    seen: list[tuple[str, int, str | None]] = []

    @web.middleware
    async def observe(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        resp = await handler(request)
        seen.append((request.path, resp.status, resp.headers.get("EvEnergy-Version")))
        return resp

    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=2, rate_limit=2)
    async with validated_simulator(cfg, middlewares=[observe]) as sim:
        base = sim.base_url
        h = bearer(sim.user_token(0))
        assert (await get_json(session, f"{base}/vehicles"))[0] == 401
        assert (await get_json(session, f"{base}/nowhere", h))[0] == 404
        sim.inject_fault("http_500", path="/v2/vehicles")
        assert (await get_json(session, f"{base}/vehicles", h))[0] == 500
        assert (await get_json(session, f"{base}/vehicles", h))[0] == 429
        async with session.post(sim.token_url, data={"grant_type": "password"}) as resp:
            assert resp.status == 400
    assert seen == [
        ("/v2/vehicles", 401, "2"),
        ("/v2/nowhere", 404, "2"),
        ("/v2/vehicles", 500, "2"),
        ("/v2/vehicles", 429, "2"),
        ("/o/token/", 400, "2"),
    ]
