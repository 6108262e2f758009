"""``/vehicles``: the vehicle resource and its sub-resources (client: ``Vehicles``)."""

from __future__ import annotations

from aiohttp import web

from .. import _catalogue as cat
from .._data import now_us
from .._http import VEHICLE_EXPANDS, expand, json_response, read_body, vehicle_of
from .._pages import id_page, list_response, page_size
from .._problems import PROBLEM_BASE, ProblemError
from .._state import BASE_PATH, CTX, STATE
from .._validate import MISSING, Body
from .._wire import format_us, uuid_from_int
from .onboarding import ONBOARDING_START

__all__: list[str] = []  # private module

routes = web.RouteTableDef()


@routes.get(BASE_PATH + "/vehicles")
async def list_vehicles(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    q = request.query
    size = page_size(q)
    exp = expand(request, VEHICLE_EXPANDS)
    vehicles = [v for v in st.data.vehicles_by_id.values() if ctx.sees(v)]
    page, prev, nxt = id_page(request, vehicles, [v.id for v in vehicles], size, True)
    body = [st.data.render_vehicle(v, ctx.render, exp) for v in page]
    return list_response(request, "/vehicles", body, size, prev, nxt)


@routes.get(BASE_PATH + "/vehicles/{vehicle_id}")
async def get_vehicle(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    v = vehicle_of(request, ctx)
    exp = expand(request, VEHICLE_EXPANDS)
    return json_response(st.data.render_vehicle(v, ctx.render, exp))


@routes.post(BASE_PATH + "/vehicles")
async def create_vehicle(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    data = st.data
    exp = expand(request, VEHICLE_EXPANDS)
    if ctx.user_id is None:
        raise ProblemError(
            400,
            "This endpoint requires a user: set the EvEnergy-User header when using "
            "client credentials.",
            title="User required", type_=f"{PROBLEM_BASE}evenergy-user-required/",
            field_errors={"user": ["This field is required."]},
        )
    b = Body(await read_body(request), "create-vehicle")
    model_id = b.hyperlink("model", "vehicle_models", data.models_by_id, required=True)
    battery = b.int_("battery_size_watt_hours", minimum=1000, maximum=300000)
    description = b.str_("description", max_length=200)
    vclass = b.enum("vehicle_class", ("PASSENGER", "COMMERCIAL"), nullable=True)
    user = b.hyperlink("user", "users", data.users_by_id)
    if user is not MISSING and user != ctx.user_id:
        b.error("user", "Does not match the authenticated user (or EvEnergy-User).")
    b.check()
    trim = data.resolve_trim(model_id, battery if battery is not MISSING else None)
    v = data.create_vehicle(
        ctx.user_id, trim.id,
        battery=battery if battery is not MISSING else None,
        description=description if description is not MISSING else None,
        vehicle_class=vclass if vclass is not MISSING else None,
    )
    return json_response(data.render_vehicle(v, ctx.render, exp), status=201,
                         headers={"Location": data.vehicle_url(v.id)})


@routes.patch(BASE_PATH + "/vehicles/{vehicle_id}")
async def patch_vehicle(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    v = vehicle_of(request, ctx)
    exp = expand(request, VEHICLE_EXPANDS)
    b = Body(await read_body(request), "update-vehicle")
    battery = b.int_("battery_size_watt_hours", minimum=1000, maximum=300000)
    if battery is not MISSING and v.integrated != "UNINTEGRATED":
        b.error("battery_size_watt_hours",
                "Battery size can only be edited for unintegrated vehicles.")
    limit = b.int_("maximum_charge_limit_percentage", minimum=50, maximum=100)
    smart = b.bool_("smart_charging_enabled")
    vclass = b.enum("vehicle_class", ("PASSENGER", "COMMERCIAL"), nullable=True)
    b.check()
    if battery is not MISSING:
        v.battery = v.effective_battery = (battery + 5) // 10 * 10
    if limit is not MISSING:
        v.max_charge = limit
    if smart is not MISSING:
        v.smart_charging = smart
    if vclass is not MISSING:
        v.vehicle_class = vclass
    return json_response(st.data.render_vehicle(v, ctx.render, exp))


@routes.delete(BASE_PATH + "/vehicles/{vehicle_id}")
async def delete_vehicle(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    v = vehicle_of(request, ctx)
    st.data.delete_vehicle(v.id)
    st.pages.clear()
    if st.config.delete_status == 200:
        return json_response({"vehicles": 1})
    return web.Response(status=204)


@routes.get(BASE_PATH + "/vehicles/{vehicle_id}/connectors")
async def get_connectors(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    return json_response(st.data.render_connectors(vehicle_of(request, request[CTX])))


@routes.patch(BASE_PATH + "/vehicles/{vehicle_id}/connectors")
async def patch_connectors(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    v = vehicle_of(request, request[CTX])
    b = Body(await read_body(request), "update-vehicle-connectors")
    native = b.enum("native_connector", cat.CONNECTOR_TYPES, nullable=True)
    adaptors = b.enum_list("adaptors", cat.CONNECTOR_TYPES)
    b.check()
    new_override = v.native_override if native is MISSING else native
    new_adaptors = v.adaptors if adaptors is MISSING else adaptors
    model_id = st.data.trims_by_id[v.trim_id].model_id
    effective = new_override or st.data.models_by_id[model_id].default_connector
    if len(set(new_adaptors)) != len(new_adaptors):
        b.error("adaptors", "Adaptors must be distinct.")
    if effective is not None and effective in new_adaptors:
        b.error("adaptors", "An adaptor cannot match the native connector.")
    b.check()
    if native is not MISSING or adaptors is not MISSING:
        v.native_override = new_override
        v.adaptors = list(new_adaptors)
        v.connectors_updated_at = now_us()
    return json_response(st.data.render_connectors(v))


@routes.get(BASE_PATH + "/vehicles/{vehicle_id}/state_of_charge")
async def get_soc(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    return json_response(st.data.render_soc(vehicle_of(request, request[CTX])))


@routes.patch(BASE_PATH + "/vehicles/{vehicle_id}/state_of_charge")
async def patch_soc(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    v = vehicle_of(request, request[CTX])
    b = Body(await read_body(request), "update-vehicle-state-of-charge")
    pct = b.int_("state_of_charge_percentage", nullable=True, minimum=0, maximum=100)
    b.check()
    if pct is None:
        v.soc = v.soc_source = v.soc_updated_at = None
    elif pct is not MISSING:
        v.soc, v.soc_source, v.soc_updated_at = pct, "MANUAL", now_us()
    return json_response(st.data.render_soc(v))


@routes.get(BASE_PATH + "/vehicles/{vehicle_id}/vpp_modes")
async def get_vpp(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    return json_response(st.data.render_vpp(vehicle_of(request, request[CTX])))


@routes.post(BASE_PATH + "/vehicles/{vehicle_id}/reconnect")
async def reconnect(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    v = vehicle_of(request, request[CTX])
    await read_body(request)  # readOnly fields only: ignored
    if v.integrated == "UNINTEGRATED":
        raise ProblemError(
            400, "This vehicle has no integration to reconnect.", title="Not integrated",
            type_=f"{PROBLEM_BASE}vehicle-not-integrated/",
        )
    rid = uuid_from_int(st.data.next_rand())
    expires = now_us() + 3_600_000_000
    return json_response({"url": ONBOARDING_START + rid, "expires_at": format_us(expires)},
                         status=201)


@routes.post(BASE_PATH + "/vehicles/{vehicle_id}/disconnect")
async def disconnect(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    v = vehicle_of(request, ctx)
    if v.integrated == "ACTIVE":
        v.integrated = "INACTIVE"
    return json_response(st.data.render_vehicle(v, ctx.render))
