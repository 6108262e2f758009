"""The vehicle catalogue: makes, models (with their connectors) and trims (client:
``VehicleMakes``, ``VehicleModels``, ``VehicleTrims``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .. import _catalogue as cat
from .._data import ModelConnector, now_us
from .._http import ID_RE, MODEL_EXPANDS, TRIM_EXPANDS, expand, json_response, read_body
from .._pages import id_page, links, list_response, page_size, paged_response
from .._problems import bad_query, not_found
from .._state import BASE_PATH, CTX, STATE
from .._validate import MISSING, Body
from .._wire import dumps

__all__: list[str] = []  # private module

T = TypeVar("T")

routes = web.RouteTableDef()


def _ordering(request: web.Request) -> str | None:
    value = request.query.get("ordering")
    if value is not None and value not in ("name", "-name"):  # the spec's enum
        raise bad_query({"ordering": [f'"{value[:32]}" is not a valid choice; use "name" or "-name".']})
    return value


def _sorted(items: list[T], names: Callable[[T], str], ordering: str | None) -> list[T]:
    if ordering is None:
        return items
    return sorted(items, key=lambda x: (names(x).casefold(), names(x)),
                  reverse=ordering == "-name")


def _available_user(request: web.Request) -> str | None:
    data = request.app[STATE].data
    raw = request.query.get("available_for_user_id")
    if raw is None:
        return None
    if not ID_RE["user"].fullmatch(raw) or raw not in data.users_by_id:
        raise bad_query({"available_for_user_id": ["User does not exist."]})
    return data.users_by_id[raw].region


# ---------------------------------------------------------------------- makes
@routes.get(BASE_PATH + "/vehicle_makes")
async def list_makes(request: web.Request) -> web.StreamResponse:
    data, ctx = request.app[STATE].data, request[CTX]
    size = page_size(request.query)
    region = _available_user(request)
    makes = list(data.makes_by_id.values())
    if region is not None:
        models = data.available_model_ids(region)
        keep = {data.models_by_id[m].make_id for m in models
                if not data.models_by_id[m].hidden}
        makes = [m for m in makes if m.id in keep]
    ordering = _ordering(request)
    makes = _sorted(makes, lambda m: m.name, ordering)
    page, prev, nxt = id_page(request, makes, [m.id for m in makes], size, ordering is None)
    body = [data.render_make(m, ctx.render) for m in page]
    return list_response(request, "/vehicle_makes", body, size, prev, nxt)


@routes.get(BASE_PATH + "/vehicle_makes/{vehicle_make_id}")
async def get_make(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    make = data.makes_by_id.get(request.match_info["vehicle_make_id"])
    if make is None:
        raise not_found("Vehicle make does not exist.")
    return json_response(data.render_make(make, request[CTX].render))


# ---------------------------------------------------------------------- models
def _model(request: web.Request) -> str:
    mid = request.match_info["vehicle_model_id"]
    if mid not in request.app[STATE].data.models_by_id:
        raise not_found("Vehicle model does not exist.")
    return mid


@routes.get(BASE_PATH + "/vehicle_models")
async def list_models(request: web.Request) -> web.StreamResponse:
    data, ctx = request.app[STATE].data, request[CTX]
    q = request.query
    size = page_size(q)
    exp = expand(request, MODEL_EXPANDS)
    region = _available_user(request)
    models = [m for m in data.models_by_id.values() if not m.hidden]
    make_id = q.get("make_id")
    if make_id is not None:
        models = [m for m in models if m.make_id == make_id]
    if region is not None:
        avail = data.available_model_ids(region)
        models = [m for m in models if m.id in avail]
    ordering = _ordering(request)
    models = _sorted(models, lambda m: m.name, ordering)
    page, prev, nxt = id_page(request, models, [m.id for m in models], size, ordering is None)
    body = [data.render_model(m, ctx.render, exp) for m in page]
    return list_response(request, "/vehicle_models", body, size, prev, nxt)


@routes.get(BASE_PATH + "/vehicle_models/{vehicle_model_id}")
async def get_model(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    exp = expand(request, MODEL_EXPANDS)
    model = data.models_by_id[_model(request)]
    return json_response(data.render_model(model, request[CTX].render, exp))


@routes.post(BASE_PATH + "/vehicle_models")
async def create_model(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    b = Body(await read_body(request), "create-vehicle-model")
    name = b.str_("name", required=True, max_length=200)
    make_id = b.hyperlink("make", "vehicle_makes", data.makes_by_id, required=True)
    b.check()
    model = data.create_model(make_id, name)
    return json_response(data.render_model(model, request[CTX].render), status=201)


@routes.patch(BASE_PATH + "/vehicle_models/{vehicle_model_id}")
async def patch_model(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    model = data.models_by_id[_model(request)]
    b = Body(await read_body(request), "update-vehicle-model")
    conn = b.enum("default_connector_type", cat.CONNECTOR_TYPES, nullable=True)
    b.check()
    if conn is not MISSING:
        model.default_connector = conn
    return json_response(data.render_model(model, request[CTX].render))


# ---------------------------------------------------------------------- model connectors
def _region(request: web.Request) -> str:
    region = request.match_info["region"]
    if region not in cat.REGIONS:
        raise bad_query({"region": [f'"{region}" is not a valid choice.']})
    return region


@routes.get(BASE_PATH + "/vehicle_models/{vehicle_model_id}/connectors")
async def list_model_connectors(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    mid = _model(request)
    q = request.query
    size = page_size(q)
    raw = q.get("page", "1")
    try:
        page = int(raw)
    except ValueError:
        page = 0
    if page < 1:
        raise bad_query({"page": ["Must be a positive integer."]}, pagination=True)
    rows = [c for (m, _r), c in data.connectors.items() if m == mid]
    pages = max(1, math.ceil(len(rows) / size))
    if page > pages:
        raise not_found("Invalid page.")
    chunk = rows[(page - 1) * size: page * size]
    prev_url, next_url = links(
        request, f"/vehicle_models/{mid}/connectors", size,
        ("page", str(page - 1)) if page > 1 else None,
        ("page", str(page + 1)) if page < pages else None,
    )
    body = dumps([data.render_connector(c) for c in chunk])
    return paged_response(request, body, prev_url, next_url)


@routes.get(BASE_PATH + "/vehicle_models/{vehicle_model_id}/connectors/{region}")
async def get_model_connector(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    mid = _model(request)
    row = data.connectors.get((mid, _region(request)))
    if row is None:
        raise not_found("No connector for this region.")
    return json_response(data.render_connector(row))


def _connector_fields(b: Body, create: bool) -> dict[str, Any]:
    return {
        "connector_type": b.enum("connector_type", cat.MODEL_CONNECTOR_TYPES, required=create),
        "source": b.enum("source", cat.SOURCES, nullable=True),
        "confidence": b.enum("confidence", cat.CONFIDENCES, nullable=True),
        "verified_at": b.datetime_("verified_at", nullable=True),
    }


@routes.post(BASE_PATH + "/vehicle_models/{vehicle_model_id}/connectors")
async def create_model_connector(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    mid = _model(request)
    b = Body(await read_body(request, required=True), "create-vehicle-model-connector")
    region = b.enum("region", cat.REGIONS, required=True)
    fields = _connector_fields(b, True)
    if region is not MISSING and (mid, region) in data.connectors:
        b.error("region", "A connector for this region already exists.")
    b.check()
    row = ModelConnector(
        mid, region, fields["connector_type"],
        None if fields["source"] is MISSING else fields["source"],
        None if fields["confidence"] is MISSING else fields["confidence"],
        None if fields["verified_at"] is MISSING else fields["verified_at"],
        now_us(),
    )
    data.connectors[(mid, region)] = row
    return json_response(data.render_connector(row), status=201)


@routes.patch(BASE_PATH + "/vehicle_models/{vehicle_model_id}/connectors/{region}")
async def patch_model_connector(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    mid = _model(request)
    region = _region(request)
    row = data.connectors.get((mid, region))
    if row is None:
        raise not_found("No connector for this region.")
    b = Body(await read_body(request), "update-vehicle-model-connector")
    fields = _connector_fields(b, False)
    if "region" in b.data and b.data["region"] != region:
        b.error("region", "This field cannot be changed.")
    b.check()
    changed = False
    for name, value in fields.items():
        if value is not MISSING:
            setattr(row, name, value)
            changed = True
    if changed:
        row.updated_at = now_us()
    return json_response(data.render_connector(row))


# ---------------------------------------------------------------------- trims
@routes.get(BASE_PATH + "/vehicle_trims")
async def list_trims(request: web.Request) -> web.StreamResponse:
    data, ctx = request.app[STATE].data, request[CTX]
    q = request.query
    size = page_size(q)
    exp = expand(request, TRIM_EXPANDS)
    trims = [t for t in data.trims_by_id.values() if not t.hidden]
    model_id = q.get("model_id")
    if model_id is not None:
        trims = [t for t in trims if t.model_id == model_id]
    ordering = _ordering(request)
    trims = _sorted(trims, lambda t: t.name, ordering)
    page, prev, nxt = id_page(request, trims, [t.id for t in trims], size, ordering is None)
    body = [data.render_trim(t, ctx.render, exp) for t in page]
    return list_response(request, "/vehicle_trims", body, size, prev, nxt)


@routes.get(BASE_PATH + "/vehicle_trims/{vehicle_trim_id}")
async def get_trim(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    exp = expand(request, TRIM_EXPANDS)
    trim = data.trims_by_id.get(request.match_info["vehicle_trim_id"])
    if trim is None:
        raise not_found("Vehicle trim does not exist.")
    return json_response(data.render_trim(trim, request[CTX].render, exp))


@routes.post(BASE_PATH + "/vehicle_trims")
async def create_trim(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].data
    b = Body(await read_body(request), "create-vehicle-trim")
    name = b.str_("name", required=True, max_length=200)
    model_id = b.hyperlink("model", "vehicle_models", data.models_by_id, required=True)
    battery = b.int_("battery_size_watt_hours", required=True, minimum=1000, maximum=300000)
    b.check()
    trim = data.create_trim(model_id, name, battery)
    return json_response(data.render_trim(trim, request[CTX].render), status=201)
