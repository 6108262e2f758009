"""Paginator behaviour over a scripted real server: links followed as given, loops, origins."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from evenergy_async import (
    EvEnergyClient,
    LinkPaginator,
    NotFoundError,
    PageNumberPaginator,
    PaginationError,
    ResponseDecodeError,
    RetryPolicy,
)

from .scripted import ScriptedServer

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
LOGS = f"/v2/vehicles/{VID}/command_logs"


MODEL = "vmod01HSBR8Z36GD7A46K7M4R12VG0"
CONNECTORS = f"/v2/vehicle_models/{MODEL}/connectors"


def connector(i: int) -> dict[str, Any]:
    return {
        "url": f"u{i}", "vehicle_model": "m", "region": "EUROPE", "connector_type": "CCS",
        "source": None, "confidence": None, "verified_at": None, "updated_at": "2026-11-01T00:00:00Z",
    }


def numbered(pages: dict[int, list[int]], *, link: bool, default: list[int] | None = None) -> Any:
    """page=N -> those connectors; a page number not in ``pages`` gets ``default`` (a server
    ignoring the number) or an empty list. With ``link``, a Link to page N+1 is always sent."""

    def act(request: web.Request) -> web.StreamResponse:
        n = int(request.query.get("page", "1"))
        items = pages.get(n, default if default is not None else [])
        headers = {}
        if link:
            nxt = request.url.update_query(page=str(n + 1))
            headers["Link"] = f'<about:blank>; rel="previous", <{nxt}>; rel="next"'
        return web.json_response([connector(i) for i in items], headers=headers)

    return act


def log(i: int) -> dict[str, Any]:
    return {
        "url": f"https://api.ev.energy/v2/vehicles/{VID}/command_logs/2026-11-01T00:00:{i:02d}.000000Z",
        "logged_at": f"2026-11-01T00:00:{i:02d}.000000Z",
        "command": "START_CHARGE",
    }


def page(items: list[dict[str, Any]], next_url: str | None, **extra: str) -> Any:
    def act(_: web.Request) -> web.StreamResponse:
        headers = {"Link": f'<{next_url or "about:blank"}>; rel="next", <about:blank>; rel="previous"', **extra}
        return web.json_response(items, headers=headers)

    return act


@pytest.fixture
async def server() -> Any:
    async with ScriptedServer() as s:
        yield s


async def noop_sleep(_: float) -> None:
    await asyncio.sleep(0)


def client_for(server: ScriptedServer, **kw: Any) -> EvEnergyClient:
    return EvEnergyClient("tok", base_url=server.base_url, sleep=noop_sleep, **kw)


async def test_follows_next_links_as_given_until_about_blank(server: ScriptedServer) -> None:
    opaque = str(server.base_url / "vehicles" / VID / "command_logs") + "?cursor=%2Fopaque%3D&page_size=2"
    server.script(LOGS, page([log(9), log(8)], opaque), page([log(7)], None))
    async with client_for(server) as client:
        paginator = client.command_logs.list(VID, page_size=2)
        pages = [p async for p in paginator.pages()]
    assert [len(p.items) for p in pages] == [2, 1]
    assert pages[0].next_url == opaque and pages[1].next_url is None
    assert server.seen[1].query == {"cursor": "/opaque=", "page_size": "2"}  # sent unchanged
    assert server.seen[0].query["page_size"] == "2"


async def test_items_iteration_and_missing_link_ends(server: ScriptedServer) -> None:
    def last(_: web.Request) -> web.StreamResponse:
        return web.json_response([log(1)])  # no Link header at all

    nxt = str(server.base_url / "vehicles" / VID / "command_logs") + "?page_after=x"
    server.script(LOGS, page([log(3), log(2)], nxt), last)
    async with client_for(server) as client:
        items = [i async for i in client.command_logs.list(VID)]
    assert [i.logged_at.second for i in items if i.logged_at] == [3, 2, 1]


async def test_default_page_size_is_the_maximum(server: ScriptedServer) -> None:
    server.script(LOGS, page([], None))
    async with client_for(server) as client:
        assert [i async for i in client.command_logs.list(VID)] == []
    assert server.seen[0].query["page_size"] == "100"


async def test_resume_from_saved_next_url(server: ScriptedServer) -> None:
    second = str(server.base_url / "vehicles" / VID / "command_logs") + "?page_after=2026-11-01T00%3A00%3A08.000000Z"
    server.script(LOGS, page([log(9), log(8)], second))
    async with client_for(server) as client:
        paginator = client.command_logs.list(VID)
        async for _ in paginator.pages():
            break
        saved = paginator.next_url
        assert saved == second
    server.script(LOGS, page([log(7)], None))
    async with client_for(server) as client:
        resumed = client.command_logs.list(VID).resume(saved)
        items = [i async for i in resumed]
    assert len(items) == 1
    assert server.seen[-1].query == {"page_after": "2026-11-01T00:00:08.000000Z"}


async def test_loop_is_detected(server: ScriptedServer) -> None:
    again = str(server.base_url / "vehicles" / VID / "command_logs") + "?page_after=same"
    server.always(LOGS, page([log(1)], again))
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="loop"):
            async for _ in client.command_logs.list(VID):
                pass
    assert server.count(LOGS) == 2


async def test_foreign_origin_is_refused_and_never_requested(server: ScriptedServer) -> None:
    server.script(LOGS, page([log(2), log(1)], "https://evil.example/v2/steal?x=1"))
    async with client_for(server) as client:
        got: list[Any] = []
        with pytest.raises(PaginationError, match="another origin"):
            async for item in client.command_logs.list(VID):
                got.append(item)
    assert len(got) == 2  # the page in hand is delivered; only the next request is refused
    assert server.count(LOGS) == 1


async def test_foreign_origin_keeps_the_page_and_refuses_only_its_next(server: ScriptedServer) -> None:
    server.script(LOGS, page([log(2), log(1)], "https://evil.example/v2/steal?x=1"))
    async with client_for(server) as client:
        paginator = client.command_logs.list(VID)
        pages = paginator.pages()
        first = await anext(pages)
        assert [i.logged_at.second for i in first.items if i.logged_at] == [2, 1]
        assert first.next_url == "https://evil.example/v2/steal?x=1"
        with pytest.raises(PaginationError, match="another origin") as info:
            await anext(pages)
    assert "evil.example" not in (info.value.url or "")  # the error names where we were
    assert server.count(LOGS) == 1


async def test_relative_next_link_is_resolved_against_the_page(server: ScriptedServer) -> None:
    server.script(LOGS, page([log(2)], "command_logs?page_after=x"), page([log(1)], None))
    async with client_for(server) as client:
        items = [i async for i in client.command_logs.list(VID)]
    assert len(items) == 2
    assert server.seen[1].path == LOGS and server.seen[1].query == {"page_after": "x"}


async def test_resume_refuses_foreign_origin(server: ScriptedServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(PaginationError):
            client.command_logs.list(VID).resume("https://evil.example/v2/x")


async def test_a_next_link_with_a_user_name_or_password_is_not_followed(server: ScriptedServer) -> None:
    """aiohttp would send a URL's user and password as HTTP Basic beside the bearer token: such
    a link is refused (the items before it delivered), and its password is never shown."""
    port = server.url.port

    def page(_: web.Request) -> web.StreamResponse:
        link = f'<http://mallory:hunter2-password@127.0.0.1:{port}{LOGS}?page_after=x>; rel="next"'
        return web.json_response([log(1)], headers={"Link": link})

    server.always(LOGS, page)
    async with client_for(server) as client:
        items = []
        with pytest.raises(PaginationError, match="carries a user name or password") as info:
            async for item in client.command_logs.list(VID):
                items.append(item)
        assert len(items) == 1
        assert "hunter2-password" not in f"{info.value}{info.value!r}"
        with pytest.raises(PaginationError, match="carries a user name or password"):
            client.command_logs.list(VID).resume(f"http://u:pw@127.0.0.1:{port}{LOGS}?page_after=x")
    assert server.count(LOGS) == 1


async def test_resume_refuses_an_empty_cursor(server: ScriptedServer) -> None:
    """A saved None or "" means the list had ended: starting over would deliver every record again."""
    async with client_for(server) as client:
        for cursor in ("", "  ", None):
            with pytest.raises(ValueError, match="resume needs the next_url a page gave"):
                client.command_logs.list(VID).resume(cursor)  # type: ignore[arg-type]
    assert server.seen == []


async def test_malformed_link_is_an_error_not_the_end(server: ScriptedServer) -> None:
    def broken(_: web.Request) -> web.StreamResponse:
        return web.json_response([log(1)], headers={"Link": "https://x/next; rel=next"})

    server.always(LOGS, broken)
    async with client_for(server, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(ResponseDecodeError) as info:
            async for _ in client.command_logs.list(VID):
                pass
    assert info.value.path == "headers.Link"
    assert server.count(LOGS) == 2  # retried once as a transient fault


async def test_page_carries_rate_limit(server: ScriptedServer) -> None:
    server.script(LOGS, page([log(1)], None, **{"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "10"}))
    async with client_for(server) as client:
        pages = [p async for p in client.command_logs.list(VID).pages()]
    assert pages[0].rate_limit is not None and pages[0].rate_limit.remaining == 10


async def test_page_number_fallback_without_link(server: ScriptedServer) -> None:
    server.always(CONNECTORS, numbered({1: [1, 2], 2: [3, 4], 3: [5]}, link=False))
    async with client_for(server) as client:
        items = [c async for c in client.vehicle_models.list_connectors(MODEL, page_size=2)]
    assert len(items) == 5
    assert [s.query.get("page") for s in server.seen] == [None, "2", "3"]


async def test_bad_page_size_sends_nothing(server: ScriptedServer) -> None:
    async with client_for(server) as client:
        for bad in (0, 101, True):
            with pytest.raises(ValueError):
                client.command_logs.list(VID, page_size=bad)
    assert server.seen == []



@pytest.mark.parametrize("link", [False, True])
async def test_page_numbers_a_server_ignoring_page_is_an_error_not_a_hang(server: ScriptedServer, link: bool) -> None:
    server.always(CONNECTORS, numbered({}, link=link, default=[1, 2]))
    got: list[Any] = []
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="same page"):
            async for c in client.vehicle_models.list_connectors(MODEL, page_size=2):
                got.append(c)
    assert len(got) == 2  # the first page was delivered
    assert server.count(CONNECTORS) == 2


@pytest.mark.parametrize("link", [False, True])
async def test_page_numbers_stop_on_an_empty_page(server: ScriptedServer, link: bool) -> None:
    server.always(CONNECTORS, numbered({1: [1, 2], 2: [3, 4]}, link=link))
    async with client_for(server) as client:
        items = [c async for c in client.vehicle_models.list_connectors(MODEL, page_size=2)]
    assert [c.url for c in items] == ["u1", "u2", "u3", "u4"]
    assert [s.query.get("page") for s in server.seen] == [None, "2", "3"]


@pytest.mark.parametrize("link", [False, True])
async def test_page_numbers_stop_on_a_short_page(server: ScriptedServer, link: bool) -> None:
    server.always(CONNECTORS, numbered({1: [1, 2], 2: [3]}, link=link, default=[3]))
    async with client_for(server) as client:
        items = [c async for c in client.vehicle_models.list_connectors(MODEL, page_size=2)]
    assert [c.url for c in items] == ["u1", "u2", "u3"]
    assert server.count(CONNECTORS) == 2


async def test_page_numbers_a_server_repeating_its_last_full_page(server: ScriptedServer) -> None:
    server.always(CONNECTORS, numbered({1: [1, 2], 2: [3, 4]}, link=True, default=[3, 4]))
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="same page"):
            async for _ in client.vehicle_models.list_connectors(MODEL, page_size=2):
                pass
    assert server.count(CONNECTORS) == 3


async def test_page_step_api(server: ScriptedServer) -> None:
    second = str(server.base_url / "vehicles" / VID / "command_logs") + "?page_after=x"
    server.script(LOGS, page([log(9), log(8)], second), page([log(7)], None), page([log(7)], None))
    async with client_for(server) as client:
        paginator = client.command_logs.list(VID, page_size=2)
        assert isinstance(paginator, LinkPaginator)
        first = await paginator.fetch_page()
        assert first.has_next_page() and first.next_url == second
        assert paginator.next_url == second
        last = await first.get_next_page()
        assert [i.logged_at.second for i in last.items if i.logged_at] == [7]
        assert not last.has_next_page() and paginator.next_url is None
        with pytest.raises(PaginationError, match="no next page"):
            await last.get_next_page()
        # a saved next_url (a plain string) is fetched again as is, by any paginator of the list
        again = await client.command_logs.list(VID).fetch_page(second)
        assert again.items == last.items
    assert [s.query for s in server.seen][1:] == [{"page_after": "x"}, {"page_after": "x"}]


async def test_fetch_page_refuses_another_origin_before_sending(server: ScriptedServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="another origin"):
            await client.command_logs.list(VID).fetch_page("https://evil.example/v2/x")
    assert server.seen == []


async def test_page_numbers_get_next_page_detects_a_repeated_page(server: ScriptedServer) -> None:
    server.always(CONNECTORS, numbered({}, link=False, default=[1, 2]))
    async with client_for(server) as client:
        paginator = client.vehicle_models.list_connectors(MODEL, page_size=2)
        assert isinstance(paginator, PageNumberPaginator)
        first = await paginator.fetch_page()
        assert first.has_next_page()
        with pytest.raises(PaginationError, match="same page"):
            await first.get_next_page()


async def test_page_numbers_404_after_a_full_last_page_is_the_end(server: ScriptedServer) -> None:
    """A Django-style server answers "Invalid page." (404) for the number after the last page."""
    seen_pages = {1: [1, 2], 2: [3, 4]}

    def act(request: web.Request) -> web.StreamResponse:
        n = int(request.query.get("page", "1"))
        if n not in seen_pages:
            return web.json_response({"title": "Not Found", "detail": "Invalid page."}, status=404)
        return web.json_response([connector(i) for i in seen_pages[n]])

    server.always(CONNECTORS, act)
    async with client_for(server) as client:
        items = [c async for c in client.vehicle_models.list_connectors(MODEL, page_size=2)]
        assert [c.url for c in items] == ["u1", "u2", "u3", "u4"]
        # a 404 for a page the server itself linked to is not swallowed
        with pytest.raises(NotFoundError):
            await client.vehicle_models.list_connectors(MODEL, page_size=2).fetch_page(
                str(server.base_url / "vehicle_models" / MODEL / "connectors") + "?page=9&page_size=2"
            )
