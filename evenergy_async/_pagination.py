"""Link-header pagination: ``Paginator`` is async-iterable over items and has ``.pages()``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
from yarl import URL

from ._errors import PaginationError, ResponseDecodeError
from ._sansio import RateLimitState, decode_error, next_link, parse_link_header, redact_url
from ._transport import Response

if TYPE_CHECKING:
    from ._client import AuthMode, EvEnergyClient

__all__ = ["Page", "Paginator"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a list: its items, where it came from, where the next one is.

    Save ``next_url`` to resume later with ``paginator.resume(next_url)``.
    """

    items: list[T] = attrs.field(repr=lambda items: f"<{len(items)} items>")
    url: str
    next_url: str | None
    previous_url: str | None
    rate_limit: RateLimitState | None


class Paginator(Generic[T]):
    """Follows ``rel="next"`` links as given, from the first page (or a saved next URL).

    Stops at ``about:blank`` or a missing link; raises ``PaginationError`` if a next URL
    repeats (a loop) or leaves the API origin (credentials never follow it).
    """

    def __init__(
        self,
        client: EvEnergyClient,
        url: URL,
        structure: Callable[[Any], list[T]],
        *,
        auth: AuthMode = "required",
        page_numbers: bool = False,
    ) -> None:
        self._client = client
        self._start = url
        self._structure = structure
        self._auth: AuthMode = auth
        self._page_numbers = page_numbers
        self.next_url: str | None = None
        """The next page's URL after the last page fetched (None when the list is done)."""

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        async for page in self.pages():
            for item in page.items:
                yield item

    def resume(self, next_url: str) -> Paginator[T]:
        """A paginator starting at a saved ``next_url`` (same origin as the client's base URL)."""
        url = self._check_origin(next_url, self._start)
        return Paginator(
            self._client, url, self._structure, auth=self._auth, page_numbers=self._page_numbers
        )

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        seen: set[str] = set()
        url: URL | None = self._start
        previous: Page[T] | None = None
        while url is not None:
            key = str(url)
            if key in seen:
                raise PaginationError(
                    "pagination loop: the server linked to a page already fetched",
                    method="GET",
                    url=redact_url(url),
                )
            seen.add(key)
            page, url = await self._fetch_page(url)
            if self._page_numbers and previous is not None and page.items and page.items == previous.items:
                raise PaginationError(
                    "pagination loop: the server sent the same page again (does it ignore page=N?)",
                    method="GET",
                    url=redact_url(page.url),
                )
            self.next_url = page.next_url
            previous = page
            yield page

    async def _fetch_page(self, url: URL | None = None) -> tuple[Page[T], URL | None]:
        """One page: the first (or the resumed one), or ``url`` as a previous call returned it.

        Returns the page and the next page's URL, already checked against the API origin (pass
        it back as is), or None at the end. One request with the client's retries; no loop
        detection across calls (:meth:`pages` has it): the caller follows the links.
        """
        target = self._start if url is None else self._check_origin(str(url), self._start)
        return await self._client.call("GET", target, self._decode, auth=self._auth)

    def _decode(self, response: Response) -> tuple[Page[T], URL | None]:
        url = response.url
        try:
            links = parse_link_header(response.headers.getall("Link", ()))
        except ValueError as exc:
            err = decode_error(str(exc), method="GET", url=url, status=response.status, path="headers.Link")
            err.transient = True
            raise err from exc
        data = self._client.json_of(response, "GET")
        try:
            items = self._structure(data)
        except ResponseDecodeError as exc:
            raise decode_error(exc.message, method="GET", url=url, status=response.status, path=exc.path) from exc
        target = next_link(links)
        if self._page_numbers:
            # page=N: an empty or short page is the last, whatever the links say; without a
            # Link header the next page is the next number
            if self._is_last_numbered(url, len(items)):
                target = None
            elif "Link" not in response.headers:
                target = self._next_page_number(url)
        # resolved here, checked against the API origin only when it is requested: a refused
        # link must not lose the page in hand
        nxt = self._resolve(target, url) if target is not None else None
        previous = links.get("previous")
        page = Page(
            items=items,
            url=str(url),
            next_url=None if nxt is None else str(nxt),
            previous_url=None if previous in (None, "about:blank") else previous,
            # call() has just stored this response's headers (no await in between)
            rate_limit=self._client.rate_limit,
        )
        return page, nxt

    @staticmethod
    def _is_last_numbered(url: URL, count: int) -> bool:
        try:
            size = int(url.query.get("page_size", "25"))
        except ValueError:
            size = 25
        return count == 0 or count < size

    @staticmethod
    def _next_page_number(url: URL) -> str:
        try:
            page = int(float(url.query.get("page", "1")))
        except ValueError:
            page = 1
        return str(url.update_query(page=str(page + 1)))

    @staticmethod
    def _resolve(target: str, current: URL) -> URL:
        url = URL(target, encoded=True)
        return url if url.is_absolute() else current.join(url)

    def _check_origin(self, target: str, current: URL) -> URL:
        url = self._resolve(target, current)
        if not self._client.same_origin(url):
            raise PaginationError(
                f"refusing a next-page link to another origin ({url.origin()})",
                method="GET",
                url=redact_url(current),
            )
        return url
