"""Types shared by the client, its services and its paginators (below all three: no import circle).

``Requester`` is what a service or a paginator needs from a client: the one request pipeline
and a few helpers. ``EvEnergyClient`` implements it; nothing here imports the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from yarl import URL

    from ._otel import Tracing
    from ._sansio import RateLimitState
    from ._transport import Response

__all__ = ["AuthMode", "Requester", "Sleep"]

T = TypeVar("T")

AuthMode = Literal["required", "optional"]
"""Per operation, from the spec's ``security``: ``[]`` -> "optional" (a token in hand is sent,
none is fetched), anything else -> "required" (a token is fetched if needed and always sent)."""

Sleep = Callable[[float], Awaitable[object]]


class Requester(Protocol):
    """What services and paginators use of a client (``EvEnergyClient`` and its views)."""

    @property
    def rate_limit(self) -> RateLimitState | None: ...

    def _url(self, *segments: str) -> URL: ...

    def _same_origin(self, url: URL) -> bool: ...

    def _json_of(self, response: Response, method: str) -> Any: ...

    @property
    def _tracing(self) -> Tracing | None: ...

    async def _call(
        self,
        method: str,
        url: URL,
        decode: Callable[[Response], T],
        *,
        params: Sequence[tuple[str, str]] | None = None,
        body: bytes | None = None,
        auth: AuthMode = "required",
        route: str | None = None,
    ) -> T: ...
