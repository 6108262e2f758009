"""Reading partition states: a token's next partitions are read from the store in one trip
(``load_many``), with the same answers ``load`` gives one by one; a store without
``load_many`` is still read one partition at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from evenergy_async._harvest import (
    Harvester,
    LogKind,
    MemorySink,
    MemoryStateStore,
    PartitionState,
    StateStore,
)
from evenergy_async.simulator import Simulator

from .conftest import Target, make_client, vehicles_of

T1 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _state(vid: str, kind: LogKind, token: str, records: int) -> PartitionState:
    return PartitionState(token=token, vehicle_id=vid, kind=kind, watermark=1_700_000_000_000_000 + records,
                          tail_keys=(f"t:{records}",), records=records, passes=1)


async def _check_load_many(store: Any) -> None:
    saved = [
        _state("vhcl-a", LogKind.STATUS, "one", 3),
        _state("vhcl-a", LogKind.COMMAND, "two", 5),
        _state("vhcl-b", LogKind.STATUS, "one", 7),
    ]
    await store.commit(saved)
    asked = [
        ("vhcl-a", LogKind.STATUS),
        ("vhcl-a", LogKind.LOCATION),  # never committed
        ("vhcl-b", LogKind.STATUS),
        ("vhcl-c", LogKind.COMMAND),  # an unknown vehicle
    ]
    got = await store.load_many(asked)
    assert got == {s.key: s for s in saved if (s.vehicle_id, s.kind) in asked}
    for vid, kind in asked:  # what load says, one by one
        assert got.get((vid, kind.value)) == await store.load(vid, kind)
    assert await store.load_many([]) == {}


async def test_load_many_answers_as_load_does(target: Target) -> None:
    """SQLite (the JSONL target's state) and PostgreSQL."""
    async with target.state_store() as store:
        await _check_load_many(store)


async def test_load_many_of_the_memory_store() -> None:
    await _check_load_many(MemoryStateStore())


class Counting:
    """A state store that counts how it is read (``many``: whether it offers ``load_many``)."""

    def __init__(self, inner: MemoryStateStore, *, many: bool) -> None:
        self.inner = inner
        self.loads = 0
        self.batches: list[int] = []
        if many:
            self.load_many = self._load_many

    async def load(self, vehicle_id: str, kind: LogKind) -> PartitionState | None:
        self.loads += 1
        return await self.inner.load(vehicle_id, kind)

    async def _load_many(self, keys: Sequence[tuple[str, LogKind]]) -> dict[tuple[str, str], PartitionState]:
        self.batches.append(len(keys))
        return await self.inner.load_many(keys)

    async def commit(self, states: Sequence[PartitionState], *, sink_id: str | None = None,
                     checkpoint: str | None = None) -> None:
        await self.inner.commit(states, sink_id=sink_id, checkpoint=checkpoint)

    async def sink_checkpoint(self, sink_id: str) -> str | None:
        return await self.inner.sink_checkpoint(sink_id)

    async def partitions(self) -> list[PartitionState]:
        return await self.inner.partitions()


async def _harvest(sim: Simulator, store: StateStore, user: int, vids: list[str]) -> Any:
    async with make_client(sim, user) as client, Harvester(
        client, vehicles=vids, kinds="status,command", state=store, per_token_concurrency=3, now=lambda: T1,
    ) as h:
        return await h.run(MemorySink())


async def test_a_tokens_partitions_are_read_a_batch_at_a_time(sim: Simulator) -> None:
    vids = vehicles_of(sim, 0)
    store = Counting(MemoryStateStore(), many=True)
    assert isinstance(store, StateStore)
    report = await _harvest(sim, store, 0, vids)
    assert report.complete and report.partitions_done == 2 * len(vids)
    assert store.loads == 0
    assert sum(store.batches) == 2 * len(vids)  # every partition read once, with its token's next ones
    assert max(store.batches) == 2 * 3  # per_token_concurrency vehicles x 2 kinds at a time
    # a second run reads what the first committed, in batches too, and has nothing new
    again = await _harvest(sim, store, 0, vids)
    assert again.complete and again.records_total == 0
    assert store.loads == 0 and sum(store.batches) == 4 * len(vids)


async def test_a_store_without_load_many_is_read_one_partition_at_a_time(sim: Simulator) -> None:
    vids = vehicles_of(sim, 0)
    store = Counting(MemoryStateStore(), many=False)
    first = await _harvest(sim, store, 0, vids)
    again = await _harvest(sim, store, 0, vids)
    assert first.complete and again.complete and again.records_total == 0
    assert store.loads == 4 * len(vids) and store.batches == []
