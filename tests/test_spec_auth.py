"""Every operation of the vendored OpenAPI document, checked against the client that implements it.

``tests/spec/ev-energy-vehicles-openapi.yaml`` is an exact copy of ``../shared/spec`` (do not edit
it). Each of its operations is mapped to the client call that implements it; the test fails if
one is missing or extra, if the call sends another method or path, or if the call's token use
differs from the operation's declared ``security``: ``[]`` means the token is optional (a
client with no token yet sends none, and does not fetch one), anything else means required
(a client-credentials client fetches a token first and sends it).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from evenergy_async import (
    APIError,
    BearerToken,
    ClientCredentials,
    ConnectorType,
    EvEnergyClient,
    MockTransport,
    OnboardingLinkRequest,
    Paginator,
    Region,
    Request,
    Response,
    RetryPolicy,
    VehicleConnectorsUpdate,
    VehicleCreate,
    VehicleModelConnectorCreate,
    VehicleModelConnectorPatch,
    VehicleModelCreate,
    VehicleModelUpdate,
    VehicleOnboardingCompleteRequest,
    VehicleStateOfChargeUpdate,
    VehicleTrimCreate,
    VehicleUpdate,
    VehicleWaitlistRequest,
)

SPEC = Path(__file__).parent / "spec" / "ev-energy-vehicles-openapi.yaml"
METHODS = ("get", "put", "post", "patch", "delete")

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
MID = "vmod01HSBR8Z36GD7A46K7M4R12VG0"
MAKE = "vmak01HSBR8Z36GD7A46K7M4R12VG0"
TRIM = "trim01HSBR8Z36GD7A46K7M4R12VG0"
USER = "user01HSBR8Z36GD7A46K7M4R12VG0"
AT = datetime(2026, 11, 1, tzinfo=UTC)

Call = Callable[[EvEnergyClient], Awaitable[Any]]


async def first_page(paginator: Paginator[Any]) -> Any:
    return await anext(paginator.pages())


#: operationId -> the client call that implements it
OPERATIONS: dict[str, Call] = {
    "get-vehicles": lambda c: first_page(c.vehicles.list()),
    "post-vehicles": lambda c: c.vehicles.create(VehicleCreate(model="https://x/m")),
    "get-vehicles-vehicle_id": lambda c: c.vehicles.get(VID),
    "patch-vehicles": lambda c: c.vehicles.update(VID, VehicleUpdate()),
    "delete-vehicles": lambda c: c.vehicles.delete(VID),
    "get-vehicles-vehicle_id-vpp_modes": lambda c: c.vehicles.vpp_modes(VID),
    "post-vehicles-vehicle_id-reconnect": lambda c: c.vehicles.reconnect(VID),
    "post-vehicles-vehicle_id-disconnect": lambda c: c.vehicles.disconnect(VID),
    "get-vehicles-vehicle_id-connectors": lambda c: c.vehicles.get_connectors(VID),
    "patch-vehicles-vehicle_id-connectors": lambda c: c.vehicles.update_connectors(
        VID, VehicleConnectorsUpdate(native_connector=ConnectorType.CCS)
    ),
    "get-vehicles-vehicle_id-state_of_charge": lambda c: c.vehicles.get_state_of_charge(VID),
    "patch-vehicles-vehicle_id-state_of_charge": lambda c: c.vehicles.update_state_of_charge(
        VID, VehicleStateOfChargeUpdate(state_of_charge_percentage=50)
    ),
    "get-vehicle_trims": lambda c: first_page(c.vehicle_trims.list()),
    "post-vehicle_trims": lambda c: c.vehicle_trims.create(
        VehicleTrimCreate(name="t", model="https://x/m", battery_size_watt_hours=60000)
    ),
    "get-vehicle_trims-vehicle_trim_id": lambda c: c.vehicle_trims.get(TRIM),
    "get-vehicle_models": lambda c: first_page(c.vehicle_models.list()),
    "post-vehicle_models": lambda c: c.vehicle_models.create(VehicleModelCreate(name="m", make="https://x/k")),
    "get-vehicle_models-vehicle_model_id": lambda c: c.vehicle_models.get(MID),
    "patch-vehicle_models-vehicle_model_id": lambda c: c.vehicle_models.update(MID, VehicleModelUpdate()),
    "get-vehicle_models-vehicle_model_id-connectors": lambda c: first_page(c.vehicle_models.list_connectors(MID)),
    "post-vehicle_models-vehicle_model_id-connectors": lambda c: c.vehicle_models.add_connector(
        MID, VehicleModelConnectorCreate(region=Region.EUROPE, connector_type=ConnectorType.CCS)
    ),
    "get-vehicle_models-vehicle_model_id-connectors-region": lambda c: c.vehicle_models.get_connector(MID, "EUROPE"),
    "patch-vehicle_models-vehicle_model_id-connectors-region": lambda c: c.vehicle_models.update_connector(
        MID, "EUROPE", VehicleModelConnectorPatch(connector_type=ConnectorType.NACS)
    ),
    "get-vehicle_makes": lambda c: first_page(c.vehicle_makes.list()),
    "get-vehicle_makes-vehicle_make_id": lambda c: c.vehicle_makes.get(MAKE),
    "get-vehicles-vehicle_id-status_logs": lambda c: first_page(c.status_logs.list(VID)),
    "get-vehicles-vehicle_id-status_logs-timestamp": lambda c: c.status_logs.get(VID, AT),
    "get-vehicles-vehicle_id-location_logs": lambda c: first_page(c.location_logs.list(VID)),
    "get-vehicles-vehicle_id-location_logs-timestamp": lambda c: c.location_logs.get(VID, AT),
    "get-vehicles-vehicle_id-command_logs": lambda c: first_page(c.command_logs.list(VID)),
    "get-vehicles-vehicle_id-command_logs-timestamp": lambda c: c.command_logs.get(VID, AT),
    "get-vehicles-vehicle_id-error_logs": lambda c: first_page(c.error_logs.list(VID)),
    "get-vehicles-vehicle_id-error_logs-timestamp": lambda c: c.error_logs.get(VID, AT),
    "get-vehicle_onboarding": lambda c: c.vehicle_onboarding.start_native(user_id=USER, client_id="app", make_id=MAKE),
    "post-vehicle_onboarding-complete": lambda c: c.vehicle_onboarding.complete(
        VehicleOnboardingCompleteRequest(authorization_request_uid="5f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", auth_code="a")
    ),
    "post-vehicle_onboarding-onboarding_link": lambda c: c.vehicle_onboarding.send_link(
        OnboardingLinkRequest(email="a@example.com", make=MAKE)
    ),
    "get-vehicle_compatibility-check": lambda c: c.vehicle_compatibility.check(MID),
    "post-vehicle_waitlist": lambda c: c.vehicle_waitlist.join(VehicleWaitlistRequest(email="a@example.com")),
}


def spec_operations() -> dict[str, tuple[str, str, bool]]:
    """operationId -> (METHOD, path template, token required) from the document."""
    doc = yaml.safe_load(SPEC.read_text())
    schemes = {name.lower() for name in doc["components"]["securitySchemes"]}
    default = doc.get("security")
    out: dict[str, tuple[str, str, bool]] = {}
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            security = op.get("security", default)
            # Known quirk: onboarding_link names its scheme "OAuth2", the document defines
            # "oauth2". Scheme names are matched case-insensitively here, and every
            # requirement must name a scheme that exists (so a typo cannot pass as "no auth").
            for requirement in security or []:
                assert {name.lower() for name in requirement} <= schemes, (op["operationId"], requirement)
            out[op["operationId"]] = (method.upper(), path, bool(security))
    return out


SPEC_OPS = spec_operations()


def test_every_operation_is_mapped_to_a_client_call() -> None:
    assert len(SPEC_OPS) == 38
    assert sorted(set(SPEC_OPS) - set(OPERATIONS)) == [], "operations without a client call"
    assert sorted(set(OPERATIONS) - set(SPEC_OPS)) == [], "client calls for no operation"


def test_the_quirky_scheme_name_still_means_required() -> None:
    assert SPEC_OPS["post-vehicle_onboarding-onboarding_link"][2] is True
    assert SPEC_OPS["post-vehicles-vehicle_id-reconnect"][2] is True  # no security: the document's default


def _template_regex(path: str) -> re.Pattern[str]:
    return re.compile("/v2" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)))


class Recorder:
    """A ``MockTransport`` handler: a token from the token endpoint, 404 for every API call."""

    def __init__(self) -> None:
        self.token_requests = 0
        self.api: list[Request] = []

    def __call__(self, request: Request) -> Response:
        if request.url.path == "/o/token/":
            self.token_requests += 1
            body = b'{"access_token": "fetched", "token_type": "Bearer", "expires_in": 36000}'
            return Response.build(200, body, {"Content-Type": "application/json"}, url=request.url)
        self.api.append(request)
        return Response.build(
            404, b'{"title": "Not Found", "status": 404}', {"Content-Type": "application/problem+json"}, url=request.url
        )


async def _run(op_id: str, auth: Any) -> Recorder:
    recorder = Recorder()
    async with EvEnergyClient(
        auth, transport=MockTransport(recorder), retry=RetryPolicy(max_attempts=1)
    ) as client:
        with pytest.raises(APIError):
            await OPERATIONS[op_id](client)
    return recorder


@pytest.mark.parametrize("op_id", sorted(SPEC_OPS))
async def test_auth_mode_matches_the_declared_security(op_id: str) -> None:
    method, path, required = SPEC_OPS[op_id]
    recorder = await _run(op_id, ClientCredentials("app", "secret"))
    assert len(recorder.api) == 1
    sent = recorder.api[0]
    assert sent.method == method
    assert _template_regex(path).fullmatch(sent.url.path), (sent.url.path, path)
    if required:
        assert sent.headers.get("Authorization") == "Bearer fetched", f"{op_id} needs the token"
        assert recorder.token_requests == 1
    else:
        assert "Authorization" not in sent.headers, f"{op_id} must work without a token"
        assert recorder.token_requests == 0


@pytest.mark.parametrize("op_id", sorted(SPEC_OPS))
async def test_a_token_in_hand_is_sent_everywhere(op_id: str) -> None:
    recorder = await _run(op_id, BearerToken("in-hand"))
    assert recorder.api[0].headers.get("Authorization") == "Bearer in-hand"
