"""The simulator behind a reverse proxy: ``public_url`` names the proxy in every Link, url
field, Location and problem instance, and the client lists completely through the proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async._harvest import Harvester, LogKind
from evenergy_async.simulator import SimulatorConfig

from .conftest import no_sleep
from .harvest.conftest import assert_exactly_once, expected_lines, harvested_lines
from .spec_oracle import validated_simulator

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
              "content-encoding", "te", "trailer", "upgrade"}
TARGET: web.AppKey[list[URL]] = web.AppKey("target")


async def forward(request: web.Request) -> web.StreamResponse:
    """Forward the request as received (raw path, headers, body) to the upstream origin."""
    upstream = request.app[TARGET][0]
    raw = request.raw_path
    if raw.startswith("/api/"):  # a proxy mounting the API under a prefix
        raw = raw[len("/api"):]
    headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP)
    async with aiohttp.ClientSession(auto_decompress=False) as session, session.request(
        request.method, URL(str(upstream) + raw, encoded=True), headers=headers,
        data=await request.read(), allow_redirects=False,
    ) as up:
        body = await up.read()
        out = web.Response(status=up.status, body=body)
        for k, v in up.headers.items():
            if k.lower() not in HOP_BY_HOP:
                out.headers.add(k, v)
        return out


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[URL, list[URL]]]:
    """A tiny reverse proxy on a free loopback port; set its upstream in the returned list."""
    app = web.Application()
    target: list[URL] = []
    app[TARGET] = target
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield URL(f"http://127.0.0.1:{port}"), target
    finally:
        await runner.cleanup()


@pytest.mark.invalid_requests("a make ID with a space (its problem instance)")
@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_lists_through_a_reverse_proxy(proxy: tuple[URL, list[URL]], prefix: str,
                                             tmp_path: Path) -> None:
    origin, target = proxy
    public = f"{origin}{prefix}/v2"
    cfg = SimulatorConfig(seed=4, users=2, vehicles=8, logs_per_kind=23, public_url=public)
    async with validated_simulator(cfg) as sim:
        target.append(sim.listen_url.origin())
        assert str(sim.base_url) == public
        assert sim.listen_url.port != origin.port
        assert str(sim.token_url) == f"{origin}{prefix}/o/token/"
        vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
        h = {"Authorization": f"Bearer {sim.user_token(0)}"}
        async with aiohttp.ClientSession() as session:
            # every URL served names the proxy, also when asked at the listener directly
            for base in (sim.base_url, sim.listen_url):
                async with session.get(f"{base}/vehicles?page_size=2", headers=h) as r:
                    assert r.status == 200
                    assert r.headers["Link"].count(f"<{public}/vehicles?") == 1
                    body = await r.json()
                    assert body[0]["url"] == f"{public}/vehicles/{body[0]['id']}"
                async with session.get(f"{base}/vehicles/{vid}/status_logs?page_size=3",
                                       headers=h) as r:
                    assert f"<{public}/vehicles/{vid}/status_logs?" in r.headers["Link"]
                    assert (await r.json())[0]["url"].startswith(f"{public}/vehicles/{vid}/")
                async with session.get(URL(f"{base}/vehicle_makes/a%20b", encoded=True)) as r:
                    assert (await r.json(content_type=None))["instance"] == \
                        f"{public}/vehicle_makes/a%20b"
            async with session.post(sim.token_url, data={
                    "grant_type": "client_credentials", "client_id": sim.client_id,
                    "client_secret": sim.client_secret}) as r:
                assert r.status == 200  # the OAuth endpoints through the proxy too

        async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, sleep=no_sleep,
                                  retry=RetryPolicy(max_attempts=2)) as client:
            got = [v.id async for v in client.vehicles.list(page_size=2)]
            assert got == [v["id"] for v in sim.data.vehicles_of(sim.user_id(0))]
            makes = [m.id async for m in client.vehicle_makes.list(page_size=4)]
            assert makes == [m["id"] for m in sim.data.makes]
            logs = [rec.sampled_at async for rec in client.status_logs.list(vid, page_size=4)]
            assert len(logs) == 23 == len(set(logs))
            async with Harvester([client], kinds=(LogKind.COMMAND,), page_size=5) as hv:
                report = await hv.run(tmp_path)
            assert report.complete
            mine = [v["id"] for v in sim.data.vehicles_of(sim.user_id(0))]
            assert_exactly_once(harvested_lines(tmp_path, LogKind.COMMAND),
                                expected_lines(sim, LogKind.COMMAND, mine))


def test_public_url_is_validated() -> None:
    assert SimulatorConfig(public_url="http://sim.example:8080").public_url == \
        "http://sim.example:8080/v2"
    assert SimulatorConfig(public_url="https://sim.example/api/v2/").public_url == \
        "https://sim.example/api/v2"
    for bad in ("ftp://sim.example/v2", "/v2", "http://sim.example/v2?x=1",
                "http://user:pw@sim.example/v2"):
        with pytest.raises(ValueError, match="public_url"):
            SimulatorConfig(public_url=bad)


def test_cli_refuses_a_bad_public_url_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from evenergy_async.simulator.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["--port", "0", "--public-url", "ftp://sim.example/v2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: public_url must be an absolute http(s) URL" in err and "Traceback" not in err
