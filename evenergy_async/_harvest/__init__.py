"""Bulk log harvesting: a concurrency-limited, rate-budget-aware, resumable harvester.

Public names are re-exported from the package root (``from evenergy_async import Harvester``).
"""

from ._credentials import (
    CredentialEntry,
    CredentialsFile,
    CredentialsFileError,
    CredentialsInUseError,
    CredentialsStoreError,
    append_credentials,
)
from ._harvester import Harvester, VehicleSource, shard_of
from ._planner import HarvestPlan, TokenPlan
from ._postgres import DatabaseError, PostgresSink, PostgresStateStore
from ._report import HarvestReport, ParkedWork, TokenReport, VehicleFailure
from ._sinks import JsonlSink, MemorySink, Sink, SinkError, TransactionalSink
from ._state import MemoryStateStore, SQLiteStateStore, StateStore
from ._types import DEFAULT_KINDS, HarvestBatch, LogKind, LogRecord, PartitionState

__all__ = [
    "CredentialEntry",
    "CredentialsFile",
    "CredentialsFileError",
    "CredentialsInUseError",
    "CredentialsStoreError",
    "DEFAULT_KINDS",
    "DatabaseError",
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
    "PostgresSink",
    "PostgresStateStore",
    "SQLiteStateStore",
    "Sink",
    "SinkError",
    "StateStore",
    "TokenPlan",
    "TokenReport",
    "TransactionalSink",
    "VehicleFailure",
    "VehicleSource",
    "append_credentials",
    "shard_of",
]
