"""Points where the spec decides: problem ``instance`` is a URI; optional request bodies."""

from __future__ import annotations

import re
from pathlib import Path

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
@pytest.mark.invalid_requests("IDs and paths that are not the document's")
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


@pytest.mark.invalid_requests("a malformed vehicle ID without a token")
async def test_problem_instance_of_a_pipeline_refusal(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    url = URL(f"{simulator.base_url}/vehicles/vhcl%20x", encoded=True)
    async with session.get(url) as r:
        assert r.status == 401
        assert (await r.json(content_type=None))["instance"].endswith("/v2/vehicles/vhcl%20x")


SPEC = Path(__file__).resolve().parents[1] / "spec" / "ev-energy-vehicles-openapi.yaml"  # vendored


def request_bodies() -> dict[tuple[str, str], bool]:
    """``(METHOD, path) -> requestBody.required`` for every operation with a body (a scan of
    the document's block structure: paths at indent 2, methods at 4, their fields at 6)."""
    out: dict[tuple[str, str], bool] = {}
    path = method = None
    in_body = False
    for line in SPEC.read_text().splitlines():
        indent = len(line) - len(line.lstrip(" "))
        text = line.strip()
        if indent == 2 and text.startswith("/") and text.endswith(":"):
            path, method, in_body = text[:-1], None, False
        elif indent == 4 and path is not None and text.rstrip(":") in (
                "get", "post", "patch", "put", "delete"):
            method, in_body = text[:-1].upper(), False
        elif indent == 6 and method is not None:
            in_body = text == "requestBody:"
            if in_body:
                out[(method, path)] = False
        elif indent == 8 and in_body and text == "required: true":
            assert method is not None and path is not None
            out[(method, path)] = True
        elif indent <= 2 and text and not text.startswith("/"):
            path = method = None
    return out


@pytest.mark.invalid_requests("required bodies left out, to get the 400")
async def test_optional_request_bodies_may_be_absent(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    bodies = request_bodies()
    assert len(bodies) == 13
    assert {k for k, required in bodies.items() if required} == {
        ("POST", "/vehicle_models/{vehicle_model_id}/connectors"),
        ("POST", "/vehicle_onboarding/onboarding_link"),
    }
    data = simulator.data
    vehicle = data.vehicles_of(simulator.user_id(0))[0]
    model_id, region = next(iter(data.connectors))
    values = {"vehicle_id": vehicle["id"], "vehicle_model_id": model_id, "region": region}
    h = bearer(simulator.user_token(0))
    for (method, path), required in sorted(bodies.items()):
        url = f"{simulator.base_url}{path.format(**values)}"
        async with session.request(method, url, headers=h) as r:  # no body at all
            body = await r.json(content_type=None)
        label = f"{method} {path}"
        if required:
            assert r.status == 400, label
            assert body["type"].endswith("/parse-error/"), label
            continue
        if r.status >= 400:  # refused for what the (empty) object lacks, not for its absence
            assert r.status == 400, (label, body)
            assert "parse-error" not in body.get("type", ""), (label, body)
            assert body.get("field_errors") or body["title"] == "Not integrated", (label, body)
        else:
            assert r.status in (200, 201), (label, body)
    async with session.get(f"{simulator.base_url}/vehicles/{vehicle['id']}", headers=h) as r:
        assert await r.json() == vehicle  # the empty PATCH changed nothing


@pytest.mark.invalid_requests("bodiless / whitespace PATCH bodies, accepted liberally", accepted=True)
async def test_patch_vehicle_without_body_is_an_empty_update(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    vehicle = simulator.data.vehicles_of(simulator.user_id(0))[0]
    url = f"{simulator.base_url}/vehicles/{vehicle['id']}"
    h = bearer(simulator.user_token(0))
    for extra in ({}, {"data": b""}, {"data": b"  \n", "headers": {"Content-Type": "application/json"}}):
        headers = {**h, **extra.pop("headers", {})}  # type: ignore[dict-item]
        async with session.patch(url, headers=headers, **extra) as r:  # type: ignore[arg-type]
            assert r.status == 200
            assert await r.json() == vehicle
    async with session.patch(url, headers=h, data=b"[]") as r:
        assert r.status == 400  # a body that is there must still be an object
