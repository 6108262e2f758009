"""Peer 2: peer 1's loop plus hand-written attrs classes decoded with a plain cattrs Converter."""

from __future__ import annotations

import json

import aiohttp
from _common import Job, Tally, main, next_link, run_pool
from _usermodels import LIST_TYPES, converter


async def harvest(job: Job) -> Tally:
    connector = aiohttp.TCPConnector(limit=job.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=job.headers) as session:

        async def one(vid: str, kind: str, tally: Tally) -> None:
            list_type = LIST_TYPES[kind]
            url: str | None = job.first_url(vid, kind)
            while url is not None:
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    body = await resp.read()
                    url = next_link(resp.headers.get("Link"))
                records = converter.structure(json.loads(body), list_type)
                tally.requests += 1
                tally.records += len(records)

        return await run_pool(job.partitions(), job.concurrency, one)


if __name__ == "__main__":
    main(harvest)
