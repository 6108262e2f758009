"""The Python surface: ``help(EvEnergyClient)``, readable reprs without secrets, ``first``/``collect``."""

from __future__ import annotations

import pydoc
from datetime import UTC, datetime

import pytest

from evenergy_async import (
    ClientCredentials,
    EvEnergyClient,
    PaginationError,
    RefreshToken,
)
from evenergy_async.simulator import Simulator

SERVICES = [
    "vehicles",
    "vehicle_trims",
    "vehicle_models",
    "vehicle_makes",
    "status_logs",
    "location_logs",
    "command_logs",
    "error_logs",
    "vehicle_onboarding",
    "vehicle_compatibility",
    "vehicle_waitlist",
]


def test_help_shows_the_services_not_the_plumbing() -> None:
    text = pydoc.render_doc(EvEnergyClient, renderer=pydoc.plaintext)
    lines = [line.strip(" |") for line in text.splitlines()]
    for name in SERVICES:
        i = next(i for i, line in enumerate(lines) if line == name)
        assert lines[i + 1].startswith("``/"), name  # one documented line each
    for plumbing in ("call(", "url(", "json_of(", "same_origin("):
        assert not any(line.startswith(plumbing) for line in lines), plumbing
    assert not any(hasattr(EvEnergyClient, name) for name in ("call", "url", "json_of", "same_origin"))


async def test_reprs_are_readable_and_never_show_secrets(sim: Simulator) -> None:
    secrets = ["app-secret-123", "user-token-456", "refresh-789", "access-000"]
    cred = ClientCredentials("app-id", secrets[0])
    async with EvEnergyClient(cred, base_url=sim.base_url) as client:
        views = [
            client,
            client.with_auth(secrets[1]),
            client.with_auth(RefreshToken(secrets[2], client_id="app-id", client_secret=secrets[0], access_token=secrets[3])),
            client.with_auth(secrets[1]).as_user(sim.user_id(1)),
        ]
        texts = [repr(v) for v in views]
        texts += [repr(v.vehicles) for v in views]
        paginator = client.with_auth(secrets[1]).status_logs.list("vhcl01HRFF3SEVSCRAV9B3CHVDFN0H", page_size=5)
        texts.append(repr(paginator))
    for text in texts:
        assert "object at 0x" not in text, text
        for secret in secrets:
            assert secret not in text, text
    assert texts[0] == f"<EvEnergyClient {sim.base_url} opened auth=ClientCredentials(client_id='app-id')>"
    assert texts[1] == f"<EvEnergyClient view {sim.base_url} opened auth=BearerToken>"
    assert texts[2].endswith("auth=RefreshToken(client_id='app-id')>")
    assert f"user='{sim.user_id(1)}'" in texts[3]
    assert texts[4].startswith("<Vehicles service of <EvEnergyClient ")
    assert texts[-1] == (
        f"<LinkPaginator GET {sim.base_url}/vehicles/vhcl01HRFF3SEVSCRAV9B3CHVDFN0H/status_logs?page_size=5>"
    )


async def test_first_is_one_request(sim: Simulator, client: EvEnergyClient) -> None:
    every = [m async for m in client.vehicle_makes.list(page_size=4)]
    before = sim.stats.requests
    assert await client.vehicle_makes.list(page_size=4).first() == every[0]
    assert sim.stats.requests == before + 1
    vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
    future = datetime(2030, 1, 1, tzinfo=UTC)
    assert await client.status_logs.list(vid, since=future).first() is None


async def test_collect_is_the_whole_list_or_an_error_never_a_cut_list(sim: Simulator, client: EvEnergyClient) -> None:
    every = [m async for m in client.vehicle_makes.list(page_size=4)]
    assert len(every) > 8
    assert await client.vehicle_makes.list(page_size=4).collect() == every
    assert await client.vehicle_makes.list(page_size=4).collect(limit=len(every)) == every
    before = sim.stats.requests
    with pytest.raises(PaginationError, match="more than limit=5"):
        await client.vehicle_makes.list(page_size=4).collect(limit=5)
    assert sim.stats.requests == before + 2  # stopped as soon as the limit was passed
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError):
            await client.vehicle_makes.list().collect(limit=bad)  # type: ignore[arg-type]
