"""The request pipeline against a scripted real server: lifecycle, auth, retries, errors."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from evenergy_async import (
    BearerToken,
    ClientCredentials,
    ClientStateError,
    EvEnergyClient,
    OAuthToken,
    RateLimitError,
    RefreshToken,
    RequestTimeoutError,
    ResponseDecodeError,
    ResponseLostError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
    VehicleCreate,
)

from .scripted import DROP, ScriptedServer, json_response, problem

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
UID = "user01HN2NJ9NMRZBXT1H6FT9N7735"
VEHICLE: dict[str, Any] = {
    "id": VID,
    "url": f"https://api.ev.energy/v2/vehicles/{VID}",
    "trim": "https://api.ev.energy/v2/vehicle_trims/trim01HRFHBCM7VBSWRPVYFBQMH2BR",
    "user": f"https://api.ev.energy/v2/users/{UID}",
    "latest_status_log": None,
    "charging_sub_sessions": "https://api.ev.energy/v2/charging_sub_sessions?vehicle=x",
    "integrated": "ACTIVE",
    "battery_size_watt_hours": 75000,
    "effective_battery_size_watt_hours": 75000,
    "maximum_charge_limit_percentage": 80,
    "description": "Tesla Model 3",
    "disabled": False,
    "smart_charging_enabled": True,
    "vehicle_class": "PASSENGER",
}
VPATH = f"/v2/vehicles/{VID}"


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
async def server() -> Any:
    async with ScriptedServer() as s:
        yield s


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


def make_client(server: ScriptedServer, sleep: FakeSleep, **kw: Any) -> EvEnergyClient:
    kw.setdefault("auth", "tok-static")
    return EvEnergyClient(base_url=server.base_url, sleep=sleep, **kw)


# -- lifecycle ------------------------------------------------------------------------


async def test_owned_session_is_closed_and_client_cannot_reopen(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always(VPATH, json_response(VEHICLE))
    client = make_client(server, sleep)
    async with client:
        v = await client.vehicles.get(VID)
        assert v.id == VID
    assert client.is_closed
    with pytest.raises(ClientStateError):
        await client.vehicles.get(VID)
    with pytest.raises(ClientStateError):
        async with client:
            pass
    await client.close()  # idempotent


async def test_borrowed_session_is_left_open(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always(VPATH, json_response(VEHICLE))
    async with aiohttp.ClientSession() as session:
        async with make_client(server, sleep, session=session) as client:
            await client.vehicles.get(VID)
        assert not session.closed
        async with session.get(server.url / "v2" / "vehicles" / VID) as resp:
            assert resp.status == 200


async def test_headers_version_user_and_view(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always(VPATH, json_response(VEHICLE, **{"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "998"}))
    async with make_client(server, sleep) as client:
        await client.vehicles.get(VID)
        view = client.as_user(f"https://api.ev.energy/v2/users/{UID}")
        await view.vehicles.get(VID)
        with pytest.raises(ClientStateError):
            async with view:
                pass
        assert client.rate_limit is not None
        assert (client.rate_limit.limit, client.rate_limit.remaining) == (1000, 998)
    first, second = server.seen
    assert first.headers["EvEnergy-Version"] == "2"
    assert first.headers["Authorization"] == "Bearer tok-static"
    assert "EvEnergy-User" not in first.headers
    assert second.headers["EvEnergy-User"] == UID


async def test_invalid_id_sends_nothing(server: ScriptedServer, sleep: FakeSleep) -> None:
    async with make_client(server, sleep) as client:
        for bad in ("../vehicles", VID + "/x", "vhcl%2F", "vhcl01HRFF3SEVSCRAV9B3CHVDFN0\u0661"):
            with pytest.raises(ValueError):
                await client.vehicles.get(bad)
    assert server.seen == []


def test_repr_hides_secrets() -> None:
    cred = ClientCredentials("my-client", "super-secret-value")
    client = EvEnergyClient(auth=cred, base_url="https://api.ev.energy/v2")
    text = repr(cred) + repr(client) + repr(BearerToken("tok-secret")) + repr(
        RefreshToken("refresh-secret", "cid", "secret2", access_token="acc-secret")
    )
    for secret in ("super-secret-value", "tok-secret", "refresh-secret", "secret2", "acc-secret"):
        assert secret not in text
    assert "my-client" in text


# -- retries --------------------------------------------------------------------------


async def test_429_under_cap_waits_retry_after(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(VPATH, problem(429, "slow", **{"Retry-After": "7"}), json_response(VEHICLE))
    async with make_client(server, sleep, retry=RetryPolicy(retry_after_cap=10)) as client:
        await client.vehicles.get(VID)
        assert client.stats.retry_reasons == {"429": 1}
    assert sleep.delays == [7.0]
    assert server.count(VPATH) == 2


async def test_429_over_cap_raises_with_retry_after(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(VPATH, problem(429, "spent", **{"Retry-After": "3600", "X-RateLimit-Remaining": "0"}))
    async with make_client(server, sleep, retry=RetryPolicy(retry_after_cap=60)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.vehicles.get(VID)
    assert info.value.retry_after == 3600.0 and info.value.remaining == 0
    assert info.value.method == "GET" and info.value.status == 429 and VPATH in (info.value.url or "")
    assert sleep.delays == [] and server.count(VPATH) == 1


async def test_503_retried_with_backoff_then_gives_up(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always(VPATH, problem(503, "down"))
    policy = RetryPolicy(max_attempts=3, backoff_base=1, jitter=lambda c: c)
    async with make_client(server, sleep, retry=policy) as client:
        with pytest.raises(ServerError) as info:
            await client.vehicles.get(VID)
    assert info.value.status == 503
    assert sleep.delays == [1, 2]
    assert server.count(VPATH) == 3


async def test_dropped_connection_get_is_retried(server: ScriptedServer, sleep: FakeSleep) -> None:
    # every resend is the RetryPolicy's, and counted (aiohttp's own silent resend is off)
    server.script(VPATH, DROP, json_response(VEHICLE))
    async with make_client(server, sleep) as client:
        assert (await client.vehicles.get(VID)).id == VID
        assert client.stats.retries == 1
        assert client.stats.retry_reasons.keys() == {"ResponseLostError"}
    assert server.count(VPATH) == 2


async def test_post_with_lost_response_is_not_replayed(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always("/v2/vehicles", DROP)
    body = VehicleCreate(model="https://api.ev.energy/v2/vehicle_models/vmod01HSBR8Z36GD7A46K7M4R12VG0")
    async with make_client(server, sleep) as client:
        with pytest.raises(ResponseLostError) as info:
            await client.vehicles.create(body)
    assert info.value.outcome_unknown
    assert "outcome unknown" in str(info.value)
    assert server.count("/v2/vehicles") == 1


async def test_post_retried_after_429(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script("/v2/vehicles", problem(429, "slow", **{"Retry-After": "1"}), json_response(VEHICLE, status=201))
    body = VehicleCreate(model="https://api.ev.energy/v2/vehicle_models/vmod01HSBR8Z36GD7A46K7M4R12VG0")
    async with make_client(server, sleep) as client:
        assert (await client.vehicles.create(body)).id == VID
    assert server.count("/v2/vehicles") == 2


async def test_post_503_not_retried(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always("/v2/vehicles", problem(503, "down"))
    body = VehicleCreate(model="https://api.ev.energy/v2/vehicle_models/vmod01HSBR8Z36GD7A46K7M4R12VG0")
    async with make_client(server, sleep) as client:
        with pytest.raises(ServerError):
            await client.vehicles.create(body)
    assert server.count("/v2/vehicles") == 1


async def test_connection_refused_is_connect_error_and_post_retried(sleep: FakeSleep) -> None:
    from evenergy_async import ConnectError

    async with ScriptedServer() as s:
        base = s.base_url
    body = VehicleCreate(model="https://api.ev.energy/v2/vehicle_models/vmod01HSBR8Z36GD7A46K7M4R12VG0")
    async with EvEnergyClient("t", base_url=base, sleep=sleep, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(ConnectError) as info:
            await client.vehicles.create(body)
    assert not info.value.outcome_unknown
    assert len(sleep.delays) == 1  # POST retried: nothing could have been sent


async def test_stall_times_out(server: ScriptedServer, sleep: FakeSleep) -> None:
    async def stall(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response(VEHICLE)

    server.always(VPATH, stall)
    async with make_client(server, sleep, timeout=0.2, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(RequestTimeoutError):
            await client.vehicles.get(VID)
        # per-call override through a view
        server.always(VPATH, json_response(VEHICLE))
        assert (await client.with_options(timeout=5).vehicles.get(VID)).id == VID


async def test_invalid_json_get_is_retried_then_decode_error(server: ScriptedServer, sleep: FakeSleep) -> None:
    def garbage(_: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"id": "vhcl', content_type="application/json")

    server.always(VPATH, garbage)
    async with make_client(server, sleep, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.vehicles.get(VID)
    assert server.count(VPATH) == 2
    assert info.value.status == 200 and info.value.method == "GET"


async def test_schema_drift_is_decode_error_with_path_not_retried(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always(VPATH, json_response({**VEHICLE, "battery_size_watt_hours": "lots"}))
    async with make_client(server, sleep) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.vehicles.get(VID)
    assert "battery_size_watt_hours" in info.value.path
    assert server.count(VPATH) == 1


# -- auth -----------------------------------------------------------------------------


def token_endpoint(counter: list[int], *, ttl: int = 36000, prefix: str = "cc") -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        counter.append(1)
        await asyncio.sleep(0.05)  # long enough for concurrent callers to pile up
        form = await request.post()
        body: dict[str, Any] = {"access_token": f"{prefix}-{len(counter)}", "token_type": "Bearer", "expires_in": ttl}
        if form.get("grant_type") == "refresh_token":
            body["refresh_token"] = f"refresh-{len(counter)}"
        return web.json_response(body)

    return handle


async def test_client_credentials_single_flight(server: ScriptedServer, sleep: FakeSleep) -> None:
    calls: list[int] = []
    server.always("/o/token/", token_endpoint(calls))
    server.always(VPATH, json_response(VEHICLE))
    async with make_client(server, sleep, auth=ClientCredentials("cid", "csecret", scopes=["vehicle:read"])) as c:
        results = await asyncio.gather(*(c.vehicles.get(VID) for _ in range(100)))
    assert len(results) == 100
    assert len(calls) == 1
    token_req = next(s for s in server.seen if s.path == "/o/token/")
    assert token_req.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert b"grant_type=client_credentials" in token_req.body and b"scope=vehicle%3Aread" in token_req.body
    api = [s for s in server.seen if s.path == VPATH]
    assert {s.headers["Authorization"] for s in api} == {"Bearer cc-1"}


async def test_401_refreshes_once_and_retries(server: ScriptedServer, sleep: FakeSleep) -> None:
    calls: list[int] = []
    server.always("/o/token/", token_endpoint(calls))
    server.script(VPATH, problem(401, "expired"), json_response(VEHICLE))
    async with make_client(server, sleep, auth=ClientCredentials("cid", "csecret")) as client:
        assert (await client.vehicles.get(VID)).id == VID
    assert len(calls) == 2
    api = [s.headers["Authorization"] for s in server.seen if s.path == VPATH]
    assert api == ["Bearer cc-1", "Bearer cc-2"]


async def test_401_twice_raises(server: ScriptedServer, sleep: FakeSleep) -> None:
    calls: list[int] = []
    server.always("/o/token/", token_endpoint(calls))
    server.always(VPATH, problem(401, "nope"))
    async with make_client(server, sleep, auth=ClientCredentials("cid", "csecret")) as client:
        with pytest.raises(UnauthorizedError):
            await client.vehicles.get(VID)
    assert server.count(VPATH) == 2 and len(calls) == 2


async def test_static_token_401_not_retried(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.always(VPATH, problem(401, "nope"))
    async with make_client(server, sleep) as client:
        with pytest.raises(UnauthorizedError):
            await client.vehicles.get(VID)
    assert server.count(VPATH) == 1


async def test_token_refreshed_before_expiry(server: ScriptedServer, sleep: FakeSleep) -> None:
    calls: list[int] = []
    now = [1000.0]
    server.always("/o/token/", token_endpoint(calls, ttl=3600))
    server.always(VPATH, json_response(VEHICLE))
    async with make_client(server, sleep, auth=ClientCredentials("cid", "s"), clock=lambda: now[0]) as client:
        await client.vehicles.get(VID)
        now[0] += 3600 - 30  # inside the refresh margin
        await client.vehicles.get(VID)
    assert len(calls) == 2


async def test_refresh_token_grant_calls_back_with_new_pair(server: ScriptedServer, sleep: FakeSleep) -> None:
    calls: list[int] = []
    saved: list[OAuthToken] = []
    server.always("/o/token/", token_endpoint(calls, prefix="rt"))
    server.always(VPATH, json_response(VEHICLE))
    cred = RefreshToken("refresh-0", "cid", "csecret", on_refresh=saved.append)
    async with make_client(server, sleep, auth=cred) as client:
        await client.vehicles.get(VID)
    assert [t.access_token for t in saved] == ["rt-1"] and saved[0].refresh_token == "refresh-1"
    form = next(s for s in server.seen if s.path == "/o/token/").body
    assert b"grant_type=refresh_token" in form and b"refresh_token=refresh-0" in form


async def test_token_endpoint_error_is_auth_error_without_secret(
    server: ScriptedServer, sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    from evenergy_async import AuthError

    server.always("/o/token/", json_response({"error": "invalid_client", "error_description": "bad"}, status=401))
    caplog.set_level(logging.DEBUG)
    async with make_client(server, sleep, auth=ClientCredentials("cid", "csecret-xyz")) as client:
        with pytest.raises(AuthError) as info:
            await client.vehicles.get(VID)
    assert info.value.error == "invalid_client"
    assert "csecret-xyz" not in str(info.value) + repr(info.value) + caplog.text
    assert server.count(VPATH) == 0


async def test_authorization_code_helpers(server: ScriptedServer, sleep: FakeSleep) -> None:
    from yarl import URL

    calls: list[int] = []
    server.always("/o/token/", token_endpoint(calls, prefix="ac"))
    server.always("/o/revoke_token/", json_response({}))
    async with make_client(server, sleep) as client:
        req = client.oauth.authorization_url("cid", "https://app.example/cb", scopes=["vehicle:read"])
        url = URL(req.url)
        assert url.path == "/o/authorize/"
        assert url.query["code_challenge_method"] == "S256" and req.code_verifier
        assert url.query["state"] == req.state
        token = await client.oauth.exchange_code(
            "the-code", client_id="cid", redirect_uri="https://app.example/cb", code_verifier=req.code_verifier
        )
        assert token.access_token == "ac-1"
        await client.oauth.revoke("ac-1", client_id="cid", client_secret="s")
    assert server.count("/o/revoke_token/") == 1
    exchange = next(s for s in server.seen if s.path == "/o/token/").body
    assert b"code_verifier=" in exchange and b"grant_type=authorization_code" in exchange


def test_a_client_is_bound_to_the_event_loop_of_its_first_request() -> None:
    """A module-level client used by two ``asyncio.run()`` calls gets a typed error on the
    second loop (not aiohttp's "Event loop is closed"), and nothing is sent from it."""
    from evenergy_async import MockTransport, Response

    transport = MockTransport(lambda request: Response.build(200, b"[]", url=request.url))
    client = EvEnergyClient("a-token", transport=transport)

    async def first() -> object:
        return await client.vehicles.list().first()

    assert asyncio.run(first()) is None
    assert len(transport.requests) == 1
    with pytest.raises(ClientStateError, match="another event loop"):
        asyncio.run(first())
    assert len(transport.requests) == 1

    async def close() -> None:
        await client.close()

    asyncio.run(close())  # closing is allowed from any loop
    assert transport.closed


# -- settings checked when the client is made --------------------------------------------------

SECRET_VALUE = "s3cr3t with a space"


@pytest.mark.parametrize(
    ("make", "error", "says"),
    [
        (lambda: EvEnergyClient("t0ken-value", timeout=-1), ValueError, "timeout must be a finite number of seconds > 0"),
        (lambda: EvEnergyClient("t0ken-value", timeout=float("nan")), ValueError, "timeout must be a finite number"),
        (lambda: EvEnergyClient("t0ken-value", timeout="5"), TypeError, "timeout must be a number of seconds or None"),
        (lambda: EvEnergyClient("t0ken-value", max_connections=0), ValueError, "max_connections must be >= 1, got 0"),
        (lambda: EvEnergyClient(" "), ValueError, "BearerToken.token is empty"),
        (lambda: EvEnergyClient("tok\r\nX-Injected: 1"), ValueError, "BearerToken.token holds spaces or control characters"),
        (lambda: ClientCredentials("", "secret"), ValueError, "ClientCredentials.client_id is empty"),
        (lambda: ClientCredentials("app", ""), ValueError, "ClientCredentials.client_secret is empty"),
        (lambda: ClientCredentials("app", "sec\x00ret"), ValueError, "client_secret holds control characters"),
        (lambda: ClientCredentials("app", "secret", scopes=["vehicle:read debug:read"]), ValueError, "scopes must be scope names"),
        (lambda: RefreshToken(SECRET_VALUE, "app"), ValueError, "RefreshToken.refresh_token holds spaces"),
        (lambda: RetryPolicy(max_attempts="3"), TypeError, "max_attempts must be an integer"),
        (lambda: RetryPolicy(backoff_base=-1), ValueError, "backoff_base must be a finite number of seconds >= 0"),
        (lambda: RetryPolicy(retry_after_cap=float("nan")), ValueError, "retry_after_cap must be a number of seconds >= 0"),
    ],
)
def test_a_wrong_setting_is_refused_when_the_client_is_made(make: Any, error: type[Exception], says: str) -> None:
    """Not at the first request, and never as a header aiohttp refuses or a NaN never compared;
    a credential's message names the field, not its value."""
    with pytest.raises(error, match=says) as info:
        make()
    assert SECRET_VALUE not in str(info.value) and "t0ken-value" not in str(info.value)


async def test_a_view_checks_its_timeout_too() -> None:
    async with EvEnergyClient("t0ken-value", base_url="http://127.0.0.1:1/v2") as client:
        with pytest.raises(ValueError, match="timeout must be a finite number of seconds > 0"):
            client.with_options(timeout=0)
        assert client.with_options(timeout=None) is not client  # None: no limit
        RetryPolicy(retry_after_cap=float("inf"))  # wait whatever the server says


async def test_scopes_and_redirect_uris_as_oauth_spells_them() -> None:
    """One string of scopes is OAuth's space-separated form (never split letter by letter); a
    redirect URI is absolute, without a fragment (a native app's own scheme has no host)."""
    assert ClientCredentials("app", "secret", scopes="vehicle:read debug:read").scopes == ("vehicle:read", "debug:read")
    async with EvEnergyClient(base_url="http://127.0.0.1:1/v2") as client:
        for scopes in ("vehicle:read debug:read", ["vehicle:read", "debug:read"]):
            request = client.oauth.authorization_url("app", "https://app.example/cb", scopes=scopes)
            assert URL(request.url).query["scope"] == "vehicle:read debug:read"
        for uri in ("com.example.app:/callback", "http://127.0.0.1:8765/cb"):
            client.oauth.authorization_url("app", uri)
        for uri in ("/cb", "https://app.example/cb#frag", ""):
            with pytest.raises(ValueError, match="redirect_uri"):
                client.oauth.authorization_url("app", uri)
        with pytest.raises(ValueError, match="client_id is empty"):
            client.oauth.authorization_url("", "https://app.example/cb")
        with pytest.raises(ValueError, match="code is empty"):
            await client.oauth.exchange_code("", client_id="app", redirect_uri="https://app.example/cb")
