"""Bulk log harvesting: a concurrency-limited, rate-budget-aware, resumable harvester.

Public names are re-exported from the package root (``from evenergy_async import Harvester``).
"""

from ._credentials import CredentialEntry, CredentialsFile, CredentialsFileError, CredentialsStoreError
from ._harvester import Harvester, VehicleSource, shard_of
from ._planner import HarvestPlan, TokenPlan
from ._report import HarvestReport, ParkedWork, TokenReport, VehicleFailure
from ._sinks import JsonlSink, MemorySink, Sink, SinkError
from ._state import MemoryStateStore, SQLiteStateStore, StateStore
from ._types import DEFAULT_KINDS, HarvestBatch, LogKind, LogRecord, PartitionState

__all__ = [
    "CredentialEntry",
    "CredentialsFile",
    "CredentialsFileError",
    "CredentialsStoreError",
    "DEFAULT_KINDS",
    "HarvestBatch",
    "HarvestPlan",
    "HarvestReport",
    "Harvester",
    "JsonlSink",
    "LogKind",
    "LogRecord",
    "MemorySink",
    "MemoryStateStore",
    "ParkedWork",
    "PartitionState",
    "SQLiteStateStore",
    "Sink",
    "SinkError",
    "StateStore",
    "TokenPlan",
    "TokenReport",
    "VehicleFailure",
    "VehicleSource",
    "shard_of",
]
