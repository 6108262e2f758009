"""Pagination: one paginator class per paging style over a shared base, and a page-step API.

A ``Paginator`` is async-iterable over items and has ``.pages()``. Other layers (the harvester)
step page by page: ``page = await paginator.fetch_page()`` fetches the first page (or the resumed
start), ``await paginator.fetch_page(page.next_url)`` (or ``await page.get_next_page()``) the
next one, and ``page.has_next_page()`` says whether there is one. ``next_url`` is a plain string
that can be saved and passed back later, to this paginator or to ``resume()``.

- ``LinkPaginator`` follows the ``rel="next"`` links of the ``Link`` header, as given.
- ``PageNumberPaginator`` pages by ``page=N`` (the model-connector list).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs
from yarl import URL

from ._errors import NotFoundError, PaginationError, ResponseDecodeError
from ._sansio import RateLimitState, decode_error, next_link, parse_link_header, redact_url
from ._transport import Response
from ._types import AuthMode, Requester

__all__ = ["LinkPaginator", "Page", "PageNumberPaginator", "Paginator"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a list: its items, where it came from, where the next one is.

    ``has_next_page()`` / ``await get_next_page()`` step on. Save ``next_url`` to continue
    later with ``paginator.fetch_page(next_url)`` or ``paginator.resume(next_url)``.
    """

    items: list[T] = attrs.field(repr=lambda items: f"<{len(items)} items>")
    url: str
    next_url: str | None
    previous_url: str | None
    rate_limit: RateLimitState | None
    _paginator: Paginator[T] | None = attrs.field(default=None, repr=False, eq=False, alias="paginator")

    def has_next_page(self) -> bool:
        """Whether the server named a next page (``next_url`` is not None)."""
        return self.next_url is not None

    async def get_next_page(self) -> Page[T]:
        """Fetch the next page (one request, with the client's retries).

        Raises ``PaginationError`` on the last page, when the next link leaves the API origin,
        and when a page-numbered server sends this same page again.
        """
        if self.next_url is None or self._paginator is None:
            raise PaginationError("there is no next page (check has_next_page() first)", method="GET", url=self.url)
        page = await self._paginator.fetch_page(self.next_url)
        self._paginator._check_progress(self, page)
        return page


class Paginator(Generic[T]):
    """The items of one list, fetched page by page as they are consumed.

    ``async for item in paginator`` (or ``.pages()``) reads the whole list from the first page
    (or a resumed start); a page that repeats (a loop) or a next link to another origin raises
    ``PaginationError`` once the items already fetched are delivered. A paginator is created by
    a service's ``list`` method; subclasses implement one paging style each.
    """

    def __init__(
        self,
        client: Requester,
        url: URL,
        structure: Callable[[Any], list[T]],
        *,
        auth: AuthMode = "required",
        route: str | None = None,
        from_body: Callable[[bytes], list[T] | None] | None = None,
    ) -> None:
        self._client = client
        self._route = route  # the list's templated path, for spans, hooks and logs
        self._start = url
        self._structure = structure
        # the items straight from the body bytes (a C decoder), or None: parse, then ``structure``
        self._from_body = from_body
        self._auth: AuthMode = auth
        self.next_url: str | None = None
        """The next page's URL after the last page fetched (None when the list is done)."""
        self._resolved: tuple[str, URL] | None = None  # the last next link: as given, as parsed

    def __repr__(self) -> str:
        where = f" next={redact_url(self.next_url)}" if self.next_url is not None else ""
        return f"<{type(self).__name__} GET {redact_url(self._start)}{where}>"

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def first(self) -> T | None:
        """The list's first item, or None if its first page is empty. One request."""
        page = await self.fetch_page()
        return page.items[0] if page.items else None

    async def collect(self, *, limit: int = 10_000) -> list[T]:
        """Every item of the list, for lists known to be small.

        Never a silently cut list: once the list turns out to hold more than ``limit`` items
        (default 10,000), no further page is requested and ``PaginationError`` is raised;
        iterate (``async for``) or page (``pages()``) through longer lists instead.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        items: list[T] = []
        async for page in self.pages():
            items.extend(page.items)
            if len(items) > limit:
                raise PaginationError(
                    f"the list holds more than limit={limit} items; raise the limit or iterate over it",
                    method="GET",
                    url=redact_url(page.url),
                )
        return items

    async def _items(self) -> AsyncGenerator[T, None]:
        async for page in self.pages():
            for item in page.items:
                yield item

    def resume(self, next_url: str) -> Paginator[T]:
        """A paginator of the same list starting at a saved ``next_url`` (same origin only)."""
        if not isinstance(next_url, str) or not next_url.strip():
            # not "from the start": a saved None or "" means the list had ended, and starting
            # over would deliver every record again
            raise ValueError("resume needs the next_url a page gave (None or empty: that list had no next page)")
        url = self._check_origin(next_url, self._start)
        return type(self)(
            self._client, url, self._structure, auth=self._auth, route=self._route, from_body=self._from_body
        )

    def _with_structure(
        self, structure: Callable[[Any], list[Any]], from_body: Callable[[bytes], list[Any] | None] | None = None
    ) -> Paginator[Any]:
        """The same list, its items made by ``structure`` from the parsed page (e.g. raw dicts),
        or by ``from_body`` from the body bytes when it gives them (it returns None to decline)."""
        return type(self)(self._client, self._start, structure, auth=self._auth, route=self._route, from_body=from_body)

    def pages(self) -> AsyncGenerator[Page[T], None]:
        """Every page from the start, in order; raises ``PaginationError`` on a loop.

        With OpenTelemetry on, one span (``paginate <route>``) is the parent of the page requests."""
        tracing = self._client._tracing
        if tracing is None:
            return self._pages()
        return tracing.over_pages(self._pages(), self._route, lambda page: len(page.items))

    async def _pages(self) -> AsyncGenerator[Page[T], None]:
        seen: set[str] = set()
        url: str | None = None
        previous: Page[T] | None = None
        while True:
            key = str(self._start) if url is None else url
            if key in seen:
                raise PaginationError(
                    "pagination loop: the server linked to a page already fetched",
                    method="GET",
                    url=redact_url(key),
                )
            seen.add(key)
            page = await self.fetch_page(url)
            if previous is not None:
                self._check_progress(previous, page)
            yield page
            if page.next_url is None:
                return
            previous, url = page, page.next_url

    async def fetch_page(self, url: str | URL | None = None) -> Page[T]:
        """One page: the first (or the resumed start) for None, else ``url`` as a page's
        ``next_url`` gave it. One request with the client's retries.

        A ``url`` on another origin than the API's is refused with ``PaginationError`` before
        anything is sent (credentials never follow it). This is a single step: checks that
        need two pages (loops, repeats) are made by ``pages()`` and ``Page.get_next_page()``.
        """
        if url is None:
            target = self._start
        else:
            resolved = self._resolved
            if resolved is not None and url.__class__ is str and url == resolved[0]:
                target = self._require_origin(resolved[1], self._start)  # a link this paginator parsed
            else:
                target = self._check_origin(str(url), self._start)
        page = await self._fetch(target)
        self.next_url = page.next_url
        return page

    async def _fetch(self, url: URL) -> Page[T]:
        page: Page[T] = await self._client._call("GET", url, self._decode, auth=self._auth, route=self._route)
        return page

    def _decode(self, response: Response) -> Page[T]:
        url = response.url
        try:
            links = parse_link_header(response.headers.getall("Link", ()))
        except ValueError as exc:
            err = decode_error(str(exc), method="GET", url=url, status=response.status, path="headers.Link")
            err.transient = True
            raise err from exc
        from_body = self._from_body
        items = None if from_body is None else from_body(response.body)
        if items is None:  # no C decoder, or it declined: the general path makes any error
            data = self._client._json_of(response, "GET")
            try:
                items = self._structure(data)
            except ResponseDecodeError as exc:
                raise decode_error(exc.message, method="GET", url=url, status=response.status, path=exc.path) from exc
        target = self._next_target(url, links, "Link" in response.headers, items)
        next_url = None
        if target is not None:
            resolved = _resolve(target, url)
            next_url = str(resolved)
            self._resolved = (next_url, resolved)  # fetch_page(next_url) need not parse it again
        return Page(
            items=items,
            url=str(url),
            # resolved here, checked against the API origin only when it is requested: a
            # refused link must not lose the page in hand
            next_url=next_url,
            previous_url=_real(links.get("previous")),
            # _call() has just stored this response's headers (no await in between)
            rate_limit=self._client.rate_limit,
            paginator=self,
        )

    def _next_target(self, url: URL, links: Mapping[str, str], has_link: bool, items: list[T]) -> str | None:
        """Where the page after this one is (as the server spelled it), or None at the end."""
        raise NotImplementedError

    def _check_progress(self, previous: Page[T], page: Page[T]) -> None:
        """Raise ``PaginationError`` if ``page`` (which followed ``previous``) makes no progress."""

    def _check_origin(self, target: str, current: URL) -> URL:
        return self._require_origin(_resolve(target, current), current)

    def _require_origin(self, url: URL, current: URL) -> URL:
        if url.user is not None or url.password is not None:
            # aiohttp would send them as HTTP Basic beside the bearer token; never followed, never shown
            raise PaginationError(
                "refusing a next-page link that carries a user name or password", method="GET", url=redact_url(current)
            )
        if not self._client._same_origin(url):
            raise PaginationError(
                f"refusing a next-page link to another origin ({url.origin()})",
                method="GET",
                url=redact_url(current),
            )
        return url


def _real(target: str | None) -> str | None:
    """A link target, or None for a missing, empty or ``about:blank`` one."""
    return next_link({"next": target}) if target is not None else None


def _resolve(target: str, current: URL) -> URL:
    url = URL(target, encoded=True)
    return url if url.is_absolute() else current.join(url)


class LinkPaginator(Paginator[T]):
    """Follows ``rel="next"`` links as given; ``about:blank`` or no link ends the list."""

    def _next_target(self, url: URL, links: Mapping[str, str], has_link: bool, items: list[T]) -> str | None:
        return next_link(links)


class PageNumberPaginator(Paginator[T]):
    """Pages by ``page=N``: an empty or short page is the last, whatever the links say.

    The next page is the ``Link`` header's next link when the server sends one, else the next
    number; a 404 for a number computed here means the list ended on a full page. A page with
    the same items as the one before it (a server ignoring ``page``) raises ``PaginationError``.
    """

    def __init__(
        self,
        client: Requester,
        url: URL,
        structure: Callable[[Any], list[T]],
        *,
        auth: AuthMode = "required",
        route: str | None = None,
        from_body: Callable[[bytes], list[T] | None] | None = None,
    ) -> None:
        super().__init__(client, url, structure, auth=auth, route=route, from_body=from_body)
        self._computed: set[str] = set()  # next URLs numbered here, not linked by the server

    def _next_target(self, url: URL, links: Mapping[str, str], has_link: bool, items: list[T]) -> str | None:
        try:
            size = int(url.query.get("page_size", "25"))
        except ValueError:
            size = 25
        if not items or len(items) < size:
            return None
        if has_link:
            return next_link(links)
        try:
            number = int(float(url.query.get("page", "1")))
        except ValueError:
            number = 1
        target = str(url.update_query(page=str(number + 1)))
        self._computed.add(target)
        return target

    async def _fetch(self, url: URL) -> Page[T]:
        try:
            return await super()._fetch(url)
        except NotFoundError:
            if str(url) not in self._computed:
                raise
            # a full last page, then "Invalid page." for the number after it: the end
            return Page(
                items=[], url=str(url), next_url=None, previous_url=None,
                rate_limit=self._client.rate_limit, paginator=self,
            )

    def _check_progress(self, previous: Page[T], page: Page[T]) -> None:
        if page.items and page.items == previous.items:
            raise PaginationError(
                "pagination loop: the server sent the same page again (does it ignore page=N?)",
                method="GET",
                url=redact_url(page.url),
            )
