"""Every resource operation: shapes, expand, 404s, validation errors, writes."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from evenergy_async.simulator import Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator
from .helpers import bearer, get_json


def first_vehicle(sim: Simulator, user: int = 0, integrated: str | None = None) -> dict[str, Any]:
    for v in sim.data.vehicles_of(sim.user_id(user)):
        if integrated is None or v["integrated"] == integrated:
            return v
    raise LookupError


async def send(
    session: aiohttp.ClientSession, method: str, url: str, token: str | None,
    body: Any = None, **headers: str,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    h = bearer(token, **headers) if token else dict(headers)
    async with session.request(method, url, json=body, headers=h) as r:
        text = await r.read()
        return r.status, (await r.json(content_type=None)) if text else None, r


@pytest.mark.invalid_requests("an unknown expand value; comma-joined expand values, accepted liberally", accepted=True)
async def test_vehicle_expansions(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    v = first_vehicle(simulator)
    url = f"{simulator.base_url}/vehicles/{v['id']}"
    h = bearer(simulator.user_token(0))
    status, plain, _ = await get_json(session, url, h)
    assert status == 200 and plain == v
    assert isinstance(plain["trim"], str) and isinstance(plain["user"], str)
    status, full, _ = await get_json(
        session, f"{url}?expand=trim.model.make&expand=user,latest_status_log", h)
    assert status == 200
    assert full["trim"]["model"]["make"]["name"]
    assert full["user"]["id"] == simulator.user_id(0)
    assert full["latest_status_log"] == simulator.data.logs("status", v["id"])[0]
    status, body, _ = await get_json(session, f"{url}?expand=owner", h)
    assert status == 400 and "expand" in body["field_errors"]


async def test_log_get_and_expand(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    v = first_vehicle(simulator)
    h = bearer(simulator.user_token(0))
    for kind, key in (("status", "sampled_at"), ("location", "sampled_at"),
                      ("command", "logged_at"), ("error", "logged_at")):
        log = simulator.data.logs(kind, v["id"])[4]
        status, body, _ = await get_json(session, log["url"], h)
        assert status == 200 and body == log
        status, body, _ = await get_json(session, log["url"] + "/", h)  # trailing slash too
        assert status == 200 and body == log
        alt = log[key].replace("Z", "+00:00")
        status, body, _ = await get_json(
            session, f"{simulator.base_url}/vehicles/{v['id']}/{kind}_logs/{alt}", h)
        assert status == 200 and body == log
        status, body, _ = await get_json(session, log["url"] + "?expand=vehicle.trim.model", h)
        assert body["vehicle"]["id"] == v["id"] and body["vehicle"]["trim"]["model"]["name"]
    status, body, _ = await get_json(
        session,
        f"{simulator.base_url}/vehicles/{v['id']}/status_logs?page_size=3&expand=vehicle.user", h)
    assert all(item["vehicle"]["user"]["id"] == simulator.user_id(0) for item in body)


@pytest.mark.parametrize("path", [
    "/vehicles/vhcl00000000000000000000000000",
    pytest.param("/vehicles/not-an-id", marks=pytest.mark.invalid_requests("not a vehicle ID")),
    "/vehicles/{vid}/status_logs/2020-01-01T00:00:00.000000Z",
    "/vehicle_makes/vmak00000000000000000000000000",
    "/vehicle_models/vmod00000000000000000000000000",
    "/vehicle_models/vmod00000000000000000000000000/connectors",
    "/vehicle_trims/trim00000000000000000000000000",
    pytest.param("/no/such/path", marks=pytest.mark.invalid_requests("a path the document does not have")),
])
async def test_unknown_ids_are_404_problems(
    simulator: Simulator, session: aiohttp.ClientSession, path: str
) -> None:
    path = path.format(vid=first_vehicle(simulator)["id"])
    status, body, resp = await get_json(
        session, f"{simulator.base_url}{path}", bearer(simulator.user_token(0)))
    assert status == 404
    assert resp.content_type == "application/problem+json"
    assert body["status"] == 404 and body["detail"] and "type" not in body


@pytest.mark.invalid_requests("a log timestamp that is not RFC 3339")
async def test_bad_log_timestamp_in_path_is_400(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    v = first_vehicle(simulator)
    status, body, _ = await get_json(
        session, f"{simulator.base_url}/vehicles/{v['id']}/error_logs/yesterday",
        bearer(simulator.user_token(0)))
    assert status == 400 and "logged_at" in body["field_errors"]


@pytest.mark.invalid_requests("a method the document does not have")
async def test_wrong_method_is_405(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    status, body, resp = await send(session, "PUT", f"{simulator.base_url}/vehicles",
                                    simulator.user_token(0), {})
    assert status == 405 and "GET" in resp.headers["Allow"]
    assert body["status"] == 405


@pytest.mark.invalid_requests("bodies that break the schema")
async def test_create_vehicle_validation_and_success(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    url = f"{simulator.base_url}/vehicles"
    token = simulator.user_token(1)
    status, body, _ = await send(session, "POST", url, token, {
        "battery_size_watt_hours": 500, "vehicle_class": "TRUCK", "description": "x" * 201})
    assert status == 400
    assert body["title"] == "Request failed validation."
    assert set(body["field_errors"]) == {"model", "battery_size_watt_hours", "vehicle_class",
                                         "description"}
    assert body["field_errors"]["model"] == ["This field is required."]
    status, body, _ = await send(session, "POST", url, token,
                                 {"model": f"{simulator.base_url}/vehicle_models/vmod000"})
    assert body["field_errors"]["model"] == ["Invalid hyperlink - Object does not exist."]
    status, body, _ = await send(session, "POST", url, token, [1, 2])
    assert status == 400
    model = simulator.data.models[0]
    status, body, _resp = await send(session, "POST", f"{url}?expand=user", token, {
        "model": model["url"], "battery_size_watt_hours": 61234, "vehicle_class": "PASSENGER"})
    assert status == 201, body
    assert body["integrated"] == "UNINTEGRATED"
    assert body["battery_size_watt_hours"] == 61230  # stored to 10 Wh
    assert body["user"]["id"] == simulator.user_id(1)
    assert body["latest_status_log"] is None
    status, got, _ = await get_json(session, body["url"], bearer(token))
    assert status == 200 and got["id"] == body["id"]
    status, logs, _ = await get_json(session, f"{body['url']}/status_logs", bearer(token))
    assert status == 200 and logs == []


async def test_create_vehicle_with_client_credentials_needs_evenergy_user(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    token = simulator.issue_token()["access_token"]
    url = f"{simulator.base_url}/vehicles"
    body = {"model": simulator.data.models[1]["url"]}
    status, problem, _ = await send(session, "POST", url, token, body)
    assert status == 400 and "user" in problem["field_errors"]
    status, created, _ = await send(session, "POST", url, token, body,
                                    **{"EvEnergy-User": simulator.user_id(2)})
    assert status == 201 and created["user"].endswith(simulator.user_id(2))


@pytest.mark.invalid_requests("bodies that break the schema")
async def test_patch_vehicle(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    v = first_vehicle(simulator)
    token = simulator.user_token(0)
    status, body, _ = await send(session, "PATCH", v["url"], token, {
        "maximum_charge_limit_percentage": 40, "smart_charging_enabled": "yes"})
    assert status == 400
    assert set(body["field_errors"]) == {"maximum_charge_limit_percentage",
                                         "smart_charging_enabled"}
    status, body, _ = await send(session, "PATCH", v["url"], token, {
        "maximum_charge_limit_percentage": 80, "vehicle_class": None})
    assert status == 200
    assert body["maximum_charge_limit_percentage"] == 80 and body["vehicle_class"] is None


async def test_battery_edit_only_for_unintegrated(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    integrated = next(v for v in simulator.data.vehicles if v["integrated"] != "UNINTEGRATED")
    token = simulator.issue_token()["access_token"]
    status, body, _ = await send(session, "PATCH", integrated["url"], token,
                                 {"battery_size_watt_hours": 50000})
    assert status == 400 and "battery_size_watt_hours" in body["field_errors"]


@pytest.mark.parametrize("delete_status", [204, 200])
async def test_delete_vehicle(session: aiohttp.ClientSession, delete_status: int) -> None:
    cfg = SimulatorConfig(users=1, vehicles=2, logs_per_kind=3, delete_status=delete_status)
    async with validated_simulator(cfg) as sim:
        v = sim.data.vehicles[0]
        token = sim.user_token(0)
        status, body, _ = await send(session, "DELETE", v["url"], token)
        assert status == delete_status
        assert (body is None) == (delete_status == 204)
        assert (await send(session, "GET", v["url"], token))[0] == 404
        assert (await send(session, "DELETE", v["url"], token))[0] == 404
        assert len(sim.data.vehicles) == 1


async def test_vehicle_connectors(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    v = first_vehicle(simulator)
    url = f"{v['url']}/connectors"
    token = simulator.user_token(0)
    status, body, _ = await send(session, "GET", url, token)
    assert status == 200 and set(body) == {"url", "vehicle", "native_connector", "adaptors",
                                           "updated_at"}
    status, body, _ = await send(session, "PATCH", url, token,
                                 {"native_connector": "NACS", "adaptors": ["NACS"]})
    assert status == 400
    assert body["field_errors"]["adaptors"] == ["An adaptor cannot match the native connector."]
    status, body, _ = await send(session, "PATCH", url, token,
                                 {"native_connector": "CHADEMO", "adaptors": ["CCS", "CCS"]})
    assert status == 400
    status, body, _ = await send(session, "PATCH", url, token,
                                 {"native_connector": "CHADEMO", "adaptors": ["CCS"]})
    assert status == 200
    assert body["native_connector"] == "CHADEMO" and body["adaptors"] == ["CCS"]
    assert body["updated_at"] is not None
    status, same, _ = await send(session, "PATCH", url, token, {})
    assert status == 200 and same == body


@pytest.mark.invalid_requests("bodies that break the schema")
async def test_state_of_charge(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    v = first_vehicle(simulator)
    url = f"{v['url']}/state_of_charge"
    token = simulator.user_token(0)
    status, body, _ = await send(session, "PATCH", url, token, {"state_of_charge_percentage": 101})
    assert status == 400
    assert body["field_errors"]["state_of_charge_percentage"] == [
        "Ensure this value is less than or equal to 100."]
    status, body, _ = await send(session, "PATCH", url, token, {"state_of_charge_percentage": 55})
    assert status == 200 and body["source"] == "MANUAL" and body["state_of_charge_percentage"] == 55
    status, body, _ = await send(session, "PATCH", url, token, {"state_of_charge_percentage": None})
    assert body["state_of_charge_percentage"] is None and body["source"] is None
    status, got, _ = await send(session, "GET", url, token)
    assert got == body


async def test_vpp_reconnect_disconnect(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    token = simulator.issue_token()["access_token"]
    active = next(v for v in simulator.data.vehicles if v["integrated"] == "ACTIVE")
    unint = next(v for v in simulator.data.vehicles if v["integrated"] == "UNINTEGRATED")
    status, body, _ = await send(session, "GET", f"{active['url']}/vpp_modes", token)
    assert status == 200 and set(body) == {"target_power", "import_max_power",
                                           "export_max_power", "charge_mode"}
    status, body, _ = await send(session, "POST", f"{active['url']}/reconnect", token, {})
    assert status == 201 and body["url"].startswith("https://") and body["expires_at"]
    status, body, _ = await send(session, "POST", f"{unint['url']}/reconnect", token)
    assert status == 400
    status, body, _ = await send(session, "POST", f"{active['url']}/disconnect", token)
    assert status == 200 and body["integrated"] == "INACTIVE"
    status, body, _ = await send(session, "POST", f"{unint['url']}/disconnect", token)
    assert status == 200 and body["integrated"] == "UNINTEGRATED"


@pytest.mark.invalid_requests("bodies that break the schema")
async def test_trims_models_makes(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    token = simulator.issue_token()["access_token"]
    base = simulator.base_url
    model = next(m for m in simulator.data.models if m["name"] == "ID.4")
    status, trims, _ = await send(session, "GET", f"{base}/vehicle_trims?model_id={model['id']}",
                                  token)
    assert status == 200 and {t["model"] for t in trims} == {model["url"]}
    status, trim, _ = await send(session, "GET", f"{trims[0]['url']}?expand=model.make", token)
    assert trim["model"]["make"]["name"] == "Volkswagen"
    status, body, _ = await send(session, "POST", f"{base}/vehicle_trims", token,
                                 {"name": "Custom", "model": model["url"]})
    assert status == 400 and "battery_size_watt_hours" in body["field_errors"]
    status, body, _ = await send(session, "POST", f"{base}/vehicle_trims", token, {
        "name": "Custom", "model": model["url"], "battery_size_watt_hours": 70000})
    assert status == 201 and body["onboarding_url"] is None
    status, listed, _ = await send(session, "GET", f"{base}/vehicle_trims?page_size=100", token)
    assert body["id"] not in {t["id"] for t in listed}  # custom trims are not listed
    status, _got, _ = await send(session, "GET", body["url"], token)
    assert status == 200
    make = simulator.data.makes[0]
    status, created, _ = await send(session, "POST", f"{base}/vehicle_models", token,
                                    {"name": "Cybertruck", "make": make["url"]})
    assert status == 201 and created["default_battery_size_watt_hours"] == 45000
    status, body, _ = await send(session, "PATCH", created["url"], token,
                                 {"default_connector_type": "GBT"})
    assert status == 400
    status, body, _ = await send(session, "PATCH", created["url"], token,
                                 {"default_connector_type": "NACS"})
    assert status == 200 and body["default_connector_type"] == "NACS"
    status, body, _ = await send(session, "GET", f"{base}/vehicle_models?make_id={make['id']}"
                                 "&expand=make", None)
    assert status == 200 and all(m["make"]["id"] == make["id"] for m in body)
    assert created["id"] not in {m["id"] for m in body}  # new models are hidden


@pytest.mark.invalid_requests("a malformed user ID filter")
async def test_available_for_user(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    us_user = next(u for u in simulator.data.users
                   if u["default_location"]["country_code"] == "US")
    status, models, _ = await send(
        session, "GET",
        f"{simulator.base_url}/vehicle_models?page_size=100&available_for_user_id={us_user['id']}",
        None)
    assert status == 200
    names = {m["name"] for m in models}
    assert "R1T" in names and "ID.3" not in names
    status, _body, _ = await send(
        session, "GET", f"{simulator.base_url}/vehicle_makes?available_for_user_id=userX", None)
    assert status == 400


@pytest.mark.invalid_requests("bodies/paths that break the schema")
async def test_model_connectors_write(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    token = simulator.issue_token()["access_token"]
    model = next(m for m in simulator.data.models if m["name"] == "ID.3")  # EUROPE only
    url = f"{model['url']}/connectors"
    status, body, _ = await send(session, "POST", url, token,
                                 {"region": "EUROPE", "connector_type": "CCS"})
    assert status == 400
    assert body["field_errors"]["region"] == ["A connector for this region already exists."]
    status, body, _ = await send(session, "POST", url, token, {
        "region": "NORTH_AMERICA", "connector_type": "NACS", "verified_at": "2026-10-01T00:00:00Z",
        "confidence": "HIGH"})
    assert status == 201 and body["verified_at"] == "2026-10-01T00:00:00.000000Z"
    status, body, _ = await send(session, "PATCH", f"{url}/NORTH_AMERICA", token,
                                 {"connector_type": "CCS", "source": None})
    assert status == 200 and body["connector_type"] == "CCS" and body["source"] is None
    status, body, _ = await send(session, "PATCH", f"{url}/NORTH_AMERICA", token,
                                 {"region": "EUROPE"})
    assert status == 400
    status, body, _ = await send(session, "GET", f"{url}/ASIA", None)
    assert status == 400
    limited = simulator.issue_token(scopes=["vehicle:read", "vehicle:write"])["access_token"]
    status, _, _ = await send(session, "PATCH", f"{url}/EUROPE", limited, {})
    assert status == 403


@pytest.mark.invalid_requests("a completion without authorization_request_uid")
async def test_onboarding_flow(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    base = simulator.base_url
    uid = simulator.user_id(0)
    bmw = next(m for m in simulator.data.makes if m["name"] == "BMW")
    q = f"user_id={uid}&client_id={simulator.client_id}"
    async with session.get(f"{base}/vehicle_onboarding?{q}&make_id={bmw['id']}",
                           allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"].startswith("https://")
    status, body, _ = await send(session, "GET", f"{base}/vehicle_onboarding?{q}&response_type=json",
                                 None)
    assert status == 400  # json needs a make, model or trim
    status, body, _ = await send(session, "GET", f"{base}/vehicle_onboarding?user_id={uid}"
                                 "&client_id=wrong&make_id=" + bmw["id"], None)
    assert status == 400
    status, init, _ = await send(
        session, "GET", f"{base}/vehicle_onboarding?{q}&make_id={bmw['id']}&response_type=json",
        None)
    assert status == 200
    assert init["auth_method"] == "native" and init["scopes"] and init["single_select"] is True
    renault = next(m for m in simulator.data.makes if m["name"] == "Renault")
    status, body, _ = await send(
        session, "GET",
        f"{base}/vehicle_onboarding?{q}&make_id={renault['id']}&response_type=json", None)
    assert status == 422
    complete = f"{base}/vehicle_onboarding/complete"
    status, body, _ = await send(session, "POST", complete, None, {"auth_code": "x"})
    assert status == 400 and "authorization_request_uid" in body["field_errors"]
    status, body, _ = await send(session, "POST", complete, None, {
        "authorization_request_uid": "4d4ce3d9-8a16-46a8-99e1-3f3f9b8a3a5b", "auth_code": "x"})
    assert status == 404
    status, body, _ = await send(session, "POST", complete, None, {
        "authorization_request_uid": init["authorization_request_id"], "auth_code": "multi-ok"})
    assert status == 201 and len(body["vehicles"]) == 2
    status, v, _ = await send(session, "GET", body["vehicles"][0]["url"], simulator.user_token(0))
    assert status == 200 and v["integrated"] == "ACTIVE"
    status, body, _ = await send(session, "POST", complete, None, {
        "authorization_request_uid": init["authorization_request_id"], "auth_code": "again"})
    assert status == 422  # single use


@pytest.mark.invalid_requests("no token; a malformed email")
async def test_onboarding_link(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    url = f"{simulator.base_url}/vehicle_onboarding/onboarding_link"
    make = simulator.data.makes[0]["id"]
    status, _, _ = await send(session, "POST", url, None, {"email": "a@b.co", "make": make})
    assert status == 401
    token = simulator.user_token(0)
    status, body, _ = await send(session, "POST", url, token, {"email": "nope", "make": "vmakX"})
    assert status == 400 and set(body["field_errors"]) == {"email", "make"}
    status, body, _ = await send(session, "POST", url, token, {"email": "a@b.co", "make": make})
    assert status == 204 and body is None


@pytest.mark.invalid_requests("missing/malformed query parameters")
async def test_compatibility_check(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    base = f"{simulator.base_url}/vehicle_compatibility/check"
    r1t = next(m for m in simulator.data.models if m["name"] == "R1T")["id"]
    status, body, _ = await send(session, "GET", f"{base}?vehicle_model_id={r1t}&country=us", None)
    assert status == 200 and body == {"compatible": True, "recommendation_rank": 10}
    status, body, _ = await send(session, "GET", f"{base}?vehicle_model_id={r1t}", None,
                                 **{"Accept-Language": "en-GB,en;q=0.8"})
    assert body["compatible"] is False
    status, body, _ = await send(session, "GET", f"{base}?vehicle_model_id={r1t}", None)
    assert body["compatible"] is True  # falls back to US
    status, body, _ = await send(session, "GET", f"{base}?country=USA", None)
    assert status == 400 and set(body["field_errors"]) == {"vehicle_model_id", "country"}
    assert body["type"].endswith("validation-failed-vehicle-compatibility-check/")
    status, body, _ = await send(
        session, "GET", f"{base}?vehicle_model_id=vmod00000000000000000000000000", None)
    assert status == 404 and body["type"].endswith("vehicle-model-not-found/")


@pytest.mark.invalid_requests("bodies that break the schema")
async def test_waitlist(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    url = f"{simulator.base_url}/vehicle_waitlist"
    model = simulator.data.models[0]["id"]
    ok = [{"email": "a@b.co", "vehicle_model_id": model},
          {"email": "a@b.co", "vehicle_make_name": "Aptera", "vehicle_model_name": "Solar"}]
    for body in ok:
        status, resp, _ = await send(session, "POST", url, None, body)
        assert status == 201 and resp["id"].startswith("vwlt") and len(resp["id"]) == 30
    bad = [{"email": "a@b.co"},
           {"email": "a@b.co", "vehicle_model_id": model, "vehicle_make_name": "X"},
           {"email": "a@b.co", "vehicle_make_name": "Aptera"},
           {"vehicle_model_id": model},
           {"email": "a@b.co", "vehicle_model_id": "vmod00000000000000000000000000"}]
    for body in bad:
        status, resp, _ = await send(session, "POST", url, None, body)
        assert status == 400, body
        assert resp["field_errors"]
