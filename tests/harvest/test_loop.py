"""A server whose next links cycle: the harvester reports the partition, it does not spin."""

from __future__ import annotations

import asyncio

from aiohttp import web

from evenergy_async import EvEnergyClient, Harvester, LogKind, MemorySink

from ..scripted import ScriptedServer
from .conftest import no_sleep

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
PATH = f"/v2/vehicles/{VID}/status_logs"


async def test_cycling_next_links_fail_the_partition_instead_of_hanging() -> None:
    async with ScriptedServer() as server:
        base = str(server.base_url / "vehicles" / VID / "status_logs")

        def cycle(request: web.Request) -> web.StreamResponse:
            cursor = request.query.get("page_after", "start")
            second = int(cursor[17:19]) if cursor != "start" else 9
            ts = f"2026-11-01T00:00:{second:02d}.000000Z"
            nxt = {"start": "2026-11-01T00:00:08.000000Z", "2026-11-01T00:00:08.000000Z": "2026-11-01T00:00:07.000000Z"}
            target = nxt.get(cursor, "2026-11-01T00:00:08.000000Z")  # 07 links back to 08: a cycle
            record = {"url": f"{base}/{ts}", "sampled_at": ts}
            return web.json_response(
                [record], headers={"Link": f'<{base}?page_size=100&page_after={target}>; rel="next"'}
            )

        server.always(PATH, cycle)
        client = EvEnergyClient("tok", base_url=server.base_url, sleep=no_sleep)
        harvester = Harvester(client, vehicles=[VID], kinds=(LogKind.STATUS,), sleep=no_sleep)
        async with client, harvester, asyncio.timeout(10):
            report = await harvester.run(MemorySink())
        assert [(f.vehicle_id, f.error) for f in report.failures] == [(VID, "PaginationError")]
        assert server.count(PATH) < 10
