"""Prometheus series for a harvest (the ``prometheus`` extra: ``prometheus-client``, imported lazily).

``HarvestMetrics`` owns a registry with these series (no token label on any of them: a fleet
of 10,000 tokens must not mean 10,000 series)::

    evenergy_harvest_records_total{kind}                 records delivered to the sink
    evenergy_http_requests_total{status}                 HTTP attempts by status code, or "error"
    evenergy_http_retries_total{reason}                  retries by reason (client's and harvester's)
    evenergy_harvest_partitions{state}                   done / failed / parked / pending
    evenergy_ratelimit_remaining                         lowest known remaining budget over tokens
    evenergy_sink_commit_seconds                         histogram of sink commits (fsync)
    evenergy_harvest_last_success_timestamp_seconds      end of the last run that completed

Feed it with ``hooks`` (pass them to the clients), ``wrap_sink`` (times commits) and
``update(harvester.progress())``; ``succeeded()`` at the end of a complete run. Expose it with
``serve(port)`` or ``write_textfile(path)`` (atomic: node_exporter's textfile collector).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ._observe import Hooks, HttpEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._harvest import HarvestBatch, HarvestReport, PartitionState, Sink, StateStore

__all__ = ["HarvestMetrics"]

INSTALL_HINT = "pip install 'evenergy_async[prometheus]'"
PARTITION_STATES = ("done", "failed", "parked", "pending")
#: the reasons the client's retry policy gives (the harvester adds its own, e.g. ``harvester:503``)
KNOWN_RETRY_REASONS = ("429", "502", "503", "504", "ConnectError", "RequestTimeoutError", "ResponseLostError")
LAST_SUCCESS = "evenergy_harvest_last_success_timestamp_seconds"


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(f"Prometheus metrics need prometheus-client: {INSTALL_HINT}") from exc
    return prometheus_client


class HarvestMetrics:
    """The harvest's Prometheus series, in their own registry (``registry=`` to use yours).

    Raises ``ImportError`` naming the extra to install when prometheus-client is missing.
    """

    def __init__(self, registry: Any = None) -> None:
        pc = _prometheus()
        self._pc = pc
        self.registry = registry if registry is not None else pc.CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records = pc.Counter("evenergy_harvest_records", "Records delivered to the sink.", ["kind"], registry=r)
        self.http_requests = pc.Counter(
            "evenergy_http_requests", "HTTP attempts by status code ('error': no response).", ["status"], registry=r
        )
        self.http_retries = pc.Counter("evenergy_http_retries", "Retries by reason.", ["reason"], registry=r)
        self.partitions = pc.Gauge(
            "evenergy_harvest_partitions", "Partitions (vehicle x kind) of the run by state.", ["state"], registry=r
        )
        self.ratelimit_remaining = pc.Gauge(
            "evenergy_ratelimit_remaining",
            "Lowest known X-RateLimit-Remaining over the tokens (NaN until one is known).",
            registry=r,
        )
        self.sink_commit = pc.Histogram(
            "evenergy_sink_commit_seconds", "Seconds per sink commit (written and made durable).", registry=r
        )
        self.last_success = pc.Gauge(
            LAST_SUCCESS, "Unix time at the end of the last harvest run that completed.", registry=r
        )
        self.ratelimit_remaining.set(float("nan"))
        for state in PARTITION_STATES:
            self.partitions.labels(state).set(0)
        self.http_requests.labels("error")  # present from the start (0), like every status will be
        for reason in KNOWN_RETRY_REASONS:  # Prometheus practice: known label values start at 0
            self.http_retries.labels(reason)
        self._seen_records: dict[str, int] = {}
        self._seen_retries: dict[str, int] = {}
        self.hooks = Hooks(on_response=self._on_response)
        """Pass to every client: ``EvEnergyClient(..., hooks=metrics.hooks)``."""

    def _on_response(self, event: HttpEvent) -> None:
        self.http_requests.labels(str(event.status) if event.status is not None else "error").inc()

    def update(self, report: HarvestReport) -> None:
        """Bring the series up to date with a harvester's live report (``harvester.progress()``)."""
        for kind in report.kinds:
            self.records.labels(kind.value)  # every harvested kind is a series, 0 included
        _add_deltas(self.records, report.records, self._seen_records)
        _add_deltas(self.http_retries, report.retry_reasons, self._seen_retries)
        parked = report.partitions_parked  # known at the end of the run (work left for the next one)
        done, failed = report.partitions_done, report.partitions_failed
        pending = max(0, report.partitions_total - done - failed - parked)
        for state, value in zip(PARTITION_STATES, (done, failed, parked, pending), strict=True):
            self.partitions.labels(state).set(value)
        remaining = [t.budget_remaining for t in report.tokens.values() if t.budget_remaining is not None]
        self.ratelimit_remaining.set(min(remaining) if remaining else float("nan"))

    def succeeded(self, at: float | None = None) -> None:
        """The run completed (no failure, nothing parked): the last-success timestamp is now."""
        self.last_success.set(time.time() if at is None else at)

    def wrap_sink(self, sink: Sink) -> Sink:
        """``sink`` with its commits timed into ``evenergy_sink_commit_seconds``."""
        return _TimedSink(sink, self.sink_commit)

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        """Serve ``/metrics`` on ``addr:port`` from a thread; returns the server (``.shutdown()``)."""
        server, thread = self._pc.start_http_server(port, addr=addr, registry=self.registry)
        return _Server(server, thread)

    def write_textfile(self, path: str | os.PathLike[str]) -> None:
        """Write every series to ``path`` atomically (a temporary file, then a rename)."""
        self._pc.write_to_textfile(os.fspath(path), self.registry)

    def load_last_success(self, path: str | os.PathLike[str]) -> None:
        """Carry the last-success timestamp over from an earlier run's textfile, if there is one."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return
        from prometheus_client.parser import text_string_to_metric_families

        try:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == LAST_SUCCESS and sample.value > 0:
                        self.last_success.set(sample.value)
        except ValueError:
            return  # not a metrics file: it will be replaced


def _add_deltas(counter: Any, totals: dict[str, int], seen: dict[str, int]) -> None:
    for label, total in totals.items():
        delta = total - seen.get(label, 0)
        if delta > 0:
            counter.labels(label).inc(delta)
            seen[label] = total


class _Server:
    def __init__(self, server: Any, thread: Any) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_port

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _TimedSink:
    """A sink whose ``commit`` is timed; everything else is the wrapped sink's."""

    def __init__(self, sink: Sink, histogram: Any) -> None:
        self._sink = sink
        self._histogram = histogram

    @property
    def sink_id(self) -> str:
        return self._sink.sink_id

    @property
    def record_format(self) -> str:
        """The wrapped sink's declaration (wire records stay wire under ``--metrics-*``)."""
        return str(getattr(self._sink, "record_format", "typed"))

    async def recover(self, checkpoint: str | None) -> None:
        await self._sink.recover(checkpoint)

    async def write(self, batch: HarvestBatch) -> None:
        await self._sink.write(batch)

    async def commit(self) -> str | None:
        t0 = time.perf_counter()
        try:
            return await self._sink.commit()
        finally:
            self._histogram.observe(time.perf_counter() - t0)

    def shares_transaction(self, state: StateStore) -> bool:
        """The wrapped sink's answer (a :class:`TransactionalSink` keeps its one transaction)."""
        shares = getattr(self._sink, "shares_transaction", None)
        return bool(shares(state)) if shares is not None else False

    async def commit_with_state(self, batches: Sequence[HarvestBatch], states: Sequence[PartitionState]) -> None:
        t0 = time.perf_counter()
        try:
            await self._sink.commit_with_state(batches, states)  # type: ignore[attr-defined]
        finally:
            self._histogram.observe(time.perf_counter() - t0)

    async def close(self) -> None:
        await self._sink.close()
