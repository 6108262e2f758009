"""Onboarding, compatibility and the waitlist (client: ``VehicleOnboarding``,
``VehicleCompatibility``, ``VehicleWaitlist``)."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from .._data import AuthorizationRequest
from .._http import ID_RE, json_response, read_body
from .._problems import PROBLEM_BASE, ProblemError, bad_query, not_found
from .._state import BASE_PATH, CTX, STATE
from .._validate import MISSING, Body
from .._wire import encode_query, uuid_from_int

__all__: list[str] = []  # private module

ONBOARDING_PROVIDER = "https://connect.smartcar.com/oauth/authorize"
ONBOARDING_START = "https://app.ev.energy/vehicle-onboarding/start/"
REDIRECT_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "drivers.ev.energy", "example.com"})
AUTH_REQUEST_TTL = 600.0

routes = web.RouteTableDef()


def _check_client_id(request: web.Request, value: str | None, required: bool) -> None:
    if value is None:
        if required:
            raise bad_query({"client_id": ["This field is required."]})
        return
    if value != request.app[STATE].client_id:
        raise bad_query({"client_id": ["Unknown client_id."]})


@routes.get(BASE_PATH + "/vehicle_onboarding")
async def onboarding(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    data = st.data
    q = request.query
    errors: dict[str, list[str]] = {}
    user_id = q.get("user_id")
    if user_id is None:
        errors["user_id"] = ["This field is required."]
    elif not ID_RE["user"].fullmatch(user_id):
        errors["user_id"] = ["Not a valid user ID."]
    if errors:
        raise bad_query(errors)
    _check_client_id(request, q.get("client_id"), True)
    assert user_id is not None
    if user_id not in data.users_by_id:
        raise not_found("User does not exist.")
    make_id, model_id, trim_id = q.get("make_id"), q.get("model_id"), q.get("trim_id")
    if make_id is not None and make_id not in data.makes_by_id:
        raise not_found("Vehicle make does not exist.")
    if model_id is not None and model_id not in data.models_by_id:
        raise not_found("Vehicle model does not exist.")
    if trim_id is not None and trim_id not in data.trims_by_id:
        raise not_found("Vehicle trim does not exist.")
    redirect = q.get("redirect_uri")
    if redirect is not None:
        try:
            r = URL(redirect)
            ok = r.is_absolute() and r.scheme in ("http", "https") \
                and (r.host or "") in REDIRECT_HOSTS
        except ValueError:
            ok = False
        if not ok:
            raise bad_query({"redirect_uri": ["Does not match a registered redirect URI."]})
    json_mode = q.get("response_type") == "json"
    if q.get("response_type") not in (None, "json"):
        raise bad_query({"response_type": ['"json" is the only valid choice.']})
    if json_mode and make_id is None and model_id is None and trim_id is None:
        raise bad_query({"non_field_errors": [
            "response_type=json requires one of make_id, model_id or trim_id."]})
    make = None
    if trim_id is not None:
        make_of = data.models_by_id[data.trims_by_id[trim_id].model_id].make_id
        make = data.makes_by_id[make_of]
    elif model_id is not None:
        make = data.makes_by_id[data.models_by_id[model_id].make_id]
    elif make_id is not None:
        make = data.makes_by_id[make_id]
    rid = uuid_from_int(data.next_rand())
    data.auth_requests[rid] = AuthorizationRequest(
        rid, user_id, make_id or (make.id if make else None), model_id, trim_id,
        st.config.clock(),
    )
    if make is None:
        return web.Response(status=302, headers={"Location": ONBOARDING_START + rid})
    provider_url = ONBOARDING_PROVIDER + "?" + encode_query([
        ("response_type", "code"), ("client_id", "sim-provider"),
        ("state", rid), ("make", make.name.upper()),
    ])
    if not json_mode:
        return web.Response(status=302, headers={"Location": provider_url})
    if not make.supported:
        raise ProblemError(
            422, f"The integration provider cannot onboard {make.name} vehicles.",
            title="Onboarding unavailable", type_=f"{PROBLEM_BASE}onboarding-unavailable/",
        )
    native = make.auth_method == "native"
    return json_response({
        "authorization_request_id": rid,
        "url": provider_url,
        "auth_method": make.auth_method,
        "scopes": ["read_vehicle_info", "read_charge", "control_charge"] if native else None,
        "single_select": True if native else None,
    })


@routes.post(BASE_PATH + "/vehicle_onboarding/complete")
async def onboarding_complete(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    data = st.data
    b = Body(await read_body(request), "vehicle-onboarding-complete")
    rid = b.str_("authorization_request_uid", required=True, uuid=True)
    code = b.str_("auth_code", required=True)
    b.str_("smartcar_user_id", nullable=True, max_length=100)
    b.check()
    req = data.auth_requests.get(rid.lower())
    if req is None:
        raise ProblemError(404, "No authorization request matches authorization_request_uid.",
                           title="Not found",
                           type_=f"{PROBLEM_BASE}authorization-request-not-found/")
    if req.used or st.config.clock() - req.created_at > AUTH_REQUEST_TTL:
        raise ProblemError(422, "The authorization request has expired or was already used.",
                           title="Authorization request expired",
                           type_=f"{PROBLEM_BASE}authorization-request-expired/")
    if code.startswith("invalid"):
        raise ProblemError(422, "The integration provider rejected the auth_code.",
                           title="Provider rejected the code",
                           type_=f"{PROBLEM_BASE}provider-rejected-code/")
    trim = (data.trims_by_id.get(req.trim_id) if req.trim_id else None) or \
        data.first_trim(req.make_id, req.model_id)
    if trim is None:  # pragma: no cover - every make has trims
        raise ProblemError(422, "No vehicles could be retrieved from the provider.")
    req.used = True
    count = 2 if "multi" in code else 1
    created = [data.create_vehicle(req.user_id, trim.id, integrated="ACTIVE")
               for _ in range(count)]
    return json_response({"vehicles": [{"id": v.id, "url": data.vehicle_url(v.id)}
                                       for v in created]}, status=201)


@routes.post(BASE_PATH + "/vehicle_onboarding/onboarding_link")
async def onboarding_link(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    if request[CTX].user_id is None:
        raise ProblemError(
            400, "This endpoint requires a user: set the EvEnergy-User header when using "
            "client credentials.", title="User required",
            type_=f"{PROBLEM_BASE}evenergy-user-required/",
        )
    b = Body(await read_body(request, required=True), "onboarding-link")
    b.str_("email", required=True, email=True)
    make = b.str_("make", required=True)
    if make is not MISSING and make not in data.makes_by_id:
        b.error("make", "Object does not exist.")
    b.check()
    return web.Response(status=204)


def _country(request: web.Request, explicit: str | None) -> str:
    if explicit is not None:
        return explicit.upper()
    lang = request.headers.get("Accept-Language", "")
    for item in lang.split(","):
        tag = item.split(";")[0].strip()
        parts = tag.replace("_", "-").split("-")
        if len(parts) >= 2 and len(parts[1]) == 2 and parts[1].isalpha():
            return parts[1].upper()
    return "US"


@routes.get(BASE_PATH + "/vehicle_compatibility/check")
async def compatibility(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    q = request.query
    slug = f"{PROBLEM_BASE}validation-failed-vehicle-compatibility-check/"
    errors: dict[str, list[str]] = {}
    model_id = q.get("vehicle_model_id")
    if model_id is None:
        errors["vehicle_model_id"] = ["This field is required."]
    elif not ID_RE["vmod"].fullmatch(model_id):
        errors["vehicle_model_id"] = ["Not a valid vehicle model ID."]
    country = q.get("country")
    if country is not None and not (len(country) == 2 and country.isascii()
                                    and country.isalpha()):
        errors["country"] = ["Must be an ISO-3166 alpha-2 code."]
    program = q.get("program_id")
    if program is not None and not ID_RE["prog"].fullmatch(program):
        errors["program_id"] = ["Not a valid program ID."]
    if errors:
        raise ProblemError(400, "Error on fields: " + ", ".join(errors),
                           title="Request failed validation.", type_=slug,
                           field_errors=errors)
    assert model_id is not None
    model = data.models_by_id.get(model_id)
    if model is None:
        raise ProblemError(404, "vehicle_model_id does not resolve to a vehicle model.",
                           title="Not found", type_=f"{PROBLEM_BASE}vehicle-model-not-found/")
    if program is not None:
        if program not in data.programs:
            raise ProblemError(404, "program_id does not resolve to a program.",
                               title="Not found",
                               type_=f"{PROBLEM_BASE}program-not-found-vehicle-compatibility/")
        resolved = data.programs[program]
    else:
        resolved = _country(request, country)
    region = data.region_of_country(resolved)
    make = data.makes_by_id[model.make_id]
    compatible = (make.supported and not model.hidden
                  and (model.id, region) in data.connectors)
    return json_response({"compatible": compatible, "recommendation_rank": make.rank})


@routes.post(BASE_PATH + "/vehicle_waitlist")
async def waitlist(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    # declared (minLength 1); found by the oracle: an empty or unknown one was ignored
    _check_client_id(request, request.query.get("client_id"), False)
    b = Body(await read_body(request), "vehicle-waitlist")
    b.str_("email", required=True, email=True)
    program = b.str_("program_id", nullable=True, pattern=ID_RE["prog"])
    model_id = b.str_("vehicle_model_id", nullable=True, pattern=ID_RE["vmod"])
    make_name = b.str_("vehicle_make_name", nullable=True, max_length=200)
    model_name = b.str_("vehicle_model_name", nullable=True, max_length=200)
    picker = bool(model_id)
    manual = bool(make_name) or bool(model_name)
    if picker and manual:
        b.error("non_field_errors",
                "Give either vehicle_model_id or vehicle_make_name + vehicle_model_name.")
    elif manual and not (make_name and model_name):
        b.error("non_field_errors",
                "vehicle_make_name and vehicle_model_name must be given together.")
    elif not picker and not manual and not b.errors:
        b.error("non_field_errors",
                "Give either vehicle_model_id or vehicle_make_name + vehicle_model_name.")
    if model_id and model_id not in data.models_by_id:
        b.error("vehicle_model_id", "Vehicle model does not exist.")
    if program and program not in data.programs:
        b.error("program_id", "Program does not exist.")
    b.check()
    wid = data.new_id("vwlt")
    data.waitlist.append({"id": wid, **b.data})
    return json_response({"id": wid}, status=201)
