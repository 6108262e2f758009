"""The run report: what a harvest delivered, what failed, what is parked for later."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import attrs

from ._types import LogKind

__all__ = ["HarvestReport", "ParkedWork", "TokenReport", "VehicleFailure"]


@attrs.frozen
class VehicleFailure:
    """One partition (or a token's vehicle listing, ``kind=None``) that failed for good this run.

    Its state was not advanced past the last delivered page: the next run retries it.
    """

    token: str
    vehicle_id: str | None
    kind: LogKind | None
    error: str
    """The exception class name (``NotFoundError``, ``ServerError``...)."""
    status: int | None
    message: str
    attempts: int
    credentials_rejected: bool = False
    """The token's credentials were refused (a 401 not cured by a refresh, or the token endpoint
    refusing its refresh token): its other work fails alike until it is authorized again."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "vehicle_id": self.vehicle_id,
            "kind": self.kind.value if self.kind else None,
            "error": self.error,
            "status": self.status,
            "message": self.message,
            "attempts": self.attempts,
            "credentials_rejected": self.credentials_rejected,
        }


@attrs.frozen
class ParkedWork:
    """A token whose budget ran out until ``until``: its unfinished partitions wait for a later run."""

    token: str
    until: datetime
    """When the token's budget allows requests again (UTC)."""
    pending: tuple[tuple[str, LogKind], ...]
    """(vehicle ID, kind) partitions started or queued but not finished."""
    input_exhausted: bool
    """False when vehicles of this token were not even read yet (they are pending too)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "until": self.until.isoformat(),
            "pending": [[vid, kind.value] for vid, kind in self.pending],
            "input_exhausted": self.input_exhausted,
        }


@attrs.define
class TokenReport:
    """Per token (client): its vehicles, requests, records, budget and parking."""

    token: str
    vehicles: int = 0
    partitions: int = 0
    partitions_done: int = 0
    partitions_failed: int = 0
    requests: int = 0
    records: int = 0
    budget_limit: int | None = None
    budget_remaining: int | None = None
    parks: int = 0
    parked_until: datetime | None = None
    abandoned: bool = False
    input_exhausted: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["parked_until"] = self.parked_until.isoformat() if self.parked_until else None
        return data


def _count_dict() -> dict[str, int]:
    return {}


@attrs.define
class HarvestReport:
    """Live while the harvest runs (the CLI's progress display reads it), final afterwards."""

    kinds: tuple[LogKind, ...]
    since: datetime | None
    until: datetime
    started_at: datetime
    finished_at: datetime | None = None
    elapsed: float = 0.0
    records: dict[str, int] = attrs.field(factory=_count_dict)
    """Records delivered (committed) per kind value."""
    batches: int = 0
    commits: int = 0
    overlap_duplicates: int = 0
    """Records of an earlier run's overlap window dropped (already delivered)."""
    boundary_duplicates: int = 0
    """Records repeated at a page boundary (or within a page) dropped."""
    requests: int = 0
    """Page requests the harvester made (listing and logs), including its own retries."""
    http_requests: int = 0
    """HTTP requests the clients sent (their retries and token requests included)."""
    retries: int = 0
    """All retries: the clients' own plus the harvester's page retries."""
    retry_reasons: dict[str, int] = attrs.field(factory=_count_dict)
    partitions_total: int = 0
    partitions_done: int = 0
    partitions_failed: int = 0
    partitions_parked: int = 0
    failures: list[VehicleFailure] = attrs.field(factory=list)
    parked: list[ParkedWork] = attrs.field(factory=list)
    tokens: dict[str, TokenReport] = attrs.field(factory=dict)
    queue_capacity: int = 0
    max_queue_size: int = 0
    """The most batches ever waiting in the output queue (bounded by ``queue_capacity``)."""
    max_buffered_records: int = 0
    """The most records ever fetched but not yet delivered (queue plus fetchers' hands)."""
    cancelled: bool = False

    # -- derived -----------------------------------------------------------------------

    @property
    def records_total(self) -> int:
        return sum(self.records.values())

    @property
    def failed_vehicles(self) -> list[str]:
        return sorted({f.vehicle_id for f in self.failures if f.vehicle_id is not None})

    @property
    def complete(self) -> bool:
        """Everything asked for was delivered: no failure, nothing parked, not cancelled."""
        return not self.failures and not self.parked and not self.cancelled

    @property
    def ok(self) -> bool:
        """No vehicle (or vehicle listing) failed (parked work is not a failure)."""
        return not self.failures

    @property
    def records_per_second(self) -> float:
        return self.records_total / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def requests_per_second(self) -> float:
        return self.http_requests / self.elapsed if self.elapsed > 0 else 0.0

    def count_retry(self, reason: str, n: int = 1) -> None:
        self.retries += n
        self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + n

    # -- output ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": [k.value for k in self.kinds],
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "elapsed": round(self.elapsed, 3),
            "records": dict(self.records),
            "records_total": self.records_total,
            "records_per_second": round(self.records_per_second, 1),
            "requests": self.requests,
            "http_requests": self.http_requests,
            "requests_per_second": round(self.requests_per_second, 1),
            "retries": self.retries,
            "retry_reasons": dict(self.retry_reasons),
            "batches": self.batches,
            "commits": self.commits,
            "overlap_duplicates": self.overlap_duplicates,
            "boundary_duplicates": self.boundary_duplicates,
            "partitions_total": self.partitions_total,
            "partitions_done": self.partitions_done,
            "partitions_failed": self.partitions_failed,
            "partitions_parked": self.partitions_parked,
            "failures": [f.to_dict() for f in self.failures],
            "parked": [p.to_dict() for p in self.parked],
            "tokens": {name: t.to_dict() for name, t in self.tokens.items()},
            "queue_capacity": self.queue_capacity,
            "max_queue_size": self.max_queue_size,
            "max_buffered_records": self.max_buffered_records,
            "cancelled": self.cancelled,
            "complete": self.complete,
        }

    def summary(self) -> str:
        """A human-readable multi-line summary (what the CLI prints at the end)."""
        per_kind = ", ".join(f"{k.value}={self.records.get(k.value, 0)}" for k in self.kinds)
        lines = [
            f"harvest {'complete' if self.complete else 'INCOMPLETE'} in {self.elapsed:.2f}s",
            f"  records:    {self.records_total} ({per_kind})  {self.records_per_second:,.0f} records/s",
            f"  requests:   {self.http_requests} HTTP ({self.requests} pages)"
            f"  {self.requests_per_second:,.0f} requests/s; retries {self.retries}"
            + (f" {dict(sorted(self.retry_reasons.items()))}" if self.retry_reasons else ""),
            f"  partitions: {self.partitions_done}/{self.partitions_total} done, "
            f"{self.partitions_failed} failed, {self.partitions_parked} parked",
            f"  duplicates dropped: {self.overlap_duplicates} overlap, {self.boundary_duplicates} page boundary",
        ]
        shown_tokens = 20  # a fleet has thousands: the JSON report has them all
        for name, tok in itertools.islice(self.tokens.items(), shown_tokens):
            budget = (
                f"{tok.budget_remaining}/{tok.budget_limit}"
                if tok.budget_remaining is not None or tok.budget_limit is not None
                else "unknown"
            )
            parked = f", parked until {tok.parked_until.isoformat()}" if tok.abandoned and tok.parked_until else ""
            lines.append(
                f"  token {name}: {tok.vehicles} vehicles, {tok.records} records, {tok.requests} requests, "
                f"budget {budget}{parked}"
            )
        if len(self.tokens) > shown_tokens:
            lines.append(f"  ... and {len(self.tokens) - shown_tokens} more tokens")
        if self.failures:
            lines.append(f"  FAILED: {len(self.failed_vehicles)} vehicle(s)")
            for failure in self.failures[:20]:
                what = failure.vehicle_id or "(vehicle listing)"
                kind = f" {failure.kind.value}" if failure.kind else ""
                status = f" [{failure.status}]" if failure.status is not None else ""
                lines.append(f"    {failure.token} {what}{kind}: {failure.error}{status}")
            if len(self.failures) > 20:
                lines.append(f"    ... and {len(self.failures) - 20} more")
        for parked_work in self.parked[:shown_tokens]:  # a backfill of a fleet parks thousands
            more = "" if parked_work.input_exhausted else " (+ vehicles not read yet)"
            lines.append(
                f"  PARKED: token {parked_work.token} until {parked_work.until.isoformat()}: "
                f"{len(parked_work.pending)} partition(s) pending{more}; run again after that"
            )
        if len(self.parked) > shown_tokens:
            latest = max(p.until for p in self.parked)
            lines.append(
                f"  ... and {len(self.parked) - shown_tokens} more parked tokens (the last until "
                f"{latest.isoformat()}; the JSON report lists them all)"
            )
        if self.cancelled:
            lines.append("  cancelled: state is consistent; run again to continue")
        return "\n".join(lines)
