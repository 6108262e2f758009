"""Link pagination, page_size validation, cursors, log filters."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from evenergy_async.simulator import Simulator

from .helpers import bearer, get_json, links


async def walk(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[list[dict[str, object]], int]:
    items: list[dict[str, object]] = []
    pages = 0
    while url != "about:blank":
        status, body, resp = await get_json(session, url, headers)
        assert status == 200, body
        items.extend(body)
        pages += 1
        url = links(resp)["next"]
    return items, pages


async def test_log_pages_follow_next_to_about_blank(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    vid = simulator.data.vehicles_of(simulator.user_id(0))[0]["id"]
    h = bearer(simulator.user_token(0))
    items, pages = await walk(
        session, f"{simulator.base_url}/vehicles/{vid}/status_logs?page_size=7", h)
    assert pages == 5  # 30 logs, 7 per page
    assert items == simulator.data.logs("status", vid)


async def test_first_page_links_and_previous(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    vid = simulator.data.vehicles_of(simulator.user_id(0))[0]["id"]
    h = bearer(simulator.user_token(0))
    base = f"{simulator.base_url}/vehicles/{vid}/command_logs"
    _, first, resp = await get_json(session, f"{base}?page_size=10", h)
    lk = links(resp)
    assert lk["previous"] == "about:blank"
    nxt = URL(lk["next"])
    assert nxt.is_absolute() and str(nxt.origin()) == str(simulator.origin)
    assert nxt.query["page_size"] == "10"
    assert nxt.query["page_after"] == first[-1]["logged_at"]
    _, second, resp2 = await get_json(session, lk["next"], h)
    assert second[0]["logged_at"] < first[-1]["logged_at"]
    prev = links(resp2)["previous"]
    assert URL(prev).query["page_before"] == second[0]["logged_at"]
    _, back, _ = await get_json(session, prev, h)
    assert back == first


@pytest.mark.invalid_requests("page_size out of bounds / not a number")
async def test_default_page_size_is_25_and_bounds_are_checked(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    vid = simulator.data.vehicles_of(simulator.user_id(0))[0]["id"]
    h = bearer(simulator.user_token(0))
    base = f"{simulator.base_url}/vehicles/{vid}/location_logs"
    status, body, _ = await get_json(session, base, h)
    assert status == 200 and len(body) == 25
    for bad in ("0", "101", "abc", "-1"):
        status, body, resp = await get_json(session, f"{base}?page_size={bad}", h)
        assert status == 400
        assert resp.content_type == "application/problem+json"
        assert "page_size" in body["field_errors"]
    status, body, _ = await get_json(session, f"{base}?page_size=100", h)
    assert status == 200 and len(body) == 30


async def test_filters_keep_in_next_links_and_bound_results(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    vid = simulator.data.vehicles_of(simulator.user_id(0))[0]["id"]
    h = bearer(simulator.user_token(0))
    logs = simulator.data.logs("status", vid)
    hi, lo = logs[3]["sampled_at"], logs[20]["sampled_at"]
    url = str(URL(f"{simulator.base_url}/vehicles/{vid}/status_logs").with_query(
        {"sampled_at__gte": lo, "sampled_at__lte": hi, "page_size": "5"}))
    items, pages = await walk(session, url, h)
    assert items == logs[3:21]
    assert pages == 4
    _, _, resp = await get_json(session, url, h)
    nxt = URL(links(resp)["next"])
    assert nxt.query["sampled_at__gte"] == lo and nxt.query["sampled_at__lte"] == hi


@pytest.mark.invalid_requests("an unencoded '+' in a timestamp filter, accepted liberally", accepted=True)
async def test_filters_accept_offsets_and_unencoded_plus(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    vid = simulator.data.vehicles_of(simulator.user_id(0))[0]["id"]
    h = bearer(simulator.user_token(0))
    logs = simulator.data.logs("error", vid)
    cut = logs[9]["logged_at"].replace("Z", "+00:00")
    raw = f"{simulator.base_url}/vehicles/{vid}/error_logs?page_size=100&logged_at__lte={cut}"
    status, body, _ = await get_json(session, URL(raw, encoded=True), h)
    assert status == 200 and body == logs[9:]
    cut2 = "2026-11-10T02:00:00+02:00"  # = 00:00Z
    status, body, _ = await get_json(
        session, URL(f"{simulator.base_url}/vehicles/{vid}/error_logs").with_query(
            {"logged_at__gte": cut2, "page_size": "100"}), h)
    assert status == 200
    assert body == [x for x in logs if x["logged_at"] >= "2026-11-10T00:00:00.000000Z"]


@pytest.mark.invalid_requests("timestamps that are not RFC 3339")
@pytest.mark.parametrize("param", ["sampled_at__gte", "sampled_at__lte", "page_after"])
async def test_bad_timestamp_filter_is_400(
    simulator: Simulator, session: aiohttp.ClientSession, param: str
) -> None:
    vid = simulator.data.vehicles_of(simulator.user_id(0))[0]["id"]
    status, body, _ = await get_json(
        session, f"{simulator.base_url}/vehicles/{vid}/location_logs?{param}=yesterday",
        bearer(simulator.user_token(0)))
    assert status == 400 and param in body["field_errors"]


async def test_catalogue_cursor_by_id_and_ordering(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    items, pages = await walk(session, f"{simulator.base_url}/vehicle_makes?page_size=4", {})
    assert [m["id"] for m in items] == [m["id"] for m in simulator.data.makes]
    assert pages == 4  # 13 makes
    _, first, resp = await get_json(session, f"{simulator.base_url}/vehicle_makes?page_size=4", {})
    assert URL(links(resp)["next"]).query["page_after"] == first[-1]["id"]
    by_name, _ = await walk(
        session, f"{simulator.base_url}/vehicle_models?ordering=-name&page_size=5", {})
    names = [m["name"] for m in by_name]
    assert names == sorted(names, key=str.casefold, reverse=True)
    assert len(by_name) == len(simulator.data.models)


@pytest.mark.invalid_requests("a cursor that is not an ID")
async def test_catalogue_bad_cursor_is_400(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    status, body, _ = await get_json(
        session, f"{simulator.base_url}/vehicle_makes?page_after=not-an-id", {})
    assert status == 400 and "page_after" in body["field_errors"]


async def test_vehicle_list_pages(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    token = simulator.issue_token()["access_token"]
    items, pages = await walk(
        session, f"{simulator.base_url}/vehicles?page_size=4", bearer(token))
    assert pages == 2
    assert [v["id"] for v in items] == [v["id"] for v in simulator.data.vehicles]


@pytest.mark.invalid_requests("page that is not a number")
async def test_model_connectors_page_by_number(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    model = next(m for m in simulator.data.models if m["name"] == "Model 3")["id"]
    base = f"{simulator.base_url}/vehicle_models/{model}/connectors"
    status, body, resp = await get_json(session, f"{base}?page_size=1", {})
    assert status == 200 and len(body) == 1
    lk = links(resp)
    assert lk["previous"] == "about:blank"
    assert URL(lk["next"]).query["page"] == "2"
    status, body2, resp2 = await get_json(session, lk["next"], {})
    assert status == 200 and body2[0]["region"] != body[0]["region"]
    assert links(resp2)["next"] == "about:blank"
    assert URL(links(resp2)["previous"]).query["page"] == "1"
    status, _, _ = await get_json(session, f"{base}?page=9", {})
    assert status == 404
    status, _, _ = await get_json(session, f"{base}?page=zero", {})
    assert status == 400


@pytest.mark.invalid_requests("an ordering outside the spec's enum")
async def test_unknown_ordering_is_400(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    # found by schemathesis: ordering=AAA was silently ignored (200); the spec's enum is name/-name
    for path in ("/vehicle_makes", "/vehicle_models", "/vehicle_trims"):
        status, body, _ = await get_json(
            session, f"{simulator.base_url}{path}?ordering=AAA", bearer(simulator.user_token(0)))
        assert status == 400 and "ordering" in body["field_errors"]
