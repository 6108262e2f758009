"""Faults, hostile responses, cancellation and load: nothing lost, nothing leaked, nothing hung."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from evenergy_async import (
    APIError,
    AuthError,
    BearerToken,
    ClientCredentials,
    ConnectError,
    EvEnergyClient,
    NotFoundError,
    RateLimitError,
    RefreshToken,
    RequestTimeoutError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
    VehicleState,
)
from evenergy_async.simulator import FaultConfig, Simulator, SimulatorConfig

from .conftest import no_sleep
from .scripted import ScriptedServer, json_response

KINDS = ("status", "location", "command", "error")


def vid_of(sim: Simulator, user: int = 0) -> str:
    return str(sim.data.vehicles_of(sim.user_id(user))[0]["id"])


async def harvest_one(client: EvEnergyClient, vid: str) -> list[Any]:
    return [r async for r in client.status_logs.list(vid, page_size=10)]


# -- every fault kind, one at a time, on a paginated log list ------------------------------------

RECOVERED = [
    "http_502",
    "http_503",
    "rate_limit_short",
    "drop_before_response",
    "drop_mid_body",
    "truncated_json",
    "invalid_json",
    "malformed_link",
    "stall",
    "unknown_fields",
]


@pytest.mark.parametrize("kind", RECOVERED)
async def test_transient_fault_is_retried_and_nothing_is_lost(sim: Simulator, kind: str) -> None:
    sim.set_faults(FaultConfig(rate=0.0, stall_seconds=5.0))
    vid = vid_of(sim)
    expected = [r["sampled_at"] for r in sim.data.logs("status", vid)]
    sim.inject_fault(kind, path=f"/v2/vehicles/{vid}/status_logs")
    policy = RetryPolicy(max_attempts=3, retry_after_cap=5)
    async with EvEnergyClient(
        sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, retry=policy, timeout=0.5
    ) as client:
        got = await harvest_one(client, vid)
    assert len(got) == len(expected)
    assert sim.stats.faults_injected[kind] == 1
    if kind != "unknown_fields":
        assert client.stats.retries >= 1 or kind in {"drop_before_response", "drop_mid_body"}


async def test_500_is_a_server_error_after_no_retry(sim: Simulator, client: EvEnergyClient) -> None:
    vid = vid_of(sim)
    sim.inject_fault("http_500", path=f"/v2/vehicles/{vid}/status_logs")
    with pytest.raises(ServerError) as info:
        await harvest_one(client, vid)
    assert info.value.status == 500 and info.value.method == "GET"


async def test_long_retry_after_raises_for_the_caller_to_schedule(sim: Simulator, client: EvEnergyClient) -> None:
    vid = vid_of(sim)
    sim.inject_fault("rate_limit_long", path=f"/v2/vehicles/{vid}/status_logs")
    with pytest.raises(RateLimitError) as info:
        await harvest_one(client, vid)
    assert info.value.retry_after == 3600


async def test_unknown_enum_values_are_kept(sim: Simulator, client: EvEnergyClient) -> None:
    vid = vid_of(sim)
    sim.inject_fault("unknown_enum", count=100, path=f"/v2/vehicles/{vid}/status_logs")
    got = await harvest_one(client, vid)
    states = {r.state for r in got if r.state is not None}
    assert any(not s.is_known for s in states)
    assert all(isinstance(s, VehicleState) for s in states)


async def test_token_expiry_with_client_credentials(sim: Simulator) -> None:
    vid = vid_of(sim)
    sim.set_faults(FaultConfig(rate=0.0))
    cred = ClientCredentials(sim.client_id, sim.client_secret)
    async with EvEnergyClient(cred, base_url=sim.base_url, sleep=no_sleep) as client:
        first = await harvest_one(client, vid)
        sim.inject_fault("token_expiry", path=f"/v2/vehicles/{vid}/status_logs")
        second = await harvest_one(client, vid)
        assert len(first) == len(second) == len(sim.data.logs("status", vid))
        assert client.stats.token_requests == 2
    assert sim.stats.faults_injected["token_expiry"] == 1


# -- secrets ---------------------------------------------------------------------------------


async def test_secrets_never_leak_in_logs_reprs_or_errors(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = sim.client_secret
    user_token = sim.user_token(0)
    texts: list[str] = []
    vid = vid_of(sim)

    def record(exc: BaseException) -> None:
        texts.extend([str(exc), repr(exc), repr(getattr(exc, "__dict__", {}))])
        if exc.__cause__ is not None:
            texts.extend([str(exc.__cause__), repr(exc.__cause__)])

    cred = ClientCredentials(sim.client_id, secret)
    saved: list[Any] = []
    async with EvEnergyClient(cred, base_url=sim.base_url, sleep=no_sleep, retry=RetryPolicy(max_attempts=1)) as c:
        texts += [repr(c), str(c), repr(cred), str(cred)]
        for fault in ("http_500", "rate_limit_long", "invalid_json", "drop_before_response", "token_expiry"):
            sim.inject_fault(fault, path=f"/v2/vehicles/{vid}/status_logs")
            try:
                await harvest_one(c, vid)
            except Exception as exc:
                record(exc)
        try:
            await c.vehicles.get("vhcl00000000000000000000000000")
        except NotFoundError as exc:
            record(exc)
        issued = c.stats
        texts.append(repr(issued))
    # wrong secret, unknown static token, refresh grant
    async with EvEnergyClient(ClientCredentials(sim.client_id, secret + "x"), base_url=sim.base_url) as c:
        with pytest.raises(AuthError) as auth_info:
            await c.vehicles.get(vid)
        record(auth_info.value)
    async with EvEnergyClient(BearerToken(user_token + "x"), base_url=sim.base_url) as c:
        with pytest.raises(UnauthorizedError) as unauth:
            await c.vehicles.get(vid)
        record(unauth.value)
    pair = sim.issue_token(sim.user_id(0))
    refresh = RefreshToken(pair["refresh_token"], sim.client_id, secret, on_refresh=saved.append)
    texts.append(repr(refresh))
    async with EvEnergyClient(refresh, base_url=sim.base_url) as c:
        await c.vehicles.get(vid)
    texts += [repr(t) for t in saved]
    secrets = [secret, user_token, pair["access_token"], pair["refresh_token"], saved[0].access_token]
    if saved[0].refresh_token:
        secrets.append(saved[0].refresh_token)
    haystack = "\n".join(texts) + caplog.text
    for s in secrets:
        assert s not in haystack
    assert len(texts) > 15


async def test_secrets_never_leak_in_hooks_spans_metrics_or_json_logs(sim: Simulator) -> None:
    """The observability outputs see every request, retry and failure: none may carry a secret."""
    import io

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import generate_latest

    from evenergy_async import Harvester, HarvestMetrics, Hooks, MemorySink
    from evenergy_async._cli_observe import JsonFormatter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics = HarvestMetrics()
    events: list[str] = []

    def record(event: Any) -> None:
        events.append(repr(event))

    hooks = Hooks(on_request=record, on_response=record, on_retry=record)
    log_lines = io.StringIO()
    handler = logging.StreamHandler(log_lines)
    handler.setFormatter(JsonFormatter("run"))
    logger = logging.getLogger("evenergy_async")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    secret = sim.client_secret
    vid = vid_of(sim)
    pair = sim.issue_token(sim.user_id(0))
    saved: list[Any] = []
    options: dict[str, Any] = {"base_url": sim.base_url, "sleep": no_sleep, "tracer_provider": provider}
    try:
        cred = ClientCredentials(sim.client_id, secret)
        async with EvEnergyClient(cred, hooks=metrics.hooks, **options) as app, EvEnergyClient(
            RefreshToken(pair["refresh_token"], sim.client_id, secret, on_refresh=saved.append), hooks=hooks, **options
        ) as user:
            for fault in ("http_503", "rate_limit_short", "drop_before_response", "invalid_json", "token_expiry"):
                sim.inject_fault(fault, path=f"/v2/vehicles/{vid}/status_logs")
            async with Harvester({"app": app, "user": user}, vehicles={"app": [vid_of(sim, 1)], "user": [vid]}) as harvester:
                report = await harvester.run(MemorySink())
            metrics.update(report)
            sim.inject_fault("token_expiry", path=f"/v2/vehicles/{vid}")
            await user.vehicles.get(vid)
            with pytest.raises(NotFoundError):
                await user.vehicles.get("vhcl00000000000000000000000000")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert report.partitions_done == 6 and saved  # the user's token was refreshed
    spans = [
        f"{s.name} {dict(s.attributes or {})} {s.status.description} {[(e.name, dict(e.attributes or {})) for e in s.events]}"
        for s in exporter.get_finished_spans()
    ]
    lines = log_lines.getvalue().splitlines()
    assert all(json.loads(line)["run_id"] == "run" for line in lines)
    assert len(events) > 10 and len(spans) > 10 and len(lines) > 10
    haystack = "\n".join([*events, *spans, *lines, generate_latest(metrics.registry).decode()])
    assert "retry_reason='503'" in haystack and "GET /vehicles/{vehicle_id}/status_logs" in haystack
    secrets = [secret, pair["access_token"], pair["refresh_token"], saved[0].access_token]
    # every token the server ever issued or knows (the app's and the refreshed ones included)
    secrets += [t for t in (saved[0].refresh_token, *sim._state.tokens.access, *sim._state.tokens.refresh) if t]
    for s in secrets:
        assert s not in haystack


# -- credentials stay home ---------------------------------------------------------------------


async def test_redirect_to_another_host_is_not_followed() -> None:
    async with ScriptedServer() as evil, ScriptedServer() as api:
        evil.always("/steal", json_response({"ok": True}))

        def redirect(_: web.Request) -> web.StreamResponse:
            return web.Response(status=302, headers={"Location": str(evil.url / "steal")})

        vid = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
        api.always(f"/v2/vehicles/{vid}", redirect)
        async with EvEnergyClient("secret-token", base_url=api.base_url, sleep=no_sleep) as client:
            with pytest.raises(APIError) as info:
                await client.vehicles.get(vid)
        assert info.value.status == 302
        assert evil.seen == []


async def test_credentials_a_server_echoes_are_redacted_from_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A server may repeat what a request carried (a debug message, an ``instance`` URL with the
    token in its query, a WAF quoting the Authorization header): the error, which is printed and
    logged, carries the rest of what the server said, not the credential."""
    from urllib.parse import parse_qs

    token = "tok-" + "A1b2C3d4" * 4
    secret = "sec-" + "Z9y8X7w6" * 4
    refresh = "ref-" + "Q1w2E3r4" * 4
    vid = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"

    async def api_echo(request: web.Request) -> web.StreamResponse:
        carried = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = {
            "type": "about:blank", "title": f"Forbidden for {carried}", "status": 403,
            "detail": f"token {carried} lacks a scope", "instance": f"/v2/vehicles/{vid}?access_token={carried}",
            "field_errors": {"token": [f"{carried} is read-only"]},
        }  # fmt: skip
        return web.json_response(body, status=403, content_type="application/problem+json")

    async def token_echo(request: web.Request) -> web.StreamResponse:
        form = parse_qs((await request.read()).decode())
        said = f"grant {form['grant_type'][0]} with {form.get('refresh_token', [''])[0]} and {request.headers['Authorization']}"
        return web.json_response({"error": "invalid_grant", "error_description": said}, status=400)

    async with ScriptedServer() as api:
        api.always(f"/v2/vehicles/{vid}", api_echo)
        api.always("/o/token/", token_echo)
        caught: list[Exception] = []
        with caplog.at_level(logging.DEBUG):
            async with EvEnergyClient(BearerToken(token), base_url=api.base_url, sleep=no_sleep) as client:
                with pytest.raises(APIError) as forbidden:
                    await client.vehicles.get(vid)
                caught.append(forbidden.value)
            for cred in (ClientCredentials("app", secret), RefreshToken(refresh, "app", secret)):
                async with EvEnergyClient(cred, base_url=api.base_url, sleep=no_sleep) as client:
                    with pytest.raises(AuthError) as refused:
                        await client.vehicles.get(vid)
                    caught.append(refused.value)
    assert api.count(f"/v2/vehicles/{vid}") == 1 and api.count("/o/token/") == 2  # the server did echo them
    api_error, cc_error, refresh_error = caught
    assert api_error.status == 403 and "lacks a scope" in api_error.detail  # type: ignore[attr-defined]
    assert api_error.instance == f"/v2/vehicles/{vid}?access_token=***"  # type: ignore[attr-defined]
    assert refresh_error.error_description == "grant refresh_token with *** and Basic ***"  # type: ignore[attr-defined]
    assert "grant client_credentials with  and Basic ***" in str(cc_error)
    for error in caught:
        shown = f"{error}\n{error!r}\n{vars(error)!r}\n{error.args!r}"
        for s in (token, secret, refresh):
            assert s not in shown
    assert not any(s in caplog.text for s in (token, secret, refresh))


async def test_credentials_only_to_the_api_origin(sim: Simulator, client: EvEnergyClient) -> None:
    # a token never rides along to another origin, even if asked to call it directly
    async with ScriptedServer() as other:
        other.always("/x", json_response([]))
        from evenergy_async import Page  # noqa: F401 - public

        decode: Any = lambda r: r  # noqa: E731
        await client._call("GET", other.url / "x", decode)
        assert "Authorization" not in other.seen[0].headers


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )
    return key, cert


async def test_tls_verification_is_on_by_default(tmp_path: Path) -> None:
    key, cert = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    app = web.Application()
    async def makes(_: web.Request) -> web.StreamResponse:
        return web.json_response([])

    app.router.add_get("/v2/vehicle_makes", makes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with EvEnergyClient(base_url=f"https://127.0.0.1:{port}/v2", sleep=no_sleep) as client:
            with pytest.raises(ConnectError, match=r"certificate|SSL|ssl"):
                [m async for m in client.vehicle_makes.list()]
    finally:
        await runner.cleanup()


# -- path injection -------------------------------------------------------------------------

BAD_IDS = ["../vehicles", "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H/..", "vhcl%2F", "vhcl01HRFF3SEVSCRAV9B3CHVDFN0?", "vhcl01HRFF3SEVSCRAV9B3CHVDFN0#",
           "vhcl01HRFF3SEVSCRAV9B3CHVDFN0\u00e9", "vhcl01HRFF3SEVSCRAV9B3CHVDFN0\uff10", 42, None]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_injected_ids_and_timestamps_are_refused_before_sending(sim: Simulator, client: EvEnergyClient, bad: Any) -> None:
    before = sim.stats.requests
    now = datetime.now(UTC)
    calls = [
        lambda: client.vehicles.get(bad),
        lambda: client.vehicles.delete(bad),
        lambda: client.vehicle_models.get(bad),
        lambda: client.vehicle_trims.get(bad),
        lambda: client.vehicle_makes.get(bad),
        lambda: client.status_logs.get(bad, now),
        lambda: client.vehicle_compatibility.check(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            await call()
    with pytest.raises(ValueError):
        client.command_logs.list(bad)
    for ts in ("2026-11-01T00:00:00Z/../x", datetime(2026, 11, 1), bad):
        with pytest.raises(ValueError):
            await client.status_logs.get(vid_of(sim), ts)
    assert sim.stats.requests == before


# -- load and cancellation --------------------------------------------------------------------


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=3, users=2, vehicles=6, logs_per_kind=40, rate_limit=100_000)


async def test_thousand_concurrent_calls_through_a_hundred_connections() -> None:
    in_flight = 0
    peak = 0

    async def slow(_: web.Request) -> web.StreamResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return web.json_response([])

    async with ScriptedServer() as server:
        server.always("/v2/vehicle_makes", slow)
        async with EvEnergyClient(base_url=server.base_url, max_connections=100, timeout=30) as client:
            async def one() -> list[Any]:
                return [m async for m in client.vehicle_makes.list()]

            results = await asyncio.gather(*(one() for _ in range(1000)))
        assert len(results) == 1000 and server.count("/v2/vehicle_makes") == 1000
        assert peak <= 100
        await asyncio.sleep(0.05)
        assert server.open_connections() == 0  # the client's close released every connection


async def _pending_tasks() -> set[asyncio.Task[Any]]:
    """Client-side tasks still alive (the in-process server's own handler tasks excluded)."""
    await asyncio.sleep(0.05)
    return {
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task()
        and not t.done()
        and not getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler")
    }


async def test_cancelling_calls_at_random_points_leaves_nothing_behind(sim: Simulator) -> None:
    rng = random.Random(11)
    vids = [str(v["id"]) for v in sim.data.vehicles_of(sim.user_id(0))]
    baseline = await _pending_tasks()
    sim.set_faults(FaultConfig(rate=0.3, seed=5, kinds={"stall": 1, "http_503": 1}, stall_seconds=0.2))
    cred = ClientCredentials(sim.client_id, sim.client_secret)
    client = EvEnergyClient(cred, base_url=sim.base_url, retry=RetryPolicy(backoff_base=0.01))
    async with client:
        for _round in range(5):
            tasks = [
                asyncio.create_task(harvest_one(client.as_user(sim.user_id(0)), rng.choice(vids)))
                for _ in range(20)
            ]
            await asyncio.sleep(rng.uniform(0, 0.05))
            for t in tasks:
                if rng.random() < 0.7:
                    t.cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            for outcome in done:
                assert isinstance(outcome, list | asyncio.CancelledError | ServerError | RequestTimeoutError)
                if isinstance(outcome, list):
                    assert len(outcome) == 40  # a finished call is complete, never partial
    assert await _pending_tasks() == baseline


async def test_cancel_during_single_flight_token_fetch(sim: Simulator) -> None:
    baseline = await _pending_tasks()
    sim.set_faults(FaultConfig(rate=1.0, kinds={"stall": 1}, paths=frozenset({"token"}), stall_seconds=5))
    client = EvEnergyClient(ClientCredentials(sim.client_id, sim.client_secret), base_url=sim.base_url)
    async with client:
        tasks = [asyncio.create_task(client.vehicles.get(vid_of(sim))) for _ in range(10)]
        await asyncio.sleep(0.1)
        for t in tasks:
            t.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert await _pending_tasks() == baseline


async def test_decode_error_is_typed(sim: Simulator, client: EvEnergyClient) -> None:
    vid = vid_of(sim)
    sim.inject_fault("invalid_json", count=10, path=f"/v2/vehicles/{vid}/status_logs")
    with pytest.raises(ResponseDecodeError):
        await harvest_one(client, vid)



async def test_post_processed_but_answer_lost_is_not_replayed(sim: Simulator, client: EvEnergyClient) -> None:
    from evenergy_async import ResponseLostError, VehicleCreate

    user = sim.user_id(0)
    before = {v["id"] for v in sim.data.vehicles_of(user)}
    sim.set_faults(FaultConfig(rate=0.0))
    sim.inject_fault("drop_after_processing", path="/v2/vehicles")
    body = VehicleCreate(model=str(sim.data.models[0]["url"]), battery_size_watt_hours=50000)
    with pytest.raises(ResponseLostError) as info:
        await client.vehicles.create(body)
    assert info.value.outcome_unknown and "outcome unknown" in str(info.value)
    created = {v["id"] for v in sim.data.vehicles_of(user)} - before
    assert len(created) == 1  # the server did it once; the client did not send it again
    assert sim.stats.by_operation["post-vehicles"] == 1


async def test_cancellation_leaks_no_connections() -> None:
    """Cancel calls mid-request at random; the pool must still have all its slots afterwards."""
    rng = random.Random(7)

    async def slow(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(rng.uniform(0, 0.03))
        return web.json_response([])

    async with ScriptedServer() as server:
        server.always("/v2/vehicle_makes", slow)
        client = EvEnergyClient(base_url=server.base_url, max_connections=5, timeout=5)
        async with client:

            async def one() -> list[Any]:
                return [m async for m in client.vehicle_makes.list()]

            for _ in range(5):
                tasks = [asyncio.create_task(one()) for _ in range(20)]
                await asyncio.sleep(rng.uniform(0, 0.02))
                for t in tasks:
                    if rng.random() < 0.6:
                        t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            # a leaked slot would leave fewer than 5 connections and these would time out
            async with asyncio.timeout(5):
                done = await asyncio.gather(*(one() for _ in range(50)))
            assert len(done) == 50
            assert server.open_connections() <= 5
        await asyncio.sleep(0.05)
        assert server.open_connections() == 0
