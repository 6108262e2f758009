"""Rate limiting: a rolling-window limiter (one deque of accepted-request times per bucket)
and the pipeline middleware that charges each request to its bucket.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

import attrs
from aiohttp import web

from ._auth import identify
from ._problems import too_many
from ._state import HEADERS, OP, STATE

__all__: list[str] = []  # private module


@attrs.frozen
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds (only meaningful when not allowed)


class RateLimiter:
    """O(1) amortized: each accepted request is appended once and popped once."""

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self.window = window
        self.clock = clock
        self._buckets: dict[Hashable, deque[float]] = {}

    def _prune(self, bucket: Hashable, now: float) -> deque[float]:
        dq = self._buckets.get(bucket)
        if dq is None:
            dq = self._buckets[bucket] = deque()
        edge = now - self.window
        while dq and dq[0] <= edge:
            dq.popleft()
        return dq

    def hit(self, bucket: Hashable, limit: int) -> Decision:
        """Count one request against ``bucket`` unless its budget is spent."""
        now = self.clock()
        dq = self._prune(bucket, now)
        if len(dq) >= limit:
            wait = math.ceil(dq[0] + self.window - now)
            return Decision(False, limit, 0, max(1, wait))
        dq.append(now)
        return Decision(True, limit, limit - len(dq), 0)

    def peek(self, bucket: Hashable, limit: int) -> Decision:
        """The bucket's state without counting a request."""
        now = self.clock()
        dq = self._prune(bucket, now)
        return Decision(len(dq) < limit, limit, max(0, limit - len(dq)), 0)

    def reset(self) -> None:
        self._buckets.clear()


def _rl_headers(headers: dict[str, str], d: Decision) -> None:
    headers["X-RateLimit-Limit"] = str(d.limit)
    headers["X-RateLimit-Remaining"] = str(d.remaining)


@web.middleware
async def rate_limit_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Charge the request to its bucket: the token's (app, user), or the caller's IP for
    anonymous calls to public operations; 429 once the budget is spent. An anonymous call to
    a protected operation is not charged (authentication refuses it) but shows its IP
    bucket's counters."""
    op = request[OP]
    if op.oauth:
        return await handler(request)
    st = request.app[STATE]
    headers = request[HEADERS]
    token, _presented = identify(request)
    if token is None:
        bucket = ("anon", request.remote)
        limit = st.config.anonymous_rate_limit
        _rl_headers(headers, st.limiter.peek(bucket, limit))
        if not op.public:
            return await handler(request)  # answered 401 by authentication
        decision = st.limiter.hit(bucket, limit)
    else:
        decision = st.limiter.hit(token.bucket, st.config.rate_limit)
    _rl_headers(headers, decision)
    if not decision.allowed:
        st.stats.rate_limited += 1
        raise too_many(decision.retry_after)
    return await handler(request)
