"""Points where the spec decides: problem ``instance`` is a URI; optional request bodies."""

from __future__ import annotations

import re

import aiohttp
import pytest
from yarl import URL

from evenergy_async.simulator import Simulator

from .helpers import bearer

#: RFC 3986 URI characters (unreserved, reserved, and percent escapes)
URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("/v2/vehicle_makes/a%20b", "/v2/vehicle_makes/a b"),
        ("/v2/vehicle_makes/caf%C3%A9", "/v2/vehicle_makes/café"),
        ("/v2/vehicle_makes/x%2Fy", "/v2/vehicle_makes/x/y"),
        ("/v2/no%20such%7Cthing", "/v2/no such|thing"),
    ],
)
async def test_problem_instance_is_the_raw_uri(
    simulator: Simulator, session: aiohttp.ClientSession, raw: str, decoded: str
) -> None:
    url = URL(f"{simulator.origin}{raw}?page_size=3", encoded=True)
    async with session.get(url, headers=bearer(simulator.user_token(0))) as r:
        assert r.status == 404
        assert r.content_type == "application/problem+json"
        problem = await r.json(content_type=None)
    instance = problem["instance"]
    assert instance == f"{simulator.origin}{raw}"  # as sent, without the query
    assert URI_CHARS.fullmatch(instance)
    assert URL(instance, encoded=True).path == decoded


async def test_problem_instance_of_a_pipeline_refusal(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    url = URL(f"{simulator.base_url}/vehicles/vhcl%20x", encoded=True)
    async with session.get(url) as r:
        assert r.status == 401
        assert (await r.json(content_type=None))["instance"].endswith("/v2/vehicles/vhcl%20x")
