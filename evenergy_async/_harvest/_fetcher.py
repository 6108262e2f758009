"""Budgeted, retried page fetches per token: the harvester's and the planner's only way to the API.

Each token is a :class:`Lane`: its client, its :class:`TokenBudget` (pacing, parking), whether
it is dead (a 401 its client could not refresh, or a refresh the token endpoint refused) and
its request count -- a few fields, so a
lane per token stays small. The :class:`Fetcher` holds what the lanes share: the global cap
on requests in flight, the retry policy for failures that survived the client's own retries,
and the counters. :meth:`Fetcher.fetch` is the one place that asks a paginator for a page.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from yarl import URL

from .. import _observe as observe
from .._errors import (
    APIError,
    APIUnreachableError,
    AuthError,
    PaginationError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from ._budget import BudgetReserveError, NotReady, TokenBudget

if TYPE_CHECKING:
    from .._client import EvEnergyClient
    from .._pagination import Page, Paginator

__all__: list[str] = []  # private


class FetchFailed(Exception):
    """A page could not be fetched (``error``), after ``attempts`` requests."""

    def __init__(self, error: BaseException, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


class Lane:
    """What the fetcher keeps per token."""

    __slots__ = ("budget", "client", "dead", "label", "requests")

    def __init__(self, label: str, client: EvEnergyClient, budget: TokenBudget) -> None:
        self.label = label
        self.client = client
        self.budget = budget
        self.dead: BaseException | None = None  # 401 not refreshed, or its refresh refused
        self.requests = 0


class Fetcher:
    """Fetches pages for lanes: within each lane's budget and the global cap, with retries.

    Failures the client already retried (transport errors, 5xx, transient decode errors,
    pagination errors) are retried ``max_attempts`` times in all with exponential backoff;
    a 429 beyond the client's ``Retry-After`` cap parks the lane (its budget); a 401 kills
    the lane, and so does the token endpoint refusing this lane's credential (a refresh token
    the user revoked: ``invalid_grant``), while the other lanes go on; a refusal of the app
    itself (``invalid_client``...) ends the run, since every lane would meet it; a token
    endpoint that fails (5xx, 429, an unusable answer) is retried as a 5xx is; other API
    errors fail at once. A failure is raised as :class:`FetchFailed`;
    a lane whose budget is abandoned raises :class:`~._budget.Parked`.

    The API gone: when no response (of any status) has arrived for ``unreachable_after``
    seconds and a request fails at the connection level (connect error, timeout, lost
    response), :class:`APIUnreachableError` is raised for the whole run. Until then a
    connection-level failure during such a silence does not use up the page's attempts
    (the outage is the API's, not the partition's): it is retried with backoff.
    """

    def __init__(
        self,
        *,
        concurrency: int,
        max_attempts: int,
        retry_backoff: float,
        sleep: Callable[[float], Any],
        clock: Callable[[], float],
        unreachable_after: float | None = 30.0,
    ) -> None:
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.unreachable_after = unreachable_after
        self._sleep = sleep
        self._clock = clock
        self._last_response = clock()  # on ``clock``: when a response last arrived
        self._global = asyncio.Semaphore(concurrency)
        self.requests = 0
        self.retries: Counter[str] = Counter()
        """Retries (and parks) decided here, by reason; the clients count their own."""

    def alive(self) -> None:
        """Start the silence count now (a run starting after a pause)."""
        self._last_response = self._clock()

    def rebase(self, lanes: list[Lane]) -> None:
        """Forget the requests counted so far (a plan's samples are not part of the run)."""
        self.requests = 0
        self.retries.clear()
        for lane in lanes:
            lane.requests = 0

    async def fetch(
        self, lane: Lane, paginator: Paginator[Any], url: str | None = None, *, wait: bool = True
    ) -> tuple[Page[Any], str | None]:
        """One page (the paginator's first, or ``url``: a next link it gave) and the next
        page's URL (None at the end).

        ``wait=False``: when the lane's budget does not admit a request now (unknown budget
        with a request in flight, spent, parked), raise :class:`~._budget.NotReady` instead of
        waiting -- the scheduler re-queues the work, and no task waits for the budget."""
        attempt = 0
        budget = lane.budget
        started = self._clock()
        while True:
            if lane.dead is not None:
                raise FetchFailed(lane.dead, attempt)
            if wait:
                await budget.acquire()
            else:
                delay = budget.try_acquire()
                if delay:
                    raise NotReady(delay)
            attempt += 1
            try:
                if lane.dead is not None:  # it died while this request waited for the budget
                    raise FetchFailed(lane.dead, attempt - 1)
                async with self._global:
                    started = self._clock()
                    self.requests += 1
                    lane.requests += 1
                    page = await paginator.fetch_page(url)
                self._last_response = self._clock()
                _check_reserve(lane)
                return page, page.next_url
            except BudgetReserveError:
                raise  # a setting no token can work with: the run's error, not this page's
            except RateLimitError as exc:
                self._last_response = self._clock()
                # Retry-After above the client's cap: park this token, others continue
                attempt -= 1
                self.retries["429-parked"] += 1
                budget.park(exc.retry_after if exc.retry_after is not None else 60.0)
                observe.token_parked(lane.label, exc.retry_after, budget.abandoned)
                continue
            except UnauthorizedError as exc:
                self._last_response = self._clock()
                lane.dead = exc
                raise FetchFailed(exc, attempt) from exc
            except AuthError as exc:  # the token endpoint, asked for this lane's access token
                self._last_response = self._clock()
                if exc.error in APP_REFUSALS:
                    raise  # the app's own credentials or request: every lane would fail alike
                if credential_refused(exc):
                    lane.dead = exc
                    raise FetchFailed(exc, attempt) from exc
                if attempt >= self.max_attempts:
                    raise FetchFailed(exc, attempt) from exc
                self.retries[f"harvester:token-{exc.status or 'invalid'}"] += 1
                await self._sleep(min(30.0, self.retry_backoff * 2 ** (attempt - 1)))
                continue
            except TransportError as exc:
                outage = self._outage(exc, started)
                if not outage and attempt >= self.max_attempts:
                    raise FetchFailed(exc, attempt) from exc
                self.retries[f"harvester:{_reason(exc)}"] += 1
                await self._sleep(min(30.0 if not outage else 2.0, self.retry_backoff * 2 ** (attempt - 1)))
                continue
            except (ServerError, ResponseDecodeError, PaginationError) as exc:
                self._last_response = self._clock()
                retryable = not isinstance(exc, ResponseDecodeError) or exc.transient
                if not retryable or attempt >= self.max_attempts:
                    raise FetchFailed(exc, attempt) from exc
                self.retries[f"harvester:{_reason(exc)}"] += 1
                await self._sleep(min(30.0, self.retry_backoff * 2 ** (attempt - 1)))
                continue
            except (APIError, ValueError) as exc:  # 400/403/404/409/422..., or an invalid ID
                if isinstance(exc, APIError):
                    self._last_response = self._clock()
                raise FetchFailed(exc, attempt) from exc
            finally:
                budget.release(lane.client.rate_limit)

    def _outage(self, exc: TransportError, started: float) -> bool:
        """Whether a connection-level failure is part of the API's outage: nothing answered
        any request while this attempt ran (``started``). Raises :class:`APIUnreachableError` once the silence has
        lasted ``unreachable_after`` seconds."""
        if self.unreachable_after is None or self._last_response >= started:
            return False
        silence = self._clock() - self._last_response
        if silence >= self.unreachable_after:
            address = _address(exc.url)
            raise APIUnreachableError(
                f"the API at {address} is unreachable: no response for {silence:.0f}s, "
                f"last failure {type(exc).__name__}",
                address=address,
                seconds=silence,
                method=exc.method,
                url=exc.url,
            ) from exc
        return True


def _address(url: str | None) -> str:
    """``host:port`` of a (redacted) URL: no path, query or user information."""
    if not url:
        return "?"
    try:
        u = URL(url)
    except ValueError:
        return "?"
    return f"{u.host}:{u.port}" if u.port is not None else str(u.host)


APP_REFUSALS = frozenset({"invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_request"})
"""RFC 6749 5.2 errors that refuse the app (its client ID or secret, its grant, its request),
not one user's credential: the same for every token of a run."""


def credential_refused(exc: AuthError) -> bool:
    """Whether the token endpoint refused this one credential (a 4xx other than 429 and the
    app's own refusals: ``invalid_grant`` -- revoked, expired or rotated away -- ``invalid_scope``,
    or no RFC 6749 code at all), as opposed to failing (5xx, 429, an answer without a token)."""
    status = exc.status
    return status is not None and 400 <= status < 500 and status != 429 and exc.error not in APP_REFUSALS


def _check_reserve(lane: Lane) -> None:
    """Raise :class:`BudgetReserveError` once the token's limit is known to be at most the
    reserve: it could never send again (it would wait, parked, for a budget that never comes)."""
    reserve = lane.budget.reserve
    if not reserve:
        return  # the usual case, on every page: nothing to look up
    state = lane.client.rate_limit
    if state is not None and state.limit is not None and reserve >= state.limit:
        raise BudgetReserveError(
            f"budget_reserve {reserve} is not below the limit of token {lane.label}, {state.limit} "
            "requests per window: it could never send"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, APIError) and exc.status is not None:
        return str(exc.status)
    return type(exc).__name__
