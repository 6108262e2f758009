"""Peer 4: the client openapi-python-client generates from the spec, with its generated models.

``run.py`` generates it into a temporary directory and passes that directory in the job
(``extra.generated_path``). Each page is fetched with the generated ``asyncio_detailed``
function (the only way to see the ``Link`` header); the next page's cursor is the
``page_after`` of the ``rel="next"`` URL, passed back to the generated function.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from _common import Job, Tally, main, next_link, run_pool

OPERATIONS = {
    "status": "get_vehicles_vehicle_id_status_logs",
    "location": "get_vehicles_vehicle_id_location_logs",
    "command": "get_vehicles_vehicle_id_command_logs",
}


_loaded: dict[str, Any] = {}


def load(job: Job) -> None:
    sys.path.insert(0, job.extra["generated_path"])
    package = job.extra.get("generated_package", "evgen")
    _loaded["client"] = importlib.import_module(f"{package}.client")
    _loaded["ops"] = {
        kind: importlib.import_module(f"{package}.api.vehicles.{name}") for kind, name in OPERATIONS.items()
    }


async def harvest(job: Job) -> Tally:
    client_mod, ops = _loaded["client"], _loaded["ops"]
    limits = httpx.Limits(max_connections=job.concurrency, max_keepalive_connections=job.concurrency)
    client = client_mod.AuthenticatedClient(
        base_url=job.base_url, token=job.token, httpx_args={"limits": limits}, timeout=httpx.Timeout(30.0)
    )
    async with client:

        async def one(vid: str, kind: str, tally: Tally) -> None:
            fetch = ops[kind].asyncio_detailed
            cursor: str | None = None
            while True:
                if cursor is None:
                    resp = await fetch(vid, client=client, page_size=job.page_size)
                else:
                    resp = await fetch(vid, client=client, page_size=job.page_size, page_after=cursor)
                if resp.status_code != 200 or not isinstance(resp.parsed, list):
                    raise RuntimeError(f"{kind} {vid}: HTTP {int(resp.status_code)} {resp.content[:200]!r}")
                tally.requests += 1
                tally.records += len(resp.parsed)
                nxt = next_link(resp.headers.get("Link"))
                if nxt is None:
                    return
                cursor = parse_qs(urlsplit(nxt).query)["page_after"][0]

        return await run_pool(job.partitions(), job.concurrency, one)


if __name__ == "__main__":
    main(harvest, setup=load)
