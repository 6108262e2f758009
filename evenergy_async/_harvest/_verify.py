"""Checking a harvest's JSONL output against a simulator's data (the demo's self-check)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .._converter import parse_timestamp
from ._types import LogKind, record_key, to_micros

__all__: list[str] = []  # private


def dict_record_key(row: dict[str, Any], kind: LogKind) -> str:
    """:func:`record_key` for a JSONL line (a record in wire form plus ``vehicle_id``): the key
    the harvester gave the record, whichever form it was written in."""
    return record_key({k: v for k, v in row.items() if k != "vehicle_id"}, kind)


def jsonl_rows(path: str) -> Iterator[dict[str, Any]]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            yield json.loads(line)


def harvested_keys(path: str, kind: LogKind) -> list[tuple[str, str]]:
    """(vehicle ID, record key) of every line of a JSONL output file, in file order."""
    return [(str(row.get("vehicle_id")), dict_record_key(row, kind)) for row in jsonl_rows(path)]


def expected_keys(sim: Any, kind: LogKind) -> set[tuple[str, str]]:
    """(vehicle ID, record key) of every log of ``kind`` the simulator holds."""
    keys: set[tuple[str, str]] = sim.data.all_log_keys(kind.value)
    return {(vid, f"t:{to_micros(parse_timestamp(ts))}") for vid, ts in keys}
