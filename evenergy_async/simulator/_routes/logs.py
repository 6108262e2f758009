"""The four log kinds of a vehicle: lists and single records (client: ``StatusLogs``,
``LocationLogs``, ``CommandLogs``, ``ErrorLogs``). One handler pair serves every kind: the
operation (``request[CTX].op``) names it."""

from __future__ import annotations

from aiohttp import web

from .._data import Json
from .._faults import record_fault
from .._http import LOG_EXPANDS, bytes_response, expand, json_response, vehicle_of
from .._ops import LOG_FILTER_FIELD, LOG_SEGMENTS
from .._pages import kept_query, log_page, page_size, paged_response, ts_query
from .._problems import PROBLEM_BASE, ProblemError, bad_query, not_found
from .._state import BASE_PATH, CTX, STATE
from .._wire import dumps, loads, parse_ts

__all__: list[str] = []  # private module

routes = web.RouteTableDef()


async def list_logs(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    data = st.data
    kind = ctx.op.log_kind
    assert kind is not None
    v = vehicle_of(request, ctx)
    q = request.query
    path = f"{BASE_PATH}/vehicles/{v.id}/{LOG_SEGMENTS[kind]}"
    use_cache = st.config.precompute_pages and ctx.fault is None
    if use_cache:
        hit = st.pages.get(path, list(q.items()))
        if hit is not None:
            return paged_response(request, *hit)
    size = page_size(q)
    field = LOG_FILTER_FIELD[kind]
    gte = ts_query(q, f"{field}__gte")
    lte = ts_query(q, f"{field}__lte")
    after = ts_query(q, "page_after", pagination=True)
    before = ts_query(q, "page_before", pagination=True)
    if after is not None and before is not None:
        raise bad_query({"page_after": ["Use either page_after or page_before."]},
                        pagination=True)
    exp = expand(request, LOG_EXPANDS)
    sl = data.slice(v.id, kind, gte=gte, lte=lte, after=after, before=before, size=size)
    body, prev_url, next_url = log_page(st, v.id, kind, sl, size, kept_query(q), path)
    repeat = ctx.fault == "repeat_record" and after is not None
    if exp or repeat:
        records = data.series_records(v.id, kind)
        items: list[Json] = [loads(b) for b in records.items(sl.start, sl.end)]
        if repeat and after is not None:
            idx = data.find_index(v.id, kind, after)
            if idx is not None:
                items.insert(0, loads(records.item(idx)))
                record_fault(request, ctx)
        if "vehicle" in exp:
            vobj = data.render_vehicle(v, ctx.render, exp["vehicle"])
            for item in items:
                item["vehicle"] = vobj
        body = dumps(items)
    elif use_cache:
        st.pages.put(path, list(q.items()), (body, prev_url, next_url), runtime=True)
    return paged_response(request, body, prev_url, next_url)


async def get_log(request: web.Request) -> web.StreamResponse:
    st, ctx = request.app[STATE], request[CTX]
    data = st.data
    kind = ctx.op.log_kind
    assert kind is not None
    v = vehicle_of(request, ctx)
    raw = request.match_info["timestamp"]
    field = LOG_FILTER_FIELD[kind]
    try:
        us = parse_ts(raw)
    except ValueError:
        raise ProblemError(
            400, f"Invalid {field} in the path.", title="Invalid path parameter",
            type_=f"{PROBLEM_BASE}path-parameters/",
            field_errors={field: ["Enter a valid date/time."]},
        ) from None
    exp = expand(request, LOG_EXPANDS)
    idx = data.find_index(v.id, kind, us)
    if idx is None:
        raise not_found(f"No {LOG_SEGMENTS[kind][:-1].replace('_', ' ')} at {raw}.")
    records = data.series_records(v.id, kind)
    if not exp:
        return bytes_response(records.item(idx))
    item = loads(records.item(idx))
    if "vehicle" in exp:
        item["vehicle"] = data.render_vehicle(v, ctx.render, exp["vehicle"])
    return json_response(item)


for _segment in LOG_SEGMENTS.values():
    routes.get(f"{BASE_PATH}/vehicles/{{vehicle_id}}/{_segment}")(list_logs)
    routes.get(f"{BASE_PATH}/vehicles/{{vehicle_id}}/{_segment}/{{timestamp}}")(get_log)
