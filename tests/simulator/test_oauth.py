"""The OAuth endpoints at the origin root: token grants, PKCE, refresh, revoke, authorize."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from evenergy_async.simulator import Simulator
from evenergy_async.simulator._auth import pkce_s256

from ..spec_oracle import validated_simulator
from .helpers import basic, bearer

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


async def post(
    session: aiohttp.ClientSession, url: Any, data: dict[str, str],
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with session.post(url, data=data, headers=headers) as r:
        text = await r.read()
        return r.status, (await r.json(content_type=None)) if text else None, r


async def authorize(
    sim: Simulator, session: aiohttp.ClientSession, **params: str
) -> URL:
    query = {"response_type": "code", "client_id": sim.client_id,
             "redirect_uri": "http://127.0.0.1:9/cb", "state": "xyz", **params}
    async with session.get(sim.origin.with_path("/o/authorize/").with_query(query),
                           allow_redirects=False) as r:
        assert r.status == 302
        return URL(r.headers["Location"])


async def test_client_credentials_grant(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    status, body, resp = await post(session, simulator.token_url, {"grant_type": "client_credentials"},
                                    basic(simulator.client_id, simulator.client_secret))
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 36000
    assert "refresh_token" not in body and "vehicle:read" in body["scope"].split()
    assert resp.headers["Cache-Control"] == "no-store"
    async with session.get(f"{simulator.base_url}/vehicles",
                           headers=bearer(body["access_token"])) as r:
        assert r.status == 200
    assert simulator.stats.token_requests == 1


@pytest.mark.parametrize("headers", [None, {"Authorization": "Basic bm9wZTpub3Bl"}])
async def test_client_credentials_bad_client_is_401(
    simulator: Simulator, session: aiohttp.ClientSession, headers: dict[str, str] | None
) -> None:
    status, body, _resp = await post(session, simulator.token_url,
                                    {"grant_type": "client_credentials"}, headers)
    assert status == 401 and body["error"] == "invalid_client" and body["error_description"]


async def test_unknown_grant_and_scope(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    auth = basic(simulator.client_id, simulator.client_secret)
    status, body, _ = await post(session, simulator.token_url, {"grant_type": "password"}, auth)
    assert status == 400 and body["error"] == "unsupported_grant_type"
    status, body, _ = await post(session, simulator.token_url,
                                 {"grant_type": "client_credentials", "scope": "root"}, auth)
    assert status == 400 and body["error"] == "invalid_scope"


async def test_authorization_code_with_pkce_and_refresh(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    loc = await authorize(simulator, session, code_challenge=pkce_s256(VERIFIER),
                          code_challenge_method="S256", user_id=simulator.user_id(1))
    assert loc.query["state"] == "xyz"
    code = loc.query["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": simulator.client_id,
            "redirect_uri": "http://127.0.0.1:9/cb"}
    status, body, _ = await post(session, simulator.token_url,
                                 {**form, "code_verifier": "wrong" * 10})
    assert status == 400 and body["error"] == "invalid_grant"
    status, body, _ = await post(session, simulator.token_url, {**form, "code_verifier": VERIFIER})
    assert status == 200 and body["refresh_token"]
    async with session.get(f"{simulator.base_url}/vehicles",
                           headers=bearer(body["access_token"])) as r:
        ids = {v["id"] for v in await r.json()}
    assert ids == {v["id"] for v in simulator.data.vehicles_of(simulator.user_id(1))}
    status, _again, _ = await post(session, simulator.token_url, {**form, "code_verifier": VERIFIER})
    assert status == 400  # codes are single use
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    status, new, _ = await post(session, simulator.token_url, refresh,
                                basic(simulator.client_id, simulator.client_secret))
    assert status == 200 and new["refresh_token"] != body["refresh_token"]
    status, old, _ = await post(session, simulator.token_url, refresh,
                                basic(simulator.client_id, simulator.client_secret))
    assert status == 400 and old["error"] == "invalid_grant"  # rotated


async def test_authorization_code_without_pkce_needs_the_secret(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    code = (await authorize(simulator, session)).query["code"]
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://127.0.0.1:9/cb"}
    status, _, _ = await post(session, simulator.token_url,
                              {**form, "client_id": simulator.client_id})
    assert status == 401
    status, body, _ = await post(session, simulator.token_url, form,
                                 basic(simulator.client_id, simulator.client_secret))
    assert status == 200 and body["access_token"]


async def test_authorization_code_expires(session: aiohttp.ClientSession) -> None:
    from evenergy_async.simulator import SimulatorConfig

    now = [0.0]
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=1, clock=lambda: now[0])
    async with validated_simulator(cfg) as sim:
        code = (await authorize(sim, session)).query["code"]
        now[0] += 61
        status, body, _ = await post(session, sim.token_url, {
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://127.0.0.1:9/cb"}, basic(sim.client_id, sim.client_secret))
        assert status == 400 and body["error"] == "invalid_grant"


async def test_authorize_errors_redirect_or_400(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    loc = await authorize(simulator, session, response_type="token")
    assert loc.query["error"] == "unsupported_response_type" and loc.query["state"] == "xyz"
    async with session.get(simulator.origin.with_path("/o/authorize/").with_query(
            {"client_id": "nope", "redirect_uri": "http://x/cb", "response_type": "code"}),
            allow_redirects=False) as r:
        assert r.status == 400


async def test_revoke_needs_trailing_slash_and_kills_the_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    token = simulator.issue_token()["access_token"]
    auth = basic(simulator.client_id, simulator.client_secret)
    status, _body, _ = await post(session, simulator.origin.with_path("/o/revoke_token"),
                                 {"token": token}, auth)
    assert status == 405
    status, _, _ = await post(session, simulator.origin.with_path("/o/token"),
                              {"grant_type": "client_credentials"}, auth)
    assert status == 405
    status, _, _ = await post(session, simulator.origin.with_path("/o/revoke_token/"),
                              {"token": token}, auth)
    assert status == 200
    async with session.get(f"{simulator.base_url}/vehicles", headers=bearer(token)) as r:
        assert r.status == 401
    status, _, _ = await post(session, simulator.origin.with_path("/o/revoke_token/"),
                              {"token": "unknown"}, auth)
    assert status == 200  # RFC 7009


async def test_revoking_a_refresh_token_kills_its_access_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    issued = simulator.issue_token(simulator.user_id(0))
    status, _, _ = await post(session, simulator.origin.with_path("/o/revoke_token/"),
                              {"token": issued["refresh_token"], "client_id": simulator.client_id,
                               "client_secret": simulator.client_secret})
    assert status == 200
    async with session.get(f"{simulator.base_url}/vehicles",
                           headers=bearer(issued["access_token"])) as r:
        assert r.status == 401
