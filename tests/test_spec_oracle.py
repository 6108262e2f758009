"""The oracle itself: it catches what breaks the document, its allow-list entries are each needed,
and its fast path never passes a value that openapi-core would refuse."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, MultiDict

from evenergy_async.simulator import DataSet, Simulator, SimulatorConfig

from . import quirks
from .spec_oracle import (
    SPEC_PATH,
    Exchange,
    Recorder,
    SpecRequest,
    SpecResponse,
    _schema_validators,
    checker,
    find_operation,
    openapi,
    spec_dict,
)

# The vendored copy is byte-identical to ../shared/spec/ev-energy-vehicles-openapi.yaml; a
# change there is vendored again on purpose (and this digest updated with it).
SPEC_SHA256 = "83dae2a7eff17408cefd6514387f084c83a33416704c75813d98bb15b848464d"

VEHICLE = "vhcl01HKX148JAH4SNMSF5V72KWSEZ"
TESTS = Path(__file__).parent


def test_vendored_spec_is_pinned() -> None:
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256


def request(method: str, path: str, query: dict[str, str] | None = None, *, token: bool = True,
            body: Any = None, **headers: str) -> SpecRequest:
    h = CIMultiDict(headers)
    if token:
        h["Authorization"] = "Bearer simuTOKEN"
    raw = None if body is None else json.dumps(body).encode()
    return SpecRequest(method, path, MultiDict(query or {}), h, raw, "application/json" if raw else "")


def response(status: int, body: Any = None, content_type: str = "application/json", **headers: str) -> SpecResponse:
    data = b"" if body is None else json.dumps(body).encode()
    return SpecResponse(status, data, CIMultiDict({"EvEnergy-Version": "2", **headers}), content_type if data else "")


def check(req: SpecRequest, resp: SpecResponse) -> list[str]:
    rec = Recorder("self-test")
    rec.pending.append(Exchange(req, resp.status_code, resp, None))
    return [v.describe() for v in rec.check_pending()]


def check_request(req: SpecRequest, status: int = 200) -> list[str]:
    found = checker().request(req, find_operation(req.method_, req.path_))
    return [v.describe() for v in quirks.filter_violations(found, req, status)]


MAKE = DataSet(SimulatorConfig()).makes[0]


def test_a_conforming_exchange_passes() -> None:
    assert check(request("GET", "/v2/vehicle_makes", {"page_size": "10"}, token=False), response(200, [MAKE])) == []


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({**MAKE, "name": 5}, "$[0].name: 5 is not of type 'string'"),
        ({**MAKE, "url": "http://x/a b"}, "is not a 'uri'"),
    ],
)
def test_a_response_body_that_breaks_the_schema_is_caught(item: dict[str, Any], expected: str) -> None:
    found = check(request("GET", "/v2/vehicle_makes", token=False), response(200, [item]))
    assert len(found) == 1 and "get-vehicle_makes response body" in found[0] and expected in found[0], found


def test_an_undeclared_status_is_caught() -> None:
    found = check(request("GET", "/v2/vehicle_makes", token=False), response(418, {"title": "t", "detail": "d"}))
    assert len(found) == 1 and "response status" in found[0] and "418" in found[0]


def test_a_problem_instance_must_be_a_uri() -> None:
    problem = {"status": 400, "title": "t", "detail": "d", "instance": "https://api.ev.energy/v2/vehicles/a b"}
    found = check(request("GET", f"/v2/vehicles/{VEHICLE}/status_logs/yesterday"),
                  response(400, problem, "application/problem+json"))
    assert any("$.instance" in f and "is not a 'uri'" in f for f in found), found


def test_a_missing_token_is_caught_where_the_document_wants_one() -> None:
    found = check_request(request("GET", "/v2/vehicles", token=False), 401)
    assert len(found) == 1 and "get-vehicles request security" in found[0]
    assert check_request(request("GET", "/v2/vehicle_makes", token=False)) == []  # security: []
    # the quirk fix: onboarding_link names the scheme `OAuth2`; it needs a token all the same
    body = {"email": "a@example.com"}
    found = check_request(request("POST", "/v2/vehicle_onboarding/onboarding_link", token=False, body=body), 401)
    assert len(found) == 1 and "post-vehicle_onboarding-onboarding_link request security" in found[0]


def test_bad_request_parameters_are_caught() -> None:
    found = check_request(request("GET", "/v2/vehicle_makes", {"page_size": "0"}))
    assert len(found) == 1 and "query parameter page_size" in found[0] and "minimum" in found[0]
    found = check_request(request("GET", f"/v2/vehicles/{VEHICLE}/status_logs", {"page_after": "vmak01"}))
    assert len(found) == 1 and "page_after" in found[0]  # not a timestamp: the quirk does not cover it


def test_a_path_the_document_lacks_is_caught() -> None:
    found = check_request(request("PUT", "/v2/vehicles"), 405)
    assert found and "no operation of the document matches" in found[0]


def test_the_spec_fix_still_finds_its_target() -> None:
    patched = quirks.patched_spec(spec_dict())  # each fix raises if its target is gone
    assert patched != spec_dict()


# -- each allow-list entry is needed: an exchange the raw document flags, the quirk allows ----


@pytest.mark.invalid_requests("a bad EvEnergy-Version on an operation that does not list 400")
async def test_quirk_bad_version_is_400_everywhere(sim: Simulator, spec_violations: Recorder) -> None:
    vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
    headers = {"Authorization": f"Bearer {sim.user_token(0)}", "EvEnergy-Version": "3"}
    async with aiohttp.ClientSession() as session, session.delete(f"{sim.base_url}/vehicles/{vid}", headers=headers) as r:
        assert r.status == 400
    before = quirks.USES["bad version is 400 everywhere"]
    assert spec_violations.check_pending() == []
    assert quirks.USES["bad version is 400 everywhere"] == before + 1


async def test_quirk_log_cursors_are_timestamps(sim: Simulator, spec_violations: Recorder) -> None:
    vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
    headers = {"Authorization": f"Bearer {sim.user_token(0)}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sim.base_url}/vehicles/{vid}/status_logs?page_size=5", headers=headers) as r:
            assert r.status == 200
            nxt = r.links["next"]["url"]
        assert "page_after=" in str(nxt)
        async with session.get(nxt, headers=headers) as r:
            assert r.status == 200
    before = quirks.USES["log-list cursors are timestamps"]
    assert spec_violations.check_pending() == []
    assert quirks.USES["log-list cursors are timestamps"] == before + 1


def test_every_quirk_has_a_test_here() -> None:
    names = {q.name for q in quirks.QUIRKS}
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(f'"{n}"' in source for n in names), names


# -- the Rust pre-check never passes a value openapi-core refuses --------------------------


CASES: list[tuple[str, Any]] = [
    ("VehicleMake", MAKE),
    ("VehicleMake", {**MAKE, "id": 5}),
    ("VehicleMake", {**MAKE, "url": "not a uri"}),
    ("VehicleMake", {**MAKE, "url": "http://x/a b"}),
    ("VehicleMake", {**MAKE, "id": "vmak01HKRFPJV36BCMGHTH00CGDQE\u0660"}),  # a Unicode digit
    ("VehicleStatusLog", {"sampled_at": "yesterday"}),
    ("VehicleStatusLog", {"sampled_at": "2026-11-02T14:18:16.883383Z"}),
    ("VehicleStatusLog", {"sampled_at": "2026-11-02T14:18:16.883383"}),
    ("VehicleStatusLog", {"state": "HOVERING"}),
    ("VehicleWaitlistRequest", {"email": "not-an-email"}),
    ("VehicleWaitlistRequest", {"email": "a@example.com"}),
]


@pytest.mark.parametrize(("name", "value"), CASES)
def test_fast_path_agrees_with_openapi_core(name: str, value: Any) -> None:
    spec = openapi().spec
    components = spec / "components" / "schemas"
    if name not in components:
        pytest.fail(f"no schema {name}")
    validator: Any = _schema_validators().create(spec, components / name)
    assert validator._rs is not None
    python_valid = not list(validator.validator.iter_errors(value))
    if validator._rs.is_valid(value):
        assert python_valid, f"jsonschema-rs passes {value!r}, openapi-core does not"


def test_every_simulator_the_tests_start_is_validated() -> None:
    """Tests start simulators only through ``validated_simulator`` (so every exchange is checked)."""
    direct = re.compile(r"(?<![\w.])" + "Simulator" + r"\(")
    offenders = [
        f"{p.relative_to(TESTS)}:{n}"
        for p in sorted(TESTS.rglob("*.py"))
        if p.name != "spec_oracle.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if direct.search(line)
    ]
    assert offenders == [], "start simulators with tests.spec_oracle.validated_simulator(...)"


@pytest.mark.invalid_requests("a log timestamp that is not one (with a space)")
async def test_problem_instance_is_the_raw_path(sim: Simulator, spec_violations: Recorder) -> None:
    # finding of the oracle: `instance` was built from the decoded path ("…/a b"), not a URI
    vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
    headers = {"Authorization": f"Bearer {sim.user_token(0)}"}
    url = f"{sim.base_url}/vehicles/{vid}/status_logs/a%20b"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
        assert r.status == 400
        body = await r.json(content_type=None)
    assert body["instance"] == f"{sim.base_url}/vehicles/{vid}/status_logs/a%20b"
    assert spec_violations.check_pending() == []  # the response conforms (format: uri)
