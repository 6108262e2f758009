"""Where the vehicle IDs come from: given lists, files and async iterables, or the API's listing; sharding."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from ._fetcher import Fetcher, Lane

__all__ = ["VehicleSource", "shard_of"]

VehicleSource: TypeAlias = Iterable[str] | AsyncIterable[str]
"""Vehicle IDs: a list (or any iterable), or an async iterable read lazily."""

LIST_PAGE_SIZE = 100


def shard_of(vehicle_id: str, shards: int) -> int:
    """The shard (``0 <= s < shards``) a vehicle belongs to: a stable hash, same on every machine."""
    digest = hashlib.blake2b(vehicle_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def sources_by_label(
    labels: Iterable[str], vehicles: VehicleSource | Mapping[str, VehicleSource] | None
) -> dict[str, VehicleSource | None]:
    """Each token label's vehicle source (None: list the token's vehicles), validated."""
    names = list(labels)
    if vehicles is None:
        return dict.fromkeys(names)
    if isinstance(vehicles, Mapping):
        unknown = set(vehicles) - set(names)
        if unknown:
            raise ValueError(f"vehicles given for unknown client labels: {sorted(unknown)}")
        return {label: vehicles.get(label, ()) for label in names}
    if isinstance(vehicles, str):
        raise TypeError("vehicles must be an iterable of IDs, not a string")
    if len(names) > 1:
        raise ValueError("with several clients, give vehicles as a mapping label -> vehicle IDs")
    return {label: vehicles for label in names}


async def source_ids(
    source: VehicleSource | None, listing: AsyncIterable[str], shard: tuple[int, int] | None
) -> AsyncIterator[str]:
    """The IDs of ``source`` (``listing`` when None), read lazily, those of ``shard`` only."""
    async for vid in _raw_ids(source, listing):
        if shard is None or shard_of(vid, shard[1]) == shard[0]:
            yield vid


async def _raw_ids(source: VehicleSource | None, listing: AsyncIterable[str]) -> AsyncIterator[str]:
    if source is None:
        async for vid in listing:
            yield vid
    elif isinstance(source, AsyncIterable):
        async for vid in source:
            yield str(vid)
    else:
        for vid in source:
            yield str(vid)


async def list_vehicles(fetcher: Fetcher, lane: Lane) -> AsyncIterator[str]:
    """The IDs of every vehicle the lane's token can list, page by page through the fetcher.

    Raises what :meth:`Fetcher.fetch` raises (``FetchFailed``, ``Parked``).
    """
    paginator = lane.client.vehicles.list(page_size=LIST_PAGE_SIZE)
    url = None
    while True:
        page, url = await fetcher.fetch(lane, paginator, url)
        for vehicle in page.items:
            yield vehicle.id
        if url is None:
            return


class Listing:
    """The API's vehicle listing of one lane, a page at a time, without waiting for the budget.

    :meth:`next_page` raises what ``Fetcher.fetch(wait=False)`` raises (``NotReady``: the
    listing is where it was, ask again later; ``Parked``; ``FetchFailed``).
    """

    __slots__ = ("_paginator", "_url", "done")

    def __init__(self, lane: Lane) -> None:
        self._paginator = lane.client.vehicles.list(page_size=LIST_PAGE_SIZE)
        self._url: str | None = None
        self.done = False

    async def next_page(self, fetcher: Fetcher, lane: Lane) -> list[str]:
        page, url = await fetcher.fetch(lane, self._paginator, self._url, wait=False)
        self._url = url
        self.done = url is None
        return [vehicle.id for vehicle in page.items]
