"""Send strictly: every request body, and every ``expand``, is checked against the spec before
it is sent.

``_converter.REQUEST_RULES`` holds the request schemas' constraints (minimum, maximum,
maxLength, pattern, enum, uuid format); this module reads the OpenAPI document and checks the
table against it, then derives a value just outside each constraint and checks that the client
refuses it, naming the field, without sending anything, and that the boundary values pass.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

import evenergy_async as ev
from evenergy_async import MockTransport, Response
from evenergy_async._converter import REQUEST_RULES, request_body

SPEC = yaml.safe_load((Path(__file__).parent / "spec" / "ev-energy-vehicles-openapi.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]

# (method, path) -> the model the client sends for that operation's request body
BODIES: dict[tuple[str, str], type] = {
    ("post", "/vehicles"): ev.VehicleCreate,
    ("patch", "/vehicles/{vehicle_id}"): ev.VehicleUpdate,
    ("patch", "/vehicles/{vehicle_id}/connectors"): ev.VehicleConnectorsUpdate,
    ("patch", "/vehicles/{vehicle_id}/state_of_charge"): ev.VehicleStateOfChargeUpdate,
    ("post", "/vehicles/{vehicle_id}/reconnect"): ev.VehicleReconnectRequest,
    ("post", "/vehicle_trims"): ev.VehicleTrimCreate,
    ("post", "/vehicle_models"): ev.VehicleModelCreate,
    ("patch", "/vehicle_models/{vehicle_model_id}"): ev.VehicleModelUpdate,
    ("post", "/vehicle_models/{vehicle_model_id}/connectors"): ev.VehicleModelConnectorCreate,
    ("patch", "/vehicle_models/{vehicle_model_id}/connectors/{region}"): ev.VehicleModelConnectorPatch,
    ("post", "/vehicle_onboarding/complete"): ev.VehicleOnboardingCompleteRequest,
    ("post", "/vehicle_onboarding/onboarding_link"): ev.OnboardingLinkRequest,
    ("post", "/vehicle_waitlist"): ev.VehicleWaitlistRequest,
}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def spec_properties() -> dict[type, dict[str, dict[str, Any]]]:
    """Model -> its writable properties in the spec, each with its (resolved) schema."""
    out: dict[type, dict[str, dict[str, Any]]] = {}
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody") if isinstance(op, dict) else None
            if not body:
                continue
            schema = resolve(body["content"]["application/json"]["schema"])
            props = {k: resolve(v) for k, v in schema.get("properties", {}).items() if not resolve(v).get("readOnly")}
            out[BODIES[(method, path)]] = props
    return out


PROPS = spec_properties()


def spec_constraints(prop: dict[str, Any]) -> dict[str, Any]:
    """The constraints REQUEST_RULES must hold for one property, as the spec states them."""
    out: dict[str, Any] = {}
    for key, name in (("minimum", "minimum"), ("maximum", "maximum"), ("maxLength", "max_length"), ("pattern", "pattern")):
        if key in prop:
            out[name] = prop[key]
    items = prop.get("items", {})
    enum = prop.get("enum") or resolve(items).get("enum") if prop.get("enum") or items else None
    if enum:
        out["enum"] = tuple(v for v in enum if v is not None)
    if prop.get("format") == "uuid":
        out["uuid"] = True
    return out


def test_every_request_body_of_the_spec_has_its_model() -> None:
    assert set(PROPS) == set(BODIES.values())
    for model, props in PROPS.items():
        assert set(props) == {f.name for f in attrs.fields(model)}, model.__name__


def test_the_rules_are_the_specs_constraints() -> None:
    for model, props in PROPS.items():
        rules = REQUEST_RULES.get(model.__name__, {})
        for name, prop in props.items():
            want = spec_constraints(prop)
            rule = rules.get(name)
            got = {} if rule is None else {k: v for k, v in attrs.asdict(rule).items() if v is not None and v is not False}
            python_enum = _enum_values(model, name)
            if "enum" in want and "enum" not in got:  # the Python enum itself is the rule
                assert python_enum == set(want.pop("enum")), f"{model.__name__}.{name}"
            assert got == want, f"{model.__name__}.{name}"
        assert set(rules) <= set(props), model.__name__


def _enum_values(model: type, name: str) -> set[str] | None:
    import typing

    hints = typing.get_type_hints(model)
    for arg in re.findall(r"\w+", str(hints[name])):
        cls = getattr(ev, arg, None)
        if isinstance(cls, type) and issubclass(cls, ev.OpenEnum):
            return {m.value for m in cls}
    return None


# -- values just outside each constraint are refused, the boundaries pass ---------------------

REQUIRED: dict[type, dict[str, Any]] = {
    ev.VehicleCreate: {"model": "https://api.ev.energy/v2/vehicle_models/vmod01HRFF3SEVSCRAV9B3CHVDFN0H"},
    ev.VehicleTrimCreate: {"name": "x", "model": "https://api.ev.energy/v2/vehicle_models/x", "battery_size_watt_hours": 50000},
    ev.VehicleModelCreate: {"name": "x", "make": "https://api.ev.energy/v2/vehicle_makes/x"},
    ev.VehicleModelConnectorCreate: {"region": "EUROPE", "connector_type": "CCS"},
    ev.VehicleOnboardingCompleteRequest: {"authorization_request_uid": "5f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "auth_code": "a"},
    ev.OnboardingLinkRequest: {"email": "a@example.com", "make": "vmak01HRFF3SEVSCRAV9B3CHVDFN0H"},
    ev.VehicleWaitlistRequest: {"email": "a@example.com"},
}


def cases() -> list[Any]:
    out = []
    for model, props in PROPS.items():
        for name, prop in props.items():
            c = spec_constraints(prop)
            is_list = prop.get("type") == "array"
            wrap = (lambda v: [v]) if is_list else (lambda v: v)
            bad: list[Any] = []
            good: list[Any] = []
            if "minimum" in c:
                bad.append(c["minimum"] - 1)
                good.append(c["minimum"])
            if "maximum" in c:
                bad.append(c["maximum"] + 1)
                good.append(c["maximum"])
            if "max_length" in c:
                bad.append("x" * (c["max_length"] + 1))
                good.append("x" * c["max_length"])
            if "pattern" in c:
                prefix = c["pattern"][:4]
                bad.append(prefix + "01hrff3sevscrav9b3chvdfn0h")  # lower case: outside [A-Z\d]
                good.append(prefix + "01HRFF3SEVSCRAV9B3CHVDFN0H")
            if "enum" in c:
                bad.append("NOT_IN_THE_SPEC")
                good += list(c["enum"])
            if c.get("uuid"):
                bad.append("not-a-uuid")
            for value in bad:
                out.append(pytest.param(model, name, wrap(value), False, id=f"{model.__name__}.{name}={value!r:.30}"))
            for value in good:
                out.append(pytest.param(model, name, wrap(value), True, id=f"{model.__name__}.{name}={value!r:.30} ok"))
    return out


@pytest.mark.parametrize(("model", "name", "value", "allowed"), cases())
def test_a_value_outside_the_spec_is_refused_and_the_boundary_passes(model: type, name: str, value: Any, allowed: bool) -> None:
    body = model(**{**REQUIRED.get(model, {}), name: value})
    if allowed:
        assert request_body(body)[name] == value
    else:
        with pytest.raises(ValueError, match=rf"^{model.__name__}\.{name}(\[0\])? must "):
            request_body(body)


TYPE_ERRORS = [
    (ev.VehicleStateOfChargeUpdate(state_of_charge_percentage="50"), "state_of_charge_percentage must be an integer, not str"),
    (ev.VehicleStateOfChargeUpdate(state_of_charge_percentage=True), "must be an integer, not bool"),
    (ev.VehicleStateOfChargeUpdate(state_of_charge_percentage=50.0), "must be an integer, not float"),
    (ev.VehicleUpdate(smart_charging_enabled="yes"), "smart_charging_enabled must be true or false, not str"),
    (ev.VehicleUpdate(smart_charging_enabled=1), "must be true or false, not int"),
    (ev.VehicleTrimCreate(name=3, model="m", battery_size_watt_hours=5000), "VehicleTrimCreate.name must be a string, not int"),
    (ev.VehicleModelConnectorCreate(region="EUROPE", connector_type=None), "connector_type may not be None"),
    (ev.VehicleConnectorsUpdate(adaptors="CCS"), "adaptors must be a list, not str"),
    (ev.VehicleModelConnectorPatch(verified_at="2026-11-01"), "verified_at must be a datetime, not str"),
    (ev.VehicleConnectorsUpdate(native_connector=ev.ConnectorType("WARP")), "native_connector must be one of CCS, NACS, CHADEMO, got 'WARP'"),
    (ev.VehicleConnectorsUpdate(native_connector=ev.ConnectorType.GBT), "native_connector must be one of CCS, NACS, CHADEMO, got 'GBT'"),
]


@pytest.mark.parametrize(("body", "says"), TYPE_ERRORS)
def test_a_value_of_the_wrong_type_is_refused(body: Any, says: str) -> None:
    with pytest.raises((TypeError, ValueError), match=re.escape(says)):
        request_body(body)


def test_what_the_spec_allows_is_sent_as_before() -> None:
    when = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    body = ev.VehicleModelConnectorPatch(connector_type=ev.ConnectorType.GBT, source=None, verified_at=when)
    assert request_body(body) == {"connector_type": "GBT", "source": None, "verified_at": "2026-11-01T09:00:00.000000Z"}
    assert request_body(ev.VehicleStateOfChargeUpdate(state_of_charge_percentage=None)) == {"state_of_charge_percentage": None}
    assert request_body(ev.VehicleUpdate()) == {}


async def test_the_client_sends_nothing_for_a_refused_body() -> None:
    sent: list[Any] = []

    def handler(request: Any) -> Response:
        sent.append(request)
        return Response.build(200, json.dumps({}).encode(), {"Content-Type": "application/json"}, url=request.url)

    vid = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
    async with ev.EvEnergyClient("tok-12345678", base_url="https://api.ev.energy/v2", transport=MockTransport(handler)) as c:
        with pytest.raises(ValueError, match=r"VehicleUpdate\.maximum_charge_limit_percentage must be 50\.\.100, got 101"):
            await c.vehicles.update(vid, ev.VehicleUpdate(maximum_charge_limit_percentage=101))
        with pytest.raises(TypeError, match=r"VehicleStateOfChargeUpdate\.state_of_charge_percentage must be an integer"):
            await c.vehicles.update_state_of_charge(vid, ev.VehicleStateOfChargeUpdate(state_of_charge_percentage="50"))
        with pytest.raises(ValueError, match="authorization_request_uid must be a UUID"):
            await c.vehicle_onboarding.complete(
                ev.VehicleOnboardingCompleteRequest(authorization_request_uid="r", auth_code="secret-code-value")
            )
    assert sent == []


# -- expand: the values each operation takes in the spec -------------------------------------

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
AT = datetime(2026, 11, 1, tzinfo=UTC)


async def _first_page(paginator: Any) -> None:
    async for _ in paginator.pages():
        return


EXPAND_CALLS: dict[tuple[str, str], Any] = {
    ("get", "/vehicles"): lambda c, e: _first_page(c.vehicles.list(expand=e)),
    ("get", "/vehicles/{vehicle_id}"): lambda c, e: c.vehicles.get(VID, expand=e),
    ("patch", "/vehicles/{vehicle_id}"): lambda c, e: c.vehicles.update(VID, ev.VehicleUpdate(), expand=e),
    ("get", "/vehicle_trims"): lambda c, e: _first_page(c.vehicle_trims.list(expand=e)),
    ("get", "/vehicle_trims/{vehicle_trim_id}"): lambda c, e: c.vehicle_trims.get("trim01HRFF3SEVSCRAV9B3CHVDFN0H", expand=e),
    ("get", "/vehicle_models"): lambda c, e: _first_page(c.vehicle_models.list(expand=e)),
    ("get", "/vehicle_models/{vehicle_model_id}"): lambda c, e: c.vehicle_models.get("vmod01HRFF3SEVSCRAV9B3CHVDFN0H", expand=e),
}
for _kind, _time in (("status", "sampled_at"), ("location", "sampled_at"), ("error", "logged_at"), ("command", "logged_at")):
    EXPAND_CALLS[("get", f"/vehicles/{{vehicle_id}}/{_kind}_logs")] = (
        lambda c, e, k=_kind: _first_page(getattr(c, f"{k}_logs").list(VID, expand=e))
    )
    EXPAND_CALLS[("get", f"/vehicles/{{vehicle_id}}/{_kind}_logs/{{{_time}}}")] = (
        lambda c, e, k=_kind: getattr(c, f"{k}_logs").get(VID, AT, expand=e)
    )


def spec_expand_enums() -> dict[tuple[str, str], list[str]]:
    params = SPEC["components"]["parameters"]
    out = {}
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            for prm in op.get("parameters", []) if isinstance(op, dict) else []:
                schema = params[prm["$ref"].rsplit("/", 1)[-1]] if "$ref" in prm else prm
                if schema.get("name") == "expand" and schema["schema"].get("items", {}).get("enum"):
                    out[(method, path)] = schema["schema"]["items"]["enum"]
    return out


EXPAND_ENUMS = spec_expand_enums()


def test_every_operation_with_an_expand_enum_is_checked() -> None:
    assert set(EXPAND_ENUMS) == set(EXPAND_CALLS)


@pytest.mark.parametrize("op", sorted(EXPAND_ENUMS), ids=lambda op: f"{op[0].upper()} {op[1]}")
async def test_expand_takes_what_the_spec_lists_and_nothing_else(op: tuple[str, str]) -> None:
    sent: list[Any] = []

    def handler(request: Any) -> Response:
        sent.append(request)
        return Response.build(200, b"[]", {"Content-Type": "application/json"}, url=request.url)

    call = EXPAND_CALLS[op]
    allowed = EXPAND_ENUMS[op]
    async with ev.EvEnergyClient("tok-12345678", base_url="https://api.ev.energy/v2", transport=MockTransport(handler)) as c:
        for value in (allowed[0], allowed[-1:], allowed):
            with contextlib.suppress(ev.ResponseDecodeError):  # an object was wanted: the request went out
                await call(c, value)
            assert sent[-1].url.query.getall("expand") == ([value] if isinstance(value, str) else list(value))
        before = len(sent)
        for bad in ("bogus", [allowed[0], "vehicle.secret"], ["trim.model.make.extra"]):
            with pytest.raises(ValueError, match=r"expand takes .* here, not"):
                await call(c, bad)
        assert len(sent) == before  # refused before sending


async def test_query_values_of_the_wrong_kind_are_refused_before_sending() -> None:
    sent: list[Any] = []

    def handler(request: Any) -> Response:
        sent.append(request)
        return Response.build(200, b"[]", {"Content-Type": "application/json"}, url=request.url)

    async with ev.EvEnergyClient("tok-12345678", base_url="https://api.ev.energy/v2", transport=MockTransport(handler)) as c:
        with pytest.raises(TypeError, match=r"since must be a datetime \(timezone-aware\), not str"):
            c.status_logs.list(VID, since="2026-11-01")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timezone-aware"):
            c.command_logs.list(VID, until=datetime(2026, 11, 1))
        with pytest.raises(ValueError, match="page must be an integer >= 1, got 0"):
            c.vehicle_models.list_connectors("vmod01HRFF3SEVSCRAV9B3CHVDFN0H", page=0)
    assert sent == []
