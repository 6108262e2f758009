"""Per-token request budget: pacing from ``X-RateLimit-*`` headers and parking after a long 429."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .._sansio import RateLimitState

__all__: list[str] = []  # private


class Parked(Exception):
    """The token's budget is spent until a deadline beyond the run's ``max_park``."""


class BudgetReserveError(ValueError):
    """``budget_reserve`` is not below a token's limit: that token could never send."""


class NotReady(Exception):
    """The token may not send now: retry in ``delay`` seconds (``math.inf``: when one of its
    requests in flight ends). Raised by the non-blocking paths, which leave all state as it was."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class TokenBudget:
    """Decides when a token may send its next request.

    * Budget unknown (no response seen yet, or after a park): one request at a time, to learn it.
      What the client already knows (:meth:`seed` with its ``rate_limit``, the headers of its
      latest response: a vehicle listing, any earlier call) counts as known: no probe.
    * Budget known: at most ``remaining - reserve`` requests are in flight, so a known budget
      never earns a 429. When it reaches the reserve with nothing in flight, the token is parked
      until its oldest own request of the rolling window leaves the window (counted from when
      its response arrived, the latest the server can have counted it; then one probe request
      learns the new budget); if no own request explains the exhaustion, one probe
      is sent and its 429 ``Retry-After`` says how long to park.
    * ``park(seconds)`` (a 429 whose ``Retry-After`` exceeded the client's cap): requests wait
      for the deadline if it is at most ``max_park`` seconds away, else the token is abandoned
      for this run and every ``acquire`` raises :class:`Parked`.
    """

    def __init__(
        self,
        *,
        window: float,
        reserve: int,
        max_park: float,
        clock: Callable[[], float],
        wall: Callable[[], datetime],
    ) -> None:
        self.window = window
        self.reserve = reserve
        self.max_park = max_park
        self.clock = clock
        self.wall = wall
        self.limit: int | None = None
        self.remaining: int | None = None
        self.in_flight = 0
        self.parked_until = 0.0  # on ``clock``
        self.parks = 0
        self.abandoned = False
        self._after_park = False
        self._sent: deque[float] = deque(maxlen=100_000)
        self._event = asyncio.Event()
        self._waiting = 0  # tasks in _wait(): only they need _notify()

    # -- state -------------------------------------------------------------------------

    @property
    def parked(self) -> bool:
        return self.abandoned or self.parked_until > self.clock()

    @property
    def parked_until_wall(self) -> datetime | None:
        if self.parked_until <= 0:
            return None
        return self.wall() + timedelta(seconds=max(0.0, self.parked_until - self.clock()))

    def _notify(self) -> None:
        if not self._waiting:
            return  # nobody to wake (the usual case): keep the event, a waiter takes it later
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def _wait(self, seconds: float | None = None) -> None:
        event = self._event
        self._waiting += 1
        try:
            if seconds is None:
                await event.wait()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            self._waiting -= 1

    def _refill_at(self, now: float) -> float | None:
        edge = now - self.window
        while self._sent and self._sent[0] <= edge:
            self._sent.popleft()
        if not self._sent:
            return None
        return self._sent[0] + self.window + min(1.0, self.window * 0.01)

    # -- protocol ----------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait until a request may be sent and reserve it (pair with :meth:`release`)."""
        while True:
            delay = self.try_acquire()
            if delay == 0.0:
                return
            await self._wait(None if delay == math.inf else delay)

    def try_acquire(self) -> float:
        """Reserve a request if one may be sent now (0.0; pair with :meth:`release`), else
        the seconds until one may (``math.inf``: when one of the token's requests in flight
        ends). Never waits; raises :class:`Parked` when the token is abandoned."""
        delay = self.admits()
        if delay == 0.0:
            self.in_flight += 1
        return delay

    def admits(self) -> float:
        """:meth:`try_acquire` without the reservation: 0.0 when a request may be sent now."""
        while True:
            if self.abandoned:
                raise Parked
            now = self.clock()
            if self.parked_until > now:
                wait = self.parked_until - now
                if wait > self.max_park:
                    self.abandoned = True
                    self._notify()
                    raise Parked
                return wait
            if self._after_park:
                self._after_park = False
                self.remaining = None  # the budget after a park is unknown: probe it
            if self.remaining is None:
                if self.in_flight == 0:
                    break
                return math.inf
            if self.remaining - self.in_flight > self.reserve:
                break
            if self.in_flight > 0:
                return math.inf
            refill = self._refill_at(now)
            if refill is None:
                # spent by requests we did not send: one probe, whose 429 tells how long to wait
                self.remaining = None
                break
            self.park(refill - now)
        return 0.0

    def seed(self, state: RateLimitState | None) -> None:
        """Start from what the client already knows (its latest rate-limit headers), if nothing
        newer is known here. A spent budget stays spent: the next request is one probe, whose
        429 says how long to park (an exhausted token costs one 429); a budget seen more than
        a window ago can only have grown since (the first response corrects it)."""
        if state is None or self.remaining is not None or self._after_park or self.in_flight:
            return
        if state.limit is not None:
            self.limit = state.limit
        if state.remaining is not None:
            self.remaining = state.remaining

    def release(self, state: RateLimitState | None) -> None:
        """The reserved request finished; ``state`` is the latest rate-limit headers seen."""
        self.in_flight -= 1
        # the server counted the request at the latest now: its slot frees a window later
        self._sent.append(self.clock())
        if state is not None:
            if state.limit is not None:
                self.limit = state.limit
            if state.remaining is not None and not self._after_park:
                self.remaining = state.remaining
        self._notify()

    def park(self, seconds: float) -> None:
        """Hold every request of this token for ``seconds`` (a long ``Retry-After``)."""
        until = self.clock() + max(0.0, seconds)
        if until > self.parked_until:
            self.parked_until = until
            self.parks += 1
        self._after_park = True
        self._notify()

    def snapshot_wall_until(self) -> datetime:
        return self.parked_until_wall or datetime.now(UTC)
