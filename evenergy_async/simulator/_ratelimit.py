"""Rolling-window rate limiter: one deque of accepted-request times per bucket."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable

import attrs

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
