"""Fault injection: configuration, the deterministic decision engine, and the pipeline
middleware that applies the faults (``faults_middleware``, innermost).

A fault is decided per request from ``(seed, request path, n-th request to that path)``
only, so the same seed and the same request sequence per path replay the same faults,
whatever the interleaving of different paths.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

from ._http import DROPPED, dispatch, problem_response, replace_body
from ._ops import ALL_GROUPS, OPERATIONS, UNKNOWN_ENUM_VALUES, Op
from ._pages import DEFAULT_LINK_STYLE, LINK_STYLES, PAGE_LINKS, set_links
from ._problems import PROBLEM_BASE, ProblemError, too_many, unauthorized
from ._state import CTX, HEADERS, STATE, Ctx
from ._wire import derive_unit, dumps, loads

__all__ = ["FAULT_KINDS", "FaultConfig", "FaultEvent"]

#: Every fault kind the simulator can inject.
FAULT_KINDS: tuple[str, ...] = (
    "http_500",  # 500 problem+json
    "http_502",  # 502 with an HTML body (as a gateway would answer)
    "http_503",  # 503 with an HTML body
    "rate_limit_short",  # 429 with Retry-After: short_retry_after (1 s)
    "rate_limit_long",  # 429 with Retry-After: long_retry_after (3600 s)
    "drop_before_response",  # the connection is closed without any answer (not processed)
    "drop_after_processing",  # the request is processed (writes happen), then the connection
    #                           is closed without any answer: the outcome is unknown
    "drop_mid_body",  # headers with the full Content-Length, part of the body, then close
    "truncated_json",  # 200 with a cut JSON body and a matching (short) Content-Length
    "invalid_json",  # 200 with a body that is not JSON at all
    "stall",  # no answer for stall_seconds (then the normal answer)
    "malformed_link",  # an unparseable Link header (lists only)
    "repeat_record",  # the previous page's last record repeated at the top (log lists paged
    #                   with page_after only)
    "unknown_fields",  # extra unknown fields in every record
    "unknown_enum",  # unknown enum values in every record (operations with enum fields)
    "token_expiry",  # 401 once and the access token is dead from then on (tokens issued
    #                  by /o/token/ only: static user tokens cannot be refreshed)
)

#: Legal but unusual answers, injected like faults but only when named in ``kinds`` (weight
#: 0 by default) or forced with ``Simulator.inject_fault``: a correct client shows no sign.
EDGE_KINDS: tuple[str, ...] = (
    "link_spelling",  # the Link header spelled another legal way (lists only; rotates
    #                   through ``FaultConfig.link_styles``)
)

_ALWAYS = frozenset(
    {"http_500", "http_502", "http_503", "rate_limit_short", "rate_limit_long",
     "drop_before_response", "drop_after_processing", "stall"}
)
_BODY = frozenset({"drop_mid_body", "truncated_json", "invalid_json", "unknown_fields"})

_OPERATION_IDS = frozenset(op.operation_id for op in OPERATIONS) | {
    "oauth-token", "oauth-authorize", "oauth-revoke"
}


def _default_kinds() -> dict[str, float]:
    return dict.fromkeys(FAULT_KINDS, 1.0)


def _check_kinds(_inst: Any, _attr: Any, value: Mapping[str, float]) -> None:
    unknown = set(value) - set(FAULT_KINDS) - set(EDGE_KINDS)
    if unknown:
        raise ValueError(
            f"unknown fault kinds: {sorted(unknown)}; known: {FAULT_KINDS + EDGE_KINDS}")
    if any(w < 0 for w in value.values()):
        raise ValueError("fault weights must be >= 0")


def _check_paths(_inst: Any, _attr: Any, value: frozenset[str]) -> None:
    for p in value:
        if p in ALL_GROUPS or p in _OPERATION_IDS or p.startswith("/"):
            continue
        raise ValueError(
            f"unknown fault target {p!r}: use a group {sorted(ALL_GROUPS)}, an operationId, "
            "or a path prefix starting with '/'"
        )


def _check_link_styles(_inst: Any, _attr: Any, value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("link_styles must name at least one style")
    unknown = set(value) - set(LINK_STYLES)
    if unknown:
        raise ValueError(f"unknown link styles {sorted(unknown)}; known: {sorted(LINK_STYLES)}")


def _check_rate(_inst: Any, _attr: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError("fault rate must be within [0, 1]")


@attrs.define(frozen=True)
class FaultConfig:
    """Random, replayable fault injection.

    ``rate``: probability that an eligible request is faulted. ``kinds``: relative weights
    per kind (see ``FAULT_KINDS``); a kind that does not apply to a request (e.g.
    ``repeat_record`` on a first page) is left out of that request's draw. ``paths``: which
    requests are eligible: groups (``log_lists`` (default), ``log_gets``, ``logs``,
    ``lists``, ``vehicles``, ``catalogue``, ``onboarding``, ``all`` (every ``/v2``
    operation), ``token`` (the token endpoint: only when named)), operationIds, or path
    prefixes such as ``"/v2/vehicles/"``. ``kinds`` may also name an edge kind
    (``EDGE_KINDS``: legal answers, off by default), e.g. ``{"link_spelling": 1.0}``;
    ``link_styles``: the spellings ``link_spelling`` rotates through (every one but the
    default by default).
    """

    rate: float = attrs.field(default=0.0, validator=_check_rate)
    seed: int = 0
    kinds: Mapping[str, float] = attrs.field(factory=_default_kinds, validator=_check_kinds)
    paths: frozenset[str] = attrs.field(
        default=frozenset({"log_lists"}), converter=frozenset, validator=_check_paths
    )
    stall_seconds: float = 30.0
    short_retry_after: int = 1
    long_retry_after: int = 3600
    max_faults: int | None = None  # stop injecting random faults after this many
    link_styles: tuple[str, ...] = attrs.field(
        default=tuple(k for k in LINK_STYLES if k != DEFAULT_LINK_STYLE),
        converter=tuple, validator=_check_link_styles,
    )


@attrs.define(frozen=True)
class FaultEvent:
    """One injected fault, in injection order (``Simulator.fault_log``)."""

    index: int  # 0-based order of injection
    kind: str
    method: str
    path: str
    query: str
    path_request_number: int  # n-th eligible request to this path (1-based); 0 if forced
    forced: bool


@attrs.define
class _Forced:
    kind: str
    remaining: int
    path: str | None


def applicable(kind: str, op: Op, query: Mapping[str, str], refreshable_token: bool) -> bool:
    if kind in _ALWAYS:
        return True
    if kind in _BODY:
        return op.has_body
    if kind in ("malformed_link", "link_spelling"):
        return op.is_list
    if kind == "repeat_record":
        return op.is_log_list and "page_after" in query
    if kind == "unknown_enum":
        return bool(op.enum_fields)
    if kind == "token_expiry":
        return refreshable_token and not op.public
    return False  # pragma: no cover - all kinds handled above


class FaultInjector:
    def __init__(self, config: FaultConfig | None) -> None:
        self.config = config
        self._counters: dict[str, int] = {}
        self._forced: deque[_Forced] = deque()
        self.random_faults = 0

    def reset(self) -> None:
        self._counters.clear()
        self._forced.clear()
        self.random_faults = 0

    def force(self, kind: str, count: int, path: str | None) -> None:
        if kind not in FAULT_KINDS and kind not in EDGE_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {FAULT_KINDS + EDGE_KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        self._forced.append(_Forced(kind, count, path))

    def _eligible(self, op: Op, path: str) -> bool:
        cfg = self.config
        assert cfg is not None
        targets = cfg.paths
        if op.oauth:
            return op.operation_id in targets or bool(op.groups & targets)
        if "all" in targets or op.operation_id in targets or op.groups & targets:
            return True
        return any(t.startswith("/") and path.startswith(t) for t in targets)

    def decide(
        self, op: Op, path: str, query: Mapping[str, str], refreshable_token: bool
    ) -> tuple[str, int, bool] | None:
        """Return ``(kind, path_request_number, forced)`` or None."""
        for forced in self._forced:
            if forced.path is not None:
                if not path.startswith(forced.path):
                    continue
            elif op.oauth:
                continue  # the token endpoint only when explicitly targeted
            if not applicable(forced.kind, op, query, refreshable_token):
                continue
            forced.remaining -= 1
            if forced.remaining <= 0:
                self._forced.remove(forced)
            return forced.kind, 0, True
        cfg = self.config
        if cfg is None or cfg.rate <= 0.0 or not self._eligible(op, path):
            return None
        n = self._counters.get(path, 0) + 1
        self._counters[path] = n
        if cfg.max_faults is not None and self.random_faults >= cfg.max_faults:
            return None
        u1, u2 = derive_unit(cfg.seed, path, n)
        if u1 >= cfg.rate:
            return None
        kinds = [
            (k, w) for k, w in cfg.kinds.items()
            if w > 0 and applicable(k, op, query, refreshable_token)
        ]
        if not kinds:
            return None
        cumulative = []
        total = 0.0
        for _k, w in kinds:
            total += w
            cumulative.append(total)
        i = min(bisect.bisect_right(cumulative, u2 * total), len(kinds) - 1)
        self.random_faults += 1
        return kinds[i][0], n, False


# ---------------------------------------------------------------------- middleware
#: faults applied to the handler's answer; the others replace it
_LATE_FAULTS = frozenset({"drop_after_processing", "drop_mid_body", "truncated_json",
                          "invalid_json", "malformed_link", "unknown_fields", "unknown_enum",
                          "repeat_record", "link_spelling"})


@web.middleware
async def faults_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Decide the request's fault; apply it before (early kinds) or after the handler."""
    st = request.app[STATE]
    ctx = request[CTX]
    headers = request[HEADERS]
    token = ctx.token
    decision = st.faults.decide(
        ctx.op, request.path, request.query, token is not None and token.refreshable
    )
    if decision is not None:
        ctx.fault, ctx.fault_n, ctx.fault_forced = decision
        early = await _early_fault(request, ctx, headers)
        if early is not None:
            return early
    try:
        resp = await dispatch(request, handler)
    except ProblemError as exc:
        resp = problem_response(request, exc)
    resp.headers.update(headers)
    if ctx.fault is not None and not ctx.fault_applied:
        resp = await _late_fault(request, ctx, resp)
    return resp


def record_fault(request: web.Request, ctx: Ctx) -> None:
    """Count the request's fault (once it really happened)."""
    st = request.app[STATE]
    kind = ctx.fault
    assert kind is not None
    ctx.fault_applied = True
    st.stats.faults_injected[kind] += 1
    st.fault_log.append(FaultEvent(
        len(st.fault_log), kind, request.method, request.path, request.query_string,
        ctx.fault_n, ctx.fault_forced,
    ))


async def _early_fault(
    request: web.Request, ctx: Ctx, headers: dict[str, str]
) -> web.StreamResponse | None:
    """Faults that replace the answer; the others are applied after the handler."""
    st = request.app[STATE]
    kind = ctx.fault
    if kind in _LATE_FAULTS:
        return None
    record_fault(request, ctx)
    if kind == "stall":
        await _stall(request)
        return None
    resp: web.StreamResponse
    if kind == "http_500":
        resp = problem_response(request, ProblemError(
            500, "A server error occurred.", title="Internal Server Error",
            type_=f"{PROBLEM_BASE}server-error/"))
    elif kind in ("http_502", "http_503"):
        status = 502 if kind == "http_502" else 503
        text = "Bad Gateway" if status == 502 else "Service Unavailable"
        resp = web.Response(
            status=status, content_type="text/html",
            text=f"<html><head><title>{status} {text}</title></head><body><center><h1>"
                 f"{status} {text}</h1></center></body></html>\n")
    elif kind in ("rate_limit_short", "rate_limit_long"):
        cfg = st.faults.config
        seconds = (cfg.short_retry_after if cfg else 1) if kind == "rate_limit_short" \
            else (cfg.long_retry_after if cfg else 3600)
        resp = problem_response(request, too_many(seconds))
        headers["X-RateLimit-Remaining"] = "0"
    elif kind == "token_expiry":
        if ctx.token is not None:
            st.tokens.kill(ctx.token.token)
        resp = problem_response(request, unauthorized(True))
    elif kind == "drop_before_response":
        return drop(request)
    else:  # pragma: no cover - every kind is handled
        raise AssertionError(kind)
    resp.headers.update(headers)
    return resp


def drop(request: web.Request) -> web.Response:
    """Close the connection without answering (aiohttp then finds it closed)."""
    request.app[STATE].stats.dropped += 1
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=DROPPED)


async def _stall(request: web.Request) -> None:
    st = request.app[STATE]
    cfg = st.faults.config
    seconds = cfg.stall_seconds if cfg is not None else 30.0
    closing = st.closing
    assert closing is not None
    try:
        async with asyncio.timeout(seconds):
            await closing.wait()
    except TimeoutError:
        pass


async def _late_fault(
    request: web.Request, ctx: Ctx, resp: web.StreamResponse
) -> web.StreamResponse:
    st = request.app[STATE]
    kind = ctx.fault
    assert kind is not None
    if not isinstance(resp, web.Response):  # pragma: no cover - handlers return Response
        return resp
    if kind == "repeat_record":
        return resp  # the log-list handler applies it (nothing to repeat otherwise)
    if kind == "drop_after_processing":
        record_fault(request, ctx)
        return drop(request)
    body = resp.body if isinstance(resp.body, bytes) else b""
    if kind == "link_spelling":
        page = resp.get(PAGE_LINKS)
        if page is None or resp.status >= 400:
            return resp
        cfg = st.faults.config
        styles = cfg.link_styles if cfg is not None else FaultConfig().link_styles
        set_links(resp, page[0], page[1], styles[len(st.fault_log) % len(styles)])
        record_fault(request, ctx)
        return resp
    if kind == "malformed_link":
        if "Link" not in resp.headers or resp.status >= 400:
            return resp
        link = ", ".join(resp.headers.popall("Link"))
        variants = (
            link.replace(">", "", 1),
            link.replace("<", "").replace(">", ""),
            link.replace('rel="next"', "rel=").replace('rel="previous"', "rel"),
            '<<about:blank>>;;; rel="next, <' + link[:20],
        )
        resp.headers["Link"] = variants[len(st.fault_log) % len(variants)]
        record_fault(request, ctx)
        return resp
    if kind in ("unknown_fields", "unknown_enum"):
        if resp.status >= 400 or not body:
            return resp
        data = loads(body)
        items = data if isinstance(data, list) else [data]
        changed = False
        for item in items:
            if not isinstance(item, dict):
                continue
            if kind == "unknown_fields":
                item["x_simulator_extra"] = {"nested": [1, 2, {"deep": None}], "n": 1.5}
                item["firmware_version"] = "2026.44.1"
                changed = True
            else:
                for fld in ctx.op.enum_fields:
                    if fld in item:
                        item[fld] = UNKNOWN_ENUM_VALUES[fld]
                        changed = True
        if changed:
            record_fault(request, ctx)
            return replace_body(resp, dumps(data))
        return resp
    if kind == "truncated_json":
        record_fault(request, ctx)
        return replace_body(resp, body[: max(1, len(body) * 2 // 3)] if body else b"[")
    if kind == "invalid_json":
        record_fault(request, ctx)
        return replace_body(
            resp, b"<!DOCTYPE html><html><body><h1>Upstream hiccup</h1></body></html>")
    if kind == "drop_mid_body":
        record_fault(request, ctx)
        st.stats.dropped += 1
        stream = web.StreamResponse(status=resp.status, headers=resp.headers)
        stream.content_type = resp.content_type
        stream.content_length = len(body)
        await stream.prepare(request)
        if len(body) > 1:
            await stream.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        return stream
    return resp
