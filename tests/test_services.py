"""Every one of the 38 operations against the simulator over loopback, with error statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from yarl import URL

from evenergy_async import (
    UNSET,
    BadRequestError,
    ClientCredentials,
    ConflictError,
    ConnectorType,
    EvEnergyClient,
    NotFoundError,
    OnboardingLinkRequest,
    Region,
    UnauthorizedError,
    Vehicle,
    VehicleConnectorsUpdate,
    VehicleCreate,
    VehicleModelConnectorCreate,
    VehicleModelConnectorPatch,
    VehicleModelCreate,
    VehicleModelUpdate,
    VehicleOnboardingCompleteRequest,
    VehicleStateOfChargeUpdate,
    VehicleTrim,
    VehicleTrimCreate,
    VehicleUpdate,
    VehicleWaitlistRequest,
)
from evenergy_async._converter import parse_timestamp
from evenergy_async.simulator import Simulator

from .conftest import no_sleep

MISSING_VEHICLE = "vhcl00000000000000000000000000"
MISSING_MODEL = "vmod00000000000000000000000000"


def user_id(sim: Simulator, i: int = 0) -> str:
    return str(sim.data.users[i]["id"])


def my_vehicle(sim: Simulator) -> str:
    return str(sim.data.vehicles_of(user_id(sim))[0]["id"])


# -- vehicles ---------------------------------------------------------------------------


async def test_vehicles_list_is_the_users_vehicles(sim: Simulator, client: EvEnergyClient) -> None:
    got = [v async for v in client.vehicles.list(page_size=2)]
    assert [v.id for v in got] == [v["id"] for v in sim.data.vehicles_of(user_id(sim))]
    assert all(isinstance(v, Vehicle) for v in got)
    assert client.rate_limit is not None and client.rate_limit.limit == sim.config.rate_limit


async def test_vehicles_list_expand_inlines_trim(client: EvEnergyClient) -> None:
    plain = [v async for v in client.vehicles.list()]
    expanded = [v async for v in client.vehicles.list(expand=["trim"])]
    assert all(isinstance(v.trim, str) for v in plain if v.trim is not None)
    assert any(isinstance(v.trim, VehicleTrim) for v in expanded)


async def test_vehicles_list_unauthorized(sim: Simulator) -> None:
    async with EvEnergyClient("not-a-token", base_url=sim.base_url, sleep=no_sleep) as c:
        with pytest.raises(UnauthorizedError) as info:
            [v async for v in c.vehicles.list()]
    assert info.value.status == 401 and info.value.method == "GET"


async def test_vehicle_get_and_404(sim: Simulator, client: EvEnergyClient) -> None:
    vid = my_vehicle(sim)
    v = await client.vehicles.get(vid, expand=["trim.model.make"])
    assert v.id == vid
    with pytest.raises(NotFoundError) as info:
        await client.vehicles.get(MISSING_VEHICLE)
    assert info.value.status == 404 and info.value.title
    other = str(sim.data.vehicles_of(user_id(sim, 1))[0]["id"])
    with pytest.raises(NotFoundError):  # another user's vehicle is invisible
        await client.vehicles.get(other)


@pytest.mark.invalid_requests("a charge limit below the minimum, sent raw to get the server's 400")
async def test_vehicle_create_update_delete(sim: Simulator, client: EvEnergyClient) -> None:
    model_url = str(sim.data.models[0]["url"])
    created = await client.vehicles.create(
        VehicleCreate(model=model_url, battery_size_watt_hours=64000, description="van", vehicle_class=None)
    )
    assert created.battery_size_watt_hours == 64000
    updated = await client.vehicles.update(
        created.id, VehicleUpdate(maximum_charge_limit_percentage=90, vehicle_class=None)
    )
    assert updated.maximum_charge_limit_percentage == 90 and updated.vehicle_class is None
    sent = sim.stats.requests
    with pytest.raises(ValueError, match=r"VehicleUpdate\.maximum_charge_limit_percentage must be 50\.\.100, got 10"):
        await client.vehicles.update(created.id, VehicleUpdate(maximum_charge_limit_percentage=10))
    assert sim.stats.requests == sent  # refused before sending: the client sends only what the spec allows
    # what a client that sends it anyway gets from the server: a 400 naming the field
    async with (
        aiohttp.ClientSession() as session,
        session.patch(
            f"{sim.base_url}/vehicles/{created.id}",
            json={"maximum_charge_limit_percentage": 10},
            headers={"Authorization": f"Bearer {sim.user_token(0)}"},
        ) as resp,
    ):
        assert resp.status == 400
        assert "maximum_charge_limit_percentage" in (await resp.json())["field_errors"]
    assert await client.vehicles.delete(created.id) is None
    with pytest.raises(NotFoundError):
        await client.vehicles.get(created.id)
    with pytest.raises(NotFoundError):
        await client.vehicles.delete(created.id)


async def test_vehicle_create_expand_is_one_string(sim: Simulator, client: EvEnergyClient) -> None:
    body = VehicleCreate(model=str(sim.data.models[0]["url"]), battery_size_watt_hours=64000)
    created = await client.vehicles.create(body, expand="trim")
    assert not isinstance(created.trim, str | None)  # expanded into an object
    before = sim.stats.requests
    for bad in (["trim"], ("trim", "user"), 3):
        with pytest.raises(TypeError, match="one string"):
            await client.vehicles.create(body, expand=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        await client.vehicles.create(body, expand="")
    assert sim.stats.requests == before  # caught before sending


async def raw_request(sim: Simulator, method: str, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    """What a client that sends ``body`` anyway gets from the server (user 0's token)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{sim.base_url}{path}", json=body, headers={"Authorization": f"Bearer {sim.user_token(0)}"}
        ) as resp,
    ):
        return resp.status, await resp.json()


@pytest.mark.invalid_requests("a battery size below the minimum, sent raw to get the server's 400")
async def test_vehicle_create_validation_error(sim: Simulator, client: EvEnergyClient) -> None:
    model = str(sim.data.models[0]["url"])
    sent = sim.stats.requests
    with pytest.raises(ValueError, match=r"VehicleCreate\.battery_size_watt_hours must be 1000\.\.300000, got 10"):
        await client.vehicles.create(VehicleCreate(model=model, battery_size_watt_hours=10))
    assert sim.stats.requests == sent  # the client sends only what the spec allows
    status, problem = await raw_request(sim, "POST", "/vehicles", {"model": model, "battery_size_watt_hours": 10})
    assert status == 400 and "battery_size_watt_hours" in problem["field_errors"]  # type: ignore[operator]


async def test_create_with_client_credentials_needs_user(sim: Simulator) -> None:
    body = VehicleCreate(model=str(sim.data.models[0]["url"]))
    cred = ClientCredentials(sim.client_id, sim.client_secret)
    async with EvEnergyClient(cred, base_url=sim.base_url, sleep=no_sleep) as c:
        with pytest.raises(BadRequestError):
            await c.vehicles.create(body)
        v = await c.as_user(user_id(sim, 2)).vehicles.create(body)
        assert v.id in {x["id"] for x in sim.data.vehicles_of(user_id(sim, 2))}


@pytest.mark.invalid_requests("a state of charge above 100, sent raw to get the server's 400")
async def test_vehicle_sub_resources(sim: Simulator, client: EvEnergyClient) -> None:
    vid = my_vehicle(sim)
    modes = await client.vehicles.vpp_modes(vid)
    assert isinstance(modes.charge_mode, bool)
    conns = await client.vehicles.update_connectors(
        vid, VehicleConnectorsUpdate(native_connector=ConnectorType.NACS, adaptors=[ConnectorType.CCS])
    )
    assert conns.native_connector == ConnectorType.NACS
    assert (await client.vehicles.get_connectors(vid)).adaptors == conns.adaptors
    soc = await client.vehicles.update_state_of_charge(vid, VehicleStateOfChargeUpdate(state_of_charge_percentage=42))
    assert soc.state_of_charge_percentage == 42
    assert (await client.vehicles.get_state_of_charge(vid)).state_of_charge_percentage == 42
    with pytest.raises(ValueError, match=r"state_of_charge_percentage must be 0\.\.100, got 101"):
        await client.vehicles.update_state_of_charge(vid, VehicleStateOfChargeUpdate(state_of_charge_percentage=101))
    status, _ = await raw_request(sim, "PATCH", f"/vehicles/{vid}/state_of_charge", {"state_of_charge_percentage": 101})
    assert status == 400
    with pytest.raises(NotFoundError):
        await client.vehicles.get_connectors(MISSING_VEHICLE)


async def test_reconnect_and_disconnect(sim: Simulator, client: EvEnergyClient) -> None:
    vid = my_vehicle(sim)
    link = await client.vehicles.reconnect(vid)
    assert link.url and link.expires_at is not None and link.expires_at.tzinfo is not None
    v = await client.vehicles.disconnect(vid)
    assert v.id == vid
    with pytest.raises(NotFoundError):
        await client.vehicles.disconnect(MISSING_VEHICLE)


# -- catalogue --------------------------------------------------------------------------


async def test_makes(sim: Simulator, client: EvEnergyClient) -> None:
    makes = [m async for m in client.vehicle_makes.list(ordering="name", page_size=2)]
    assert [m.name for m in makes] == sorted(m["name"] for m in sim.data.makes)
    assert (await client.vehicle_makes.get(makes[0].id)).id == makes[0].id
    with pytest.raises(NotFoundError):
        await client.vehicle_makes.get("vmak00000000000000000000000000")


async def test_catalogue_reads_work_without_token(sim: Simulator) -> None:
    async with EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as anon:
        makes = [m async for m in anon.vehicle_makes.list()]
        models = [m async for m in anon.vehicle_models.list(make_id=makes[0].id)]
        assert models and all(m.make == makes[0].url for m in models)


@pytest.mark.invalid_requests("a make that is not a URL, to get the server's 400")
async def test_models(sim: Simulator, client: EvEnergyClient) -> None:
    models = [m async for m in client.vehicle_models.list(ordering="-name", expand=["make"])]
    assert [m.name for m in models] == sorted((m["name"] for m in sim.data.models), key=str.casefold, reverse=True)
    make = sim.data.makes[0]
    created = await client.vehicle_models.create(VehicleModelCreate(name="Zed", make=str(make["url"])))
    assert created.name == "Zed"
    got = await client.vehicle_models.get(created.id, expand=["make"])
    assert got.id == created.id
    updated = await client.vehicle_models.update(created.id, VehicleModelUpdate(default_connector_type=ConnectorType.CCS))
    assert updated.default_connector_type == ConnectorType.CCS
    with pytest.raises(BadRequestError):
        await client.vehicle_models.create(VehicleModelCreate(name="", make="not a url"))
    with pytest.raises(NotFoundError):
        await client.vehicle_models.update(MISSING_MODEL, VehicleModelUpdate(default_connector_type=None))
    with pytest.raises(NotFoundError):
        await client.vehicle_models.get(MISSING_MODEL)


async def test_model_connectors(sim: Simulator, client: EvEnergyClient) -> None:
    model = await client.vehicle_models.create(VehicleModelCreate(name="Conn", make=str(sim.data.makes[0]["url"])))
    added = await client.vehicle_models.add_connector(
        model.id, VehicleModelConnectorCreate(region=Region.EUROPE, connector_type=ConnectorType.CCS)
    )
    assert added.region == Region.EUROPE
    with pytest.raises((ConflictError, BadRequestError)):  # one connector per region
        await client.vehicle_models.add_connector(
            model.id, VehicleModelConnectorCreate(region=Region.EUROPE, connector_type=ConnectorType.CCS)
        )
    listed = [c async for c in client.vehicle_models.list_connectors(model.id, page_size=1)]
    assert [c.region for c in listed] == [Region.EUROPE]
    patched = await client.vehicle_models.update_connector(
        model.id, "EUROPE", VehicleModelConnectorPatch(connector_type=ConnectorType.NACS, verified_at=None)
    )
    assert patched.connector_type == ConnectorType.NACS and patched.verified_at is None
    assert (await client.vehicle_models.get_connector(model.id, Region.EUROPE)).connector_type == ConnectorType.NACS
    with pytest.raises(NotFoundError):
        await client.vehicle_models.get_connector(model.id, "NORTH_AMERICA")
    with pytest.raises(ValueError):
        await client.vehicle_models.get_connector(model.id, "MARS")


@pytest.mark.invalid_requests("a battery size below the minimum, sent raw to get the server's 400")
async def test_trims(sim: Simulator, client: EvEnergyClient) -> None:
    model = sim.data.models[0]
    trims = [t async for t in client.vehicle_trims.list(model_id=str(model["id"]), expand=["model"])]
    assert trims and all(not isinstance(t.model, str) and t.model is not None and t.model.id == model["id"] for t in trims)
    created = await client.vehicle_trims.create(
        VehicleTrimCreate(name="Long Range", model=str(model["url"]), battery_size_watt_hours=82000)
    )
    assert (await client.vehicle_trims.get(created.id)).battery_size_watt_hours == 82000
    with pytest.raises(ValueError, match=r"VehicleTrimCreate\.battery_size_watt_hours must be 1000\.\.300000, got 1"):
        await client.vehicle_trims.create(VehicleTrimCreate(name="x", model=str(model["url"]), battery_size_watt_hours=1))
    body = {"name": "x", "model": str(model["url"]), "battery_size_watt_hours": 1}
    status, problem = await raw_request(sim, "POST", "/vehicle_trims", body)
    assert status == 400 and "battery_size_watt_hours" in problem["field_errors"]  # type: ignore[operator]
    with pytest.raises(NotFoundError):
        await client.vehicle_trims.get("trim00000000000000000000000000")


# -- logs -------------------------------------------------------------------------------

KINDS = [
    ("status", "status_logs", "sampled_at"),
    ("location", "location_logs", "sampled_at"),
    ("command", "command_logs", "logged_at"),
    ("error", "error_logs", "logged_at"),
]


@pytest.mark.parametrize(("kind", "attr", "field"), KINDS)
async def test_log_list_get_and_filters(
    sim: Simulator, client: EvEnergyClient, kind: str, attr: str, field: str
) -> None:
    vid = my_vehicle(sim)
    service = getattr(client, attr)
    expected = sim.data.logs(kind, vid)
    got = [r async for r in service.list(vid, page_size=7)]
    assert [getattr(r, field) for r in got] == [parse_timestamp(e[field]) for e in expected]
    # since/until are inclusive and map to the kind's own field
    stamps = [parse_timestamp(e[field]) for e in expected]
    lo, hi = stamps[-10], stamps[5]
    window = [r async for r in service.list(vid, since=lo, until=hi)]
    assert [getattr(r, field) for r in window] == [s for s in stamps if lo <= s <= hi]
    one = await service.get(vid, stamps[3])
    assert getattr(one, field) == stamps[3]
    with pytest.raises(NotFoundError):
        await service.get(vid, datetime(2001, 1, 1, tzinfo=UTC))
    with pytest.raises(NotFoundError):
        [r async for r in service.list(MISSING_VEHICLE)]
    with pytest.raises(ValueError):
        service.list(vid, since=datetime(2026, 1, 1))


async def test_log_expand_vehicle(sim: Simulator, client: EvEnergyClient) -> None:
    vid = my_vehicle(sim)
    rec = await anext(aiter(client.status_logs.list(vid, expand=["vehicle"])))
    assert isinstance(rec.vehicle, Vehicle) and rec.vehicle.id == vid


@pytest.mark.invalid_requests("page_size above 100, to get the server's 400")
async def test_log_page_size_rejected_by_server_is_typed(sim: Simulator, client: EvEnergyClient) -> None:
    url = URL(str(sim.base_url)) / "vehicles" / my_vehicle(sim) / "status_logs"
    paginator = client.status_logs.list(my_vehicle(sim)).resume(str(url.with_query(page_size="500")))
    with pytest.raises(BadRequestError) as info:
        [r async for r in paginator]
    assert "page_size" in info.value.field_errors


# -- onboarding, compatibility, waitlist ---------------------------------------------------


async def test_onboarding(sim: Simulator, client: EvEnergyClient) -> None:
    make_id = str(sim.data.makes[0]["id"])
    url = URL(client.vehicle_onboarding.url(user_id=user_id(sim), client_id=sim.client_id, make_id=make_id))
    assert url.path.endswith("/vehicle_onboarding") and url.query["make_id"] == make_id
    started = await client.vehicle_onboarding.start_native(user_id=user_id(sim), client_id=sim.client_id, make_id=make_id)
    assert started.url and started.authorization_request_id
    done = await client.vehicle_onboarding.complete(
        VehicleOnboardingCompleteRequest(authorization_request_uid=started.authorization_request_id, auth_code="abc")
    )
    assert isinstance(done.vehicles, tuple | list)
    with pytest.raises((NotFoundError, ConflictError, BadRequestError)):  # single use
        await client.vehicle_onboarding.complete(
            VehicleOnboardingCompleteRequest(authorization_request_uid=started.authorization_request_id, auth_code="abc")
        )
    await client.vehicle_onboarding.send_link(OnboardingLinkRequest(email="a@example.com", make=make_id))
    with pytest.raises(ValueError):
        await client.vehicle_onboarding.start_native(user_id=user_id(sim), client_id=sim.client_id)


@pytest.mark.invalid_requests("an email that is not one, to get the server's 400")
async def test_compatibility_and_waitlist(sim: Simulator, client: EvEnergyClient) -> None:
    model_id = str(sim.data.models[0]["id"])
    result = await client.vehicle_compatibility.check(model_id, country="GB")
    assert isinstance(result.compatible, bool)
    with pytest.raises(NotFoundError):
        await client.vehicle_compatibility.check(MISSING_MODEL)
    joined = await client.vehicle_waitlist.join(VehicleWaitlistRequest(email="b@example.com", vehicle_model_id=model_id))
    assert joined.id.startswith("vwlt")
    with pytest.raises(BadRequestError):
        await client.vehicle_waitlist.join(VehicleWaitlistRequest(email="not-an-email"))


async def test_patch_sends_only_set_fields(sim: Simulator, client: EvEnergyClient) -> None:
    vid = my_vehicle(sim)
    before = await client.vehicles.get(vid)
    after = await client.vehicles.update(vid, VehicleUpdate(smart_charging_enabled=not before.smart_charging_enabled))
    assert after.smart_charging_enabled is not before.smart_charging_enabled
    assert after.maximum_charge_limit_percentage == before.maximum_charge_limit_percentage
    assert VehicleUpdate().smart_charging_enabled is UNSET


def test_timestamps_round_trip() -> None:
    dt = datetime(2026, 11, 1, 9, 39, 45, 984584, tzinfo=UTC)
    assert parse_timestamp("2026-11-01T09:39:45.984584Z") == dt
    assert parse_timestamp("2026-11-01T10:39:45.984584+01:00") == dt
    assert parse_timestamp("2026-11-01T09:39:45Z") == dt.replace(microsecond=0)
    assert parse_timestamp("2026-11-01T09:39:45.984584") == dt  # naive: assumed UTC
    assert dt - timedelta(0) == dt
