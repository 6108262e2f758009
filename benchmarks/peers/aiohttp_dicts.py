"""Peer 1: a hand-written aiohttp loop returning dicts (the stack's own limit).

``extra.json = "orjson"`` (peer 1o) parses with orjson instead of the stdlib ``json``
(what ``resp.json()`` uses), to separate what orjson alone buys from what a client adds.
"""

from __future__ import annotations

import json

import aiohttp
from _common import Job, Tally, main, next_link, run_pool


async def harvest(job: Job) -> Tally:
    loads = json.loads
    if job.extra.get("json") == "orjson":
        import orjson

        loads = orjson.loads
    connector = aiohttp.TCPConnector(limit=job.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=job.headers) as session:

        async def one(vid: str, kind: str, tally: Tally) -> None:
            url: str | None = job.first_url(vid, kind)
            while url is not None:
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    records = loads(await resp.read())
                    url = next_link(resp.headers.get("Link"))
                tally.requests += 1
                tally.records += len(records)

        return await run_pool(job.partitions(), job.concurrency, one)


if __name__ == "__main__":
    main(harvest)
