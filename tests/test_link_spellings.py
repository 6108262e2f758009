"""Every list operation, through a loopback proxy that re-spells the simulator's ``Link`` header.

The proxy forwards each request to the simulator and sends its ``Link`` back in another legal
RFC 8288 / RFC 9110 spelling (one header line per relation, unquoted or upper-case ``rel``,
several relation types in one ``rel``, other parameter orders, odd whitespace). Every list must
come back complete and identical to the plain spelling's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from evenergy_async import EvEnergyClient, Paginator
from evenergy_async.simulator import Simulator, SimulatorConfig

Links = list[tuple[str, str]]  # (rel, target) as the simulator sent them
Spelling = Callable[[Links], list[str]]  # -> the Link header lines to send


def _by_rel(links: Links) -> tuple[str, str]:
    d = dict(links)
    return d["previous"], d["next"]


SPELLINGS: dict[str, Spelling] = {
    "one-line": lambda ls: [", ".join(f'<{t}>; rel="{r}"' for r, t in ls)],
    "lines-previous-first": lambda ls: [f'<{_by_rel(ls)[0]}>; rel="previous"', f'<{_by_rel(ls)[1]}>; rel="next"'],
    "lines-next-first": lambda ls: [f'<{_by_rel(ls)[1]}>; rel="next"', f'<{_by_rel(ls)[0]}>; rel="previous"'],
    "unquoted-rel": lambda ls: [f"<{_by_rel(ls)[0]}>; rel=previous, <{_by_rel(ls)[1]}>; rel=next"],
    "several-rel-types": lambda ls: [
        f'<{_by_rel(ls)[0]}>; rel="prev previous", <{_by_rel(ls)[1]}>; rel="nofollow next"'
    ],
    "param-order": lambda ls: [
        f'<{_by_rel(ls)[0]}>; title="back, one; page"; rel="previous"; type="application/json", '
        f'<{_by_rel(ls)[1]}>; type="application/json"; title="on"; rel="next"'
    ],
    "odd-whitespace": lambda ls: [f'  <{_by_rel(ls)[0]}>\t;rel = "previous" ,,<{_by_rel(ls)[1]}>  ;\trel=next  '],
    "upper-case": lambda ls: [f'<{_by_rel(ls)[0]}>; REL="PREVIOUS"', f'<{_by_rel(ls)[1]}>; Rel="Next"'],
}

_SIM_LINK = re.compile(r'<([^>]*)>; rel="(\w+)"')


class Respeller:
    """A loopback HTTP proxy to the simulator that rewrites ``Link`` in one spelling."""

    def __init__(self, upstream: URL) -> None:
        self.upstream = upstream
        self.spelling: Spelling = SPELLINGS["one-line"]
        self.lines_sent: list[int] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.origin = URL()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        async with self._session.request(
            request.method,
            self.upstream.with_path(request.path).with_query(request.query_string),
            headers=headers,
            data=await request.read(),
        ) as up:
            body = await up.read()
            out = web.Response(body=body, status=up.status)
            for name in ("Content-Type", "X-RateLimit-Limit", "X-RateLimit-Remaining", "EvEnergy-Version"):
                if name in up.headers:
                    out.headers[name] = up.headers[name]
            link = up.headers.get("Link")
            if link is not None:
                links = [(r, t.replace(str(self.upstream), str(self.origin))) for t, r in _SIM_LINK.findall(link)]
                lines = self.spelling(links)
                self.lines_sent.append(len(lines))
                for line in lines:
                    out.headers.add("Link", line)
            return out

    async def __aenter__(self) -> Respeller:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.origin = URL(f"http://127.0.0.1:{self._runner.addresses[0][1]}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=7, users=3, vehicles=9, logs_per_kind=30)


@pytest.fixture
async def proxy(sim: Simulator) -> AsyncIterator[Respeller]:
    async with Respeller(sim.origin) as p:
        yield p


ListOp = Callable[[EvEnergyClient, str, str], Paginator[Any]]

LISTS: dict[str, ListOp] = {
    "vehicles": lambda c, v, m: c.vehicles.list(page_size=1),
    "vehicle_trims": lambda c, v, m: c.vehicle_trims.list(page_size=10),
    "vehicle_models": lambda c, v, m: c.vehicle_models.list(page_size=8),
    "vehicle_makes": lambda c, v, m: c.vehicle_makes.list(page_size=4),
    "status_logs": lambda c, v, m: c.status_logs.list(v, page_size=7),
    "location_logs": lambda c, v, m: c.location_logs.list(v, page_size=7),
    "command_logs": lambda c, v, m: c.command_logs.list(v, page_size=7),
    "error_logs": lambda c, v, m: c.error_logs.list(v, page_size=7),
    "model_connectors": lambda c, v, m: c.vehicle_models.list_connectors(m, page_size=1),
}


async def _collect(client: EvEnergyClient, op: ListOp, vid: str, mid: str) -> tuple[list[Any], int]:
    pages = [p async for p in op(client, vid, mid).pages()]
    return [i for p in pages for i in p.items], len(pages)


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
async def test_every_list_is_complete_in_every_spelling(sim: Simulator, proxy: Respeller, spelling: str) -> None:
    proxy.spelling = SPELLINGS[spelling]
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url) as direct:
        vehicles = [v async for v in direct.vehicles.list()]
        models = [m async for m in direct.vehicle_models.list()]
        vid, mid = vehicles[0].id, models[0].id
        expected = {name: await _collect(direct, op, vid, mid) for name, op in LISTS.items()}
    async with EvEnergyClient(sim.user_token(0), base_url=proxy.origin / "v2") as client:
        for name, op in LISTS.items():
            items, pages = await _collect(client, op, vid, mid)
            assert pages == expected[name][1] and pages >= 2, name
            assert items == expected[name][0], name
    assert proxy.lines_sent and len(set(proxy.lines_sent)) == 1
