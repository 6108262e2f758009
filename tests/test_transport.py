"""The transport seam: MockTransport for users' unit tests, and the aiohttp error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest
from yarl import URL

from evenergy_async import (
    AiohttpTransport,
    ConnectError,
    EvEnergyClient,
    MockTransport,
    Request,
    Response,
    ResponseLostError,
    RetryPolicy,
)
from evenergy_async._transport import _transport_error

from .test_client import VEHICLE, VID


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


async def test_mock_transport_drives_the_whole_client() -> None:
    def handler(request: Request) -> Response:
        assert request.headers["Authorization"] == "Bearer tok"
        return Response.build(200, json.dumps(VEHICLE).encode(), {"X-RateLimit-Remaining": "5"}, url=request.url)

    transport = MockTransport(handler)
    async with EvEnergyClient("tok", transport=transport) as client:
        vehicle = await client.vehicles.get(VID)
        assert vehicle.id == VID and client.rate_limit is not None and client.rate_limit.remaining == 5
    assert transport.closed
    assert [str(r.url) for r in transport.requests] == [f"https://api.ev.energy/v2/vehicles/{VID}"]


async def test_mock_transport_async_handler_and_failures() -> None:
    calls = 0

    async def handler(request: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectError("refused", method=request.method, url=str(request.url))
        return Response.build(200, json.dumps(VEHICLE).encode(), url=request.url)

    async with EvEnergyClient("tok", transport=MockTransport(handler), sleep=no_sleep) as client:
        assert (await client.vehicles.get(VID)).id == VID
        assert client.stats.retry_reasons == {"ConnectError": 1}
    async with EvEnergyClient(
        "tok", transport=MockTransport(handler), sleep=no_sleep, retry=RetryPolicy(max_attempts=1)
    ) as client:
        calls = 0
        with pytest.raises(ConnectError):
            await client.vehicles.get(VID)


async def test_session_and_transport_are_exclusive() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError):
            EvEnergyClient("t", session=session, transport=MockTransport(lambda r: Response.build(200)))


async def test_borrowed_session_transport_does_not_close_it() -> None:
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)
        await transport.aclose()
        assert not session.closed


@pytest.mark.parametrize(
    ("exc", "name", "sent"),
    [
        (aiohttp.ConnectionTimeoutError(), "RequestTimeoutError", False),
        (TimeoutError(), "RequestTimeoutError", True),
        (aiohttp.ServerDisconnectedError(), "ResponseLostError", True),
        (aiohttp.ClientPayloadError("cut"), "ResponseLostError", True),
        (ConnectionResetError(), "ResponseLostError", True),
    ],
)
def test_aiohttp_errors_map_to_transport_errors(exc: Exception, name: str, sent: bool) -> None:
    request = Request("POST", URL("https://api.ev.energy/v2/vehicles?access_token=s3cret"))
    err = _transport_error(exc, request)
    assert type(err).__name__ == name
    assert err.request_sent is sent
    assert err.outcome_unknown is sent
    assert "s3cret" not in str(err)


# -- a body without end is an error, not all of memory -----------------------------------------


async def test_a_body_larger_than_the_cap_is_not_read_into_memory() -> None:
    """Chunked without end, a Content-Length above the cap, a small gzip that inflates past it:
    each a ResponseLostError after at most the cap is read; the usual answer is read as before."""
    import gzip

    from aiohttp import web

    from .scripted import ScriptedServer

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(10_000):  # 10 MB, far past the cap; the client hangs up first
                await resp.write(b"[" + b" " * 1023)
        return resp

    def sized(_: web.Request) -> web.StreamResponse:
        return web.Response(body=b"[" + b" " * 4998 + b"]", content_type="application/json")

    def bomb(_: web.Request) -> web.StreamResponse:
        return web.Response(
            body=gzip.compress(b"[" + b" " * 200_000 + b"]"),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    async with ScriptedServer() as api:
        api.always("/v2/endless", endless)
        api.always("/v2/sized", sized)
        api.always("/v2/bomb", bomb)
        api.always("/v2/vehicles", lambda _: web.json_response([]))
        transport = AiohttpTransport(max_response_bytes=4096)
        async with EvEnergyClient(
            "tok-12345678", base_url=api.base_url, transport=transport, retry=RetryPolicy(max_attempts=1)
        ) as client:
            for path in ("endless", "sized", "bomb"):
                with pytest.raises(ResponseLostError, match=r"response body larger than 4,096 bytes: not read"):
                    await client._call("GET", api.base_url / path, lambda r: r)
            assert (await client.vehicles.list().fetch_page()).items == []  # the usual answer
