"""Content negotiation and API versioning: the ``Accept`` and ``EvEnergy-Version`` checks."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from ._http import JSON, PROBLEM
from ._problems import PROBLEM_BASE, ProblemError
from ._state import OP

__all__: list[str] = []  # private module


def check_accept(request: web.Request) -> None:
    accept = request.headers.get("Accept")
    if not accept:
        return
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        if "q=0" in params.replace(" ", "") and "q=0." not in params.replace(" ", ""):
            continue
        if media in ("*/*", "application/*", JSON, PROBLEM, ""):
            return
    raise ProblemError(406, "Could not satisfy the request Accept header.",
                       title="Not Acceptable")


def check_version(request: web.Request) -> None:
    raw = request.headers.get("EvEnergy-Version")
    if raw is None:
        return
    try:
        ok = float(raw.strip()) == 2.0 and math.isfinite(float(raw.strip()))
    except ValueError:
        ok = False
    if not ok:
        raise ProblemError(
            400, f"Unsupported version requested: {raw.strip()[:32]}",
            title="Unsupported version", type_=f"{PROBLEM_BASE}unsupported-version/",
        )


@web.middleware
async def version_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """406 for an unsatisfiable ``Accept``; 400 for an ``EvEnergy-Version`` other than 2."""
    if not request[OP].oauth:
        check_accept(request)
        check_version(request)
    return await handler(request)
