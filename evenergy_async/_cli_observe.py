"""The CLI's observability: ``--log-format json``, ``--log-level``, ``--metrics-port`` and
``--metrics-textfile``, wired in by ``_cli`` through :func:`add_arguments`, :func:`observing`,
``client_kwargs`` and ``harvesting``.

JSON logs: one object a line on stderr, with ``time``, ``level``, ``logger``, ``message``,
``run_id`` and the record's structured fields (method, route, status, attempt, token, vehicle,
kind...); the progress display is off then (stderr carries only the log lines).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ._harvest import Harvester, Sink
    from ._metrics import HarvestMetrics

__all__: list[str] = []  # private

LOGGER = "evenergy_async"
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("observability")
    g.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        dest="log_format",
        help="'json': one JSON object a line on stderr (run id, level, message, fields); turns the progress display off",
    )
    g.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        dest="log_level",
        help="level of the evenergy_async loggers (default ERROR: the report already lists failed and parked work; INFO with --log-format json)",
    )
    g.add_argument(
        "--metrics-port",
        type=port_number,
        dest="metrics_port",
        metavar="PORT",
        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics during the run (extra: prometheus)",
    )
    g.add_argument(
        "--metrics-textfile",
        dest="metrics_textfile",
        metavar="PATH",
        help="write Prometheus metrics to PATH (e.g. for node_exporter's textfile collector: *.prom), "
        "atomically, every --metrics-interval seconds and at the end (extra: prometheus)",
    )
    g.add_argument(
        "--metrics-interval",
        type=_interval,
        default=15.0,
        dest="metrics_interval",
        metavar="SECONDS",
        help="seconds between textfile writes during the run (default 15)",
    )


def port_number(value: str) -> int:
    """An argparse type: a TCP port, 0..65535 (also the simulator's ``--port``)."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, got {port}")
    return port


def _interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return seconds


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, run_id and the ``extra`` fields."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": self.run_id,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class CliObservability:
    """What the flags asked for: the log handler, the metrics, and how to wire them."""

    def __init__(self, args: argparse.Namespace, stream: TextIO | None = None) -> None:
        self.run_id = uuid.uuid4().hex
        self.json_logs = getattr(args, "log_format", "text") == "json"
        self.port: int | None = getattr(args, "metrics_port", None)
        self.textfile: str | None = getattr(args, "metrics_textfile", None)
        self.interval: float = getattr(args, "metrics_interval", 15.0)
        self.metrics: HarvestMetrics | None = None
        if self.port is not None or self.textfile is not None:
            self.metrics = _make_metrics()
            if self.textfile is not None:
                self.metrics.load_last_success(self.textfile)
        # text: the summary lists failed partitions and parked tokens; their WARNING lines would say
        # it twice on stderr, where a failed run must end in one clear line
        level = getattr(args, "log_level", None) or ("INFO" if self.json_logs else "ERROR")
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        if self.json_logs:
            handler.setFormatter(JsonFormatter(self.run_id))
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._handler = handler
        self._level = logging.getLevelName(level)

    @property
    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for every ``EvEnergyClient`` the command creates."""
        return {"hooks": self.metrics.hooks} if self.metrics is not None else {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[CliObservability]:
        logger = logging.getLogger(LOGGER)
        old_level = logger.level
        logger.addHandler(self._handler)
        logger.setLevel(self._level)
        try:
            yield self
        finally:
            logger.removeHandler(self._handler)
            logger.setLevel(old_level)

    @contextlib.asynccontextmanager
    async def harvesting(self, harvester: Harvester, sink: Sink) -> AsyncIterator[Sink]:
        """Around ``harvester.run(sink)``: serve and write the metrics; yields the sink to use."""
        metrics = self.metrics
        if metrics is None:
            yield sink
            return
        server = None
        if self.port is not None:
            try:
                server = metrics.serve(self.port)
            except OSError as exc:
                from ._cli import UsageError

                raise UsageError(f"--metrics-port {self.port}: {exc.strerror or exc}") from None
        if self.textfile is not None:
            # a path that cannot be written is a usage error before any work, not a surprise at the end
            try:
                await asyncio.to_thread(metrics.write_textfile, self.textfile)
            except OSError as exc:
                if server is not None:
                    await asyncio.to_thread(server.shutdown)
                from ._cli import UsageError

                raise UsageError(f"--metrics-textfile {self.textfile}: {exc.strerror or exc}") from None
        task = asyncio.create_task(self._refresh(harvester, metrics), name="evenergy-metrics")
        try:
            yield metrics.wrap_sink(sink)
        finally:
            task.cancel()
            await asyncio.wait([task])
            report = harvester.progress()
            metrics.update(report)
            finished = report.finished_at is not None
            if finished and not (report.failures or report.parked or report.cancelled):
                metrics.succeeded()
            if self.textfile is not None:
                await self._write_textfile(metrics)
            if server is not None:
                await asyncio.to_thread(server.shutdown)

    async def _write_textfile(self, metrics: HarvestMetrics) -> None:
        """Write the textfile; a failure during the run (the disk filled up, the directory went
        away) is logged, and the harvest's outcome and exit code stay the harvest's own."""
        assert self.textfile is not None
        try:
            await asyncio.to_thread(metrics.write_textfile, self.textfile)
        except OSError as exc:
            logging.getLogger(LOGGER).error(
                "metrics textfile %s not written: %s", self.textfile, exc.strerror or type(exc).__name__
            )

    async def _refresh(self, harvester: Harvester, metrics: HarvestMetrics) -> None:
        written = time.monotonic()
        while True:
            await asyncio.sleep(1.0 if self.port is not None else min(1.0, self.interval))
            metrics.update(harvester.progress())
            if self.textfile is not None and time.monotonic() - written >= self.interval:
                await self._write_textfile(metrics)
                written = time.monotonic()


def _make_metrics() -> HarvestMetrics:
    from ._metrics import HarvestMetrics

    try:
        return HarvestMetrics()
    except ImportError:
        from ._cli import UsageError
        from ._metrics import INSTALL_HINT

        raise UsageError(f"--metrics-port/--metrics-textfile need prometheus-client: {INSTALL_HINT}") from None


@contextlib.contextmanager
def observing(args: argparse.Namespace) -> Iterator[CliObservability]:
    """Set up what the flags ask for (a ``UsageError`` if an extra is missing), for the command's run.

    With JSON logs the progress display is switched off (``args.quiet``)."""
    obs = CliObservability(args)
    if obs.json_logs:
        args.quiet = True
    args.observe = obs
    with obs.installed():
        yield obs


def of(args: argparse.Namespace) -> CliObservability:
    """The command's observability (set by :func:`observing`; a default one otherwise)."""
    obs = getattr(args, "observe", None)
    return obs if isinstance(obs, CliObservability) else CliObservability(argparse.Namespace())
