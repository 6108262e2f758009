"""Small HTTP helpers shared by the middlewares and the route modules."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from ._problems import PROBLEM_BASE, ProblemError, bad_query, not_found
from ._state import STATE, Ctx
from ._validate import id_pattern
from ._wire import dumps, loads

if TYPE_CHECKING:
    from ._data import Expand, Vehicle

__all__: list[str] = []  # private module

JSON = "application/json"
PROBLEM = "application/problem+json"
API_VERSION = "2"
DROPPED = 599  # placeholder status of a response that is never sent

VEHICLE_EXPANDS = frozenset({"user", "trim", "trim.model", "trim.model.make", "latest_status_log"})
LOG_EXPANDS = frozenset(
    {"vehicle", "vehicle.trim", "vehicle.trim.model", "vehicle.trim.model.make", "vehicle.user"}
)
TRIM_EXPANDS = frozenset({"model", "model.make"})
MODEL_EXPANDS = frozenset({"make"})

ID_RE = {p: id_pattern(p) for p in ("vhcl", "vmak", "vmod", "trim", "user", "prog")}
ANY_ID_RE = id_pattern("[a-z]{4}")


def json_response(
    obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type=JSON, headers=headers)


def bytes_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def replace_body(resp: web.Response, body: bytes) -> web.Response:
    """The same answer (status, headers, content type) with another body."""
    new = web.Response(body=body, status=resp.status, content_type=resp.content_type)
    for k, v in resp.headers.items():
        if k.lower() not in ("content-length", "content-type"):
            new.headers.add(k, v)
    return new


_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def instance_url(request: web.Request) -> str | None:
    """The problem's ``instance``: the request's URL as sent (percent-encoded, no query), so
    a URI (``format: uri``) whatever the path held."""
    st = request.app[STATE]
    if st.base is None:
        return None
    raw = request.raw_path.partition("?")[0].partition("#")[0]
    return st.public(_STRAY_PERCENT.sub("%25", quote(raw, safe="/%:@!$&'()*+,;=-._~")))


def problem_response(request: web.Request, exc: ProblemError) -> web.Response:
    instance = instance_url(request)
    return web.Response(
        body=dumps(exc.body(instance)), status=exc.status, content_type=PROBLEM,
        headers=exc.headers or None,
    )


def expand_tree(values: Sequence[str], allowed: frozenset[str]) -> Expand:
    tree: Expand = {}
    bad: list[str] = []
    for raw in values:
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item not in allowed:
                bad.append(item)
                continue
            node = tree
            for part in item.split("."):
                node = node.setdefault(part, {})
    if bad:
        raise bad_query(
            {"expand": [f'"{b}" is not a valid choice; use one of {sorted(allowed)}.' for b in bad]}
        )
    return tree


def expand(request: web.Request, allowed: frozenset[str]) -> Expand:
    return expand_tree(request.query.getall("expand", []), allowed)


def vehicle_of(request: web.Request, ctx: Ctx) -> Vehicle:
    """The path's vehicle, if the caller may see it (404 otherwise)."""
    data = request.app[STATE].data
    vid = request.match_info["vehicle_id"]
    v = data.vehicles_by_id.get(vid) if ID_RE["vhcl"].fullmatch(vid) else None
    if v is None or not ctx.sees(v):
        raise not_found("Vehicle does not exist or cannot be accessed.")
    return v


async def read_body(request: web.Request, *, required: bool = False) -> dict[str, Any]:
    """The request's JSON object body (400 problem otherwise).

    An absent (or blank) body reads as ``{}`` unless the spec marks the operation's
    ``requestBody`` ``required: true`` (``required``): then it is a 400.
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ProblemError(413, "The request body is too large.",
                           title="Payload Too Large") from None
    if not raw.strip():
        if not required:
            return {}
        raise ProblemError(400, "A JSON object body is required.", title="Invalid body",
                           type_=f"{PROBLEM_BASE}parse-error/")
    try:
        data = loads(raw)
    except ValueError as exc:
        raise ProblemError(400, "JSON parse error.", title="Invalid body",
                           type_=f"{PROBLEM_BASE}parse-error/") from exc
    if not isinstance(data, dict):
        raise ProblemError(
            400, f"Invalid data. Expected a dictionary, but got {type(data).__name__}.",
            title="Invalid body", type_=f"{PROBLEM_BASE}parse-error/",
            field_errors={"non_field_errors": ["Expected a JSON object."]},
        )
    return data


async def dispatch(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Call the route's handler; a request that matched no route gets a problem (404/405)."""
    exc = request.match_info.http_exception
    if exc is None:
        return await handler(request)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        raise ProblemError(
            405, f"Method {request.method} is not allowed here.",
            title="Method Not Allowed",
            headers={"Allow": ", ".join(sorted(exc.allowed_methods))},
        )
    raise not_found("No such resource.")
