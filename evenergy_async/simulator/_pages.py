"""Paging in one place: query parsing, cursor pages, ``Link`` building, the page cache."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from multidict import MultiMapping

from ._http import ANY_ID_RE, bytes_response
from ._ops import LOG_SEGMENTS
from ._problems import bad_query
from ._state import BASE_PATH, STATE
from ._wire import dumps, encode_query, format_us, parse_ts

if TYPE_CHECKING:
    from ._data import DataSet
    from ._state import State

__all__: list[str] = []  # private module

T = TypeVar("T")

CURSOR_PARAMS = ("page_after", "page_before", "page", "page_size")
TS_PARAMS = frozenset(
    {"sampled_at__gte", "sampled_at__lte", "logged_at__gte", "logged_at__lte", "page_after",
     "page_before"}
)
NO_PAGE = "about:blank"  # the target of an absent previous/next relation

CacheKey = tuple[str, tuple[tuple[str, str], ...]]
#: a cached page: body, previous URL, next URL
Page = tuple[bytes, str, str]


# ---------------------------------------------------------------------- query parameters
def page_size(query: MultiMapping[str]) -> int:
    raw = query.get("page_size")
    if raw is None:
        return 25
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= 100:
        raise bad_query({"page_size": ["Must be an integer between 1 and 100."]},
                        pagination=True)
    return size


def ts_query(query: MultiMapping[str], name: str, *, pagination: bool = False) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_ts(raw)
    except ValueError:
        raise bad_query(
            {name: ["Enter a valid date/time (RFC 3339, e.g. 2026-11-01T09:39:45.984584Z)."]},
            pagination=pagination,
        ) from None


def kept_query(query: MultiMapping[str]) -> list[tuple[str, str]]:
    """The request's filters, carried into the previous/next links."""
    return [
        (k, v.replace(" ", "+") if k in TS_PARAMS else v)
        for k, v in query.items() if k not in CURSOR_PARAMS
    ]


# ---------------------------------------------------------------------- Link
def link_urls(
    base: str,
    keep: Sequence[tuple[str, str]],
    prev: tuple[str, str] | None,
    nxt: tuple[str, str] | None,
) -> tuple[str, str]:
    """The previous and next URLs (``about:blank`` when absent) of a page of ``base``."""
    prev_url = base + encode_query([*keep, prev]) if prev else NO_PAGE
    next_url = base + encode_query([*keep, nxt]) if nxt else NO_PAGE
    return prev_url, next_url


#: Every legal spelling of the ``Link`` header the simulator can send (RFC 8288, RFC 9110
#: section 5.3: several field lines mean the same as one comma-joined line).
LINK_STYLES: dict[str, str] = {
    "joined": 'one line: <prev>; rel="previous", <next>; rel="next" (the default)',
    "lines": "one field line per relation, previous first",
    "lines_next_first": "one field line per relation, next first",
    "unquoted": "unquoted relation types: rel=previous, rel=next",
    "multi_rel": 'several relation types in one rel: rel="prev previous", rel="nofollow next"',
    "param_order": 'other parameters before rel: <next>; type="application/json"; rel="next"',
    "odd_whitespace": "tabs and spaces wherever the grammar allows them (around ; , and =)",
    "upper_case": 'upper-case parameter names: REL="next"',
}
DEFAULT_LINK_STYLE = "joined"


def link_lines(prev_url: str, next_url: str, style: str = DEFAULT_LINK_STYLE) -> list[str]:
    """The ``Link`` field line(s) naming the previous and next pages, spelled ``style``."""
    p, n = prev_url, next_url
    if style == "lines":
        return [f'<{p}>; rel="previous"', f'<{n}>; rel="next"']
    if style == "lines_next_first":
        return [f'<{n}>; rel="next"', f'<{p}>; rel="previous"']
    if style == "unquoted":
        return [f"<{p}>; rel=previous, <{n}>; rel=next"]
    if style == "multi_rel":
        return [f'<{p}>; rel="prev previous", <{n}>; rel="nofollow next"']
    if style == "param_order":
        return [f'<{p}>; title="previous page"; rel="previous", '
                f'<{n}>; type="application/json"; rel="next"; title="next page"']
    if style == "odd_whitespace":
        return [f'<{p}>;rel="previous"\t ,  <{n}> ;\trel = "next"  ']
    if style == "upper_case":
        return [f'<{p}>; REL="previous", <{n}>; Rel="next"']
    return [f'<{p}>; rel="previous", <{n}>; rel="next"']


#: the previous and next URLs of a paged response (so a fault can spell its Link anew)
PAGE_LINKS: web.ResponseKey[tuple[str, str]] = web.ResponseKey("evenergy_simulator_links")


def set_links(resp: web.StreamResponse, prev_url: str, next_url: str, style: str) -> None:
    """Replace the response's ``Link`` field lines with ``style``'s spelling."""
    resp.headers.popall("Link", None)
    for line in link_lines(prev_url, next_url, style):
        resp.headers.add("Link", line)
    resp[PAGE_LINKS] = (prev_url, next_url)


def paged_response(
    request: web.Request, body: bytes, prev_url: str, next_url: str
) -> web.Response:
    """A page: ``body`` and its ``Link`` (spelled as ``SimulatorConfig.link_style``)."""
    resp = bytes_response(body)
    set_links(resp, prev_url, next_url, request.app[STATE].config.link_style)
    return resp


def api_url(request: web.Request, path: str) -> str:
    """The public URL of ``path`` (relative to the API base) followed by ``?``."""
    return request.app[STATE].public(BASE_PATH + path) + "?"


def links(
    request: web.Request,
    path: str,
    size: int,
    prev: tuple[str, str] | None,
    nxt: tuple[str, str] | None,
) -> tuple[str, str]:
    keep = [*kept_query(request.query), ("page_size", str(size))]
    return link_urls(api_url(request, path), keep, prev, nxt)


def id_page(
    request: web.Request,
    items: list[T],
    ids: list[str],
    size: int,
    by_id: bool,
) -> tuple[list[T], str | None, str | None]:
    """Cursor pagination by resource ID; ``by_id``: ``ids`` is sorted ascending."""
    q = request.query
    after, before = q.get("page_after"), q.get("page_before")
    if after is not None and before is not None:
        raise bad_query({"page_after": ["Use either page_after or page_before."]},
                        pagination=True)
    cursor = after if after is not None else before
    if cursor is not None and not ANY_ID_RE.fullmatch(cursor):
        raise bad_query({"page_after" if after is not None else "page_before":
                        ["Not a valid cursor."]}, pagination=True)

    def position(c: str, right: bool) -> int:
        if by_id:
            return bisect_right(ids, c) if right else bisect_left(ids, c)
        try:
            i = ids.index(c)
        except ValueError:
            raise bad_query({"page_after" if after is not None else "page_before":
                            ["Cursor does not match an item of this list."]},
                            pagination=True) from None
        return i + 1 if right else i

    if after is not None:
        start = position(after, True)
        end = min(len(items), start + size)
    elif before is not None:
        end = position(before, False)
        start = max(0, end - size)
    else:
        start, end = 0, min(len(items), size)
    # page_before=<first id>: the items strictly before; page_after=<last id>: after.
    prev_c = ids[start] if 0 < start < end else None
    next_c = ids[end - 1] if start < end < len(ids) else None
    return items[start:end], prev_c, next_c


def list_response(
    request: web.Request,
    path: str,
    body: Any,
    size: int,
    prev: str | None,
    nxt: str | None,
) -> web.Response:
    """A page of an ID-cursor list."""
    prev_url, next_url = links(
        request, path, size,
        ("page_before", prev) if prev else None,
        ("page_after", nxt) if nxt else None,
    )
    return paged_response(request, dumps(body), prev_url, next_url)


# ---------------------------------------------------------------------- log pages
def log_page(
    st: State,
    vid: str,
    kind: str,
    sl: Any,
    size: int,
    extra_keep: Sequence[tuple[str, str]],
    path: str,
) -> Page:
    """A log page's body (the stored bytes) and its previous/next URLs."""
    data = st.data
    neg = data.series_neg(vid, kind)
    records = data.series_records(vid, kind)
    body = records.page(sl.start, sl.end)
    prev = nxt = None
    if sl.has_prev:
        prev = format_us(-neg[sl.start]) if sl.end > sl.start else format_us(
            -neg[sl.start - 1] - 1)
    if sl.has_next:
        nxt = format_us(-neg[sl.end - 1]) if sl.end > sl.start else format_us(
            -neg[sl.end] + 1)
    keep = [*extra_keep, ("page_size", str(size))]
    prev_url, next_url = link_urls(
        st.public(path) + "?", keep,
        ("page_before", prev) if prev else None, ("page_after", nxt) if nxt else None,
    )
    return body, prev_url, next_url


class PageCache:
    """Serialized log pages keyed by (path, sorted query); invalid once the data changes."""

    #: bytes of pages cached on demand (beyond the precomputed chains); past it, misses are
    #: served without being stored, so harvests with ever-new filters cannot grow memory
    RUNTIME_CACHE_BYTES = 64 * 1024 * 1024

    def __init__(self, data: DataSet) -> None:
        self._data = data
        self._pages: dict[CacheKey, Page] = {}
        self._version = -1
        self._runtime_bytes = 0

    def clear(self) -> None:
        self._pages.clear()

    @staticmethod
    def key(path: str, query: Sequence[tuple[str, str]]) -> CacheKey:
        return path, tuple(sorted((k, v.replace(" ", "+")) for k, v in query))

    def _check_version(self) -> None:
        if self._version != self._data.version:
            self._pages.clear()
            self._version = self._data.version
            self._runtime_bytes = 0

    def get(self, path: str, query: Sequence[tuple[str, str]]) -> Page | None:
        if self._version != self._data.version:
            self._pages.clear()
            self._version = self._data.version
        return self._pages.get(self.key(path, query))

    def put(self, path: str, query: Sequence[tuple[str, str]], page: Page, *,
            runtime: bool = False) -> None:
        self._check_version()
        if runtime:
            if self._runtime_bytes + len(page[0]) > self.RUNTIME_CACHE_BYTES:
                return
            self._runtime_bytes += len(page[0])
        self._pages[self.key(path, query)] = page


def precompute(st: State) -> None:
    """Serialize every log page chain at ``page_size=100`` (``precompute_pages``)."""
    data = st.data
    data.materialize_all()
    for vid in list(data.vehicles_by_id):
        for kind, seg in LOG_SEGMENTS.items():
            path = f"{BASE_PATH}/vehicles/{vid}/{seg}"
            after: int | None = None
            while True:
                query: list[tuple[str, str]] = [("page_size", "100")]
                if after is not None:
                    query.append(("page_after", format_us(after)))
                sl = data.slice(vid, kind, gte=None, lte=None, after=after,
                                before=None, size=100)
                st.pages.put(path, query, log_page(st, vid, kind, sl, 100, [], path))
                if not sl.has_next:
                    break
                after = -data.series_neg(vid, kind)[sl.end - 1]
