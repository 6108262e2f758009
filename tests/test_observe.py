"""Hooks, OpenTelemetry spans and structured logs of the client, against the simulator."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from evenergy_async import (
    EvEnergyClient,
    Harvester,
    Hooks,
    HttpEvent,
    MemorySink,
    NotFoundError,
    RetryPolicy,
)
from evenergy_async.simulator import Simulator

from .conftest import no_sleep

SPEC = Path(__file__).resolve().parent / "spec" / "ev-energy-vehicles-openapi.yaml"  # vendored

ROOT = Path(__file__).resolve().parents[1]


def vid_of(sim: Simulator, user: int = 0) -> str:
    return str(sim.data.vehicles_of(sim.user_id(user))[0]["id"])


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    yield p
    p.shutdown()


def attempt_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


# -- hooks ---------------------------------------------------------------------------------


async def test_hooks_see_every_attempt_with_route_status_and_retry_reason(sim: Simulator) -> None:
    events: list[tuple[str, HttpEvent]] = []
    vid = vid_of(sim)

    async def on_retry(event: HttpEvent) -> None:  # a coroutine hook is awaited
        await asyncio.sleep(0)
        events.append(("retry", event))

    hooks = Hooks(
        on_request=lambda e: events.append(("request", e)),
        on_response=lambda e: events.append(("response", e)),
        on_retry=on_retry,
    )
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, hooks=hooks) as client:
        sim.inject_fault("http_503", path=f"/v2/vehicles/{vid}")
        await client.vehicles.get(vid)
    kinds = [k for k, _ in events]
    assert kinds == ["request", "response", "retry", "request", "response"]
    first, retry, last = events[1][1], events[2][1], events[4][1]
    assert {e.route for _, e in events} == {"/vehicles/{vehicle_id}"}
    assert all(e.method == "GET" and e.url == f"{sim.base_url}/vehicles/{vid}" for _, e in events)
    assert (first.status, first.attempt, last.status, last.attempt) == (503, 1, 200, 2)
    assert retry.retry_reason == "503" and retry.retry_delay is not None and retry.attempt == 1
    assert first.duration is not None and first.duration > 0
    assert events[0][1].status is None and events[0][1].duration is None


async def test_hook_sees_transport_errors_without_status(sim: Simulator) -> None:
    seen: list[HttpEvent] = []
    hooks = Hooks(on_response=seen.append)
    vid = vid_of(sim)
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, hooks=hooks) as client:
        sim.inject_fault("drop_before_response", path=f"/v2/vehicles/{vid}")
        await client.vehicles.get(vid)
    assert seen[0].status is None and seen[0].error is not None
    assert seen[1].status == 200 and seen[1].error is None


async def test_a_raising_hook_does_not_break_the_call_and_is_logged_once(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def broken(event: HttpEvent) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("hook bug")

    async def broken_async(event: HttpEvent) -> None:
        raise ValueError("async hook bug")

    caplog.set_level(logging.WARNING, logger="evenergy_async")
    hooks = Hooks(on_request=broken, on_response=broken_async)
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, hooks=hooks) as client:
        for _ in range(3):
            vehicle = await client.vehicles.get(vid_of(sim))
            assert vehicle.id == vid_of(sim)
    assert calls == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once per hook
    assert {r.hook for r in warnings} == {broken.__qualname__, broken_async.__qualname__}  # type: ignore[attr-defined]
    assert all(r.exc_info is not None for r in warnings)


async def test_routes_are_the_specs_templates(sim: Simulator) -> None:
    """Every route a service sends is a path of the OpenAPI document (no ID in it)."""
    paths: set[tuple[str, str]] = set()  # (method, path) of the vendored OpenAPI document
    path = ""
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        if line.startswith("  /"):
            path = line.strip().rstrip(":")
        elif path and line.rstrip(":").strip() in ("get", "post", "patch", "delete", "put") and line.startswith("    ") and not line.startswith("     "):
            paths.add((line.strip().rstrip(":").upper(), path))
    assert len(paths) == 38
    routes: set[tuple[str, str]] = set()
    hooks = Hooks(on_response=lambda e: routes.add((e.method, str(e.route))))
    vid = vid_of(sim)
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, hooks=hooks) as client:
        await client.vehicles.get(vid)
        await client.vehicles.get_state_of_charge(vid)
        logs = [log async for log in client.status_logs.list(vid, page_size=5)]
        await client.status_logs.get(vid, logs[0].sampled_at)
        models = [m async for m in client.vehicle_models.list(page_size=2)]
        await client.vehicle_models.get(models[0].id)
        connectors = [c async for c in client.vehicle_models.list_connectors(models[0].id)]
        if connectors:
            await client.vehicle_models.get_connector(models[0].id, connectors[0].region)
        with pytest.raises(NotFoundError):
            await client.vehicle_makes.get("vmak00000000000000000000000000")
    assert routes <= paths, routes - paths
    assert ("GET", "/vehicles/{vehicle_id}/status_logs/{sampled_at}") in routes
    assert len(routes) >= 7


async def test_trace_configs_reach_the_session_the_client_creates(sim: Simulator) -> None:
    started: list[str] = []

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(params.method)

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, trace_configs=[config]) as client:
        await client.vehicles.get(vid_of(sim))
    assert started == ["GET"]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="trace_configs"):
            EvEnergyClient(sim.user_token(0), session=session, trace_configs=[config])


async def test_hooks_must_be_a_hooks_object() -> None:
    with pytest.raises(TypeError, match="Hooks"):
        EvEnergyClient("t", hooks=lambda e: None)  # type: ignore[arg-type]


# -- spans -----------------------------------------------------------------------------------


async def test_a_retried_503_is_two_attempt_spans(
    sim: Simulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    vid = vid_of(sim)
    async with EvEnergyClient(
        sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, tracer_provider=provider
    ) as client:
        sim.inject_fault("http_503", path=f"/v2/vehicles/{vid}")
        await client.vehicles.get(vid)
    first, second = attempt_spans(exporter)
    for span in (first, second):
        assert span.name == "GET /vehicles/{vehicle_id}"
        assert span.kind is SpanKind.CLIENT
        attrs = dict(span.attributes or {})
        assert attrs["http.request.method"] == "GET"
        assert attrs["url.full"] == f"{sim.base_url}/vehicles/{vid}"
        assert attrs["server.address"] == "127.0.0.1"
        assert attrs["server.port"] == sim.base_url.port
    a1, a2 = dict(first.attributes or {}), dict(second.attributes or {})
    assert a1["http.response.status_code"] == 503 and a1["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in a1
    assert a2["http.response.status_code"] == 200 and "error.type" not in a2
    assert a2["http.request.resend_count"] == 1
    assert second.status.status_code is StatusCode.UNSET


async def test_client_errors_are_error_spans_and_transport_errors_carry_the_type(
    sim: Simulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    vid = vid_of(sim)
    async with EvEnergyClient(
        sim.user_token(0),
        base_url=sim.base_url,
        sleep=no_sleep,
        tracer_provider=provider,
        retry=RetryPolicy(max_attempts=2),
    ) as client:
        with pytest.raises(NotFoundError):
            await client.vehicles.get("vhcl00000000000000000000000000")
        sim.inject_fault("drop_before_response", path=f"/v2/vehicles/{vid}")
        await client.vehicles.get(vid)
    not_found, dropped, ok = attempt_spans(exporter)
    assert dict(not_found.attributes or {})["error.type"] == "404"
    assert not_found.status.status_code is StatusCode.ERROR
    dropped_attrs = dict(dropped.attributes or {})
    assert dropped_attrs["error.type"].startswith("evenergy_async.")
    assert "http.response.status_code" not in dropped_attrs
    assert dropped.status.status_code is StatusCode.ERROR
    assert dict(ok.attributes or {})["http.request.resend_count"] == 1


async def test_a_paginated_list_is_one_parent_span_over_its_pages(
    sim: Simulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    vid = vid_of(sim)
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, tracer_provider=provider) as client:
        items = [log async for log in client.status_logs.list(vid, page_size=7)]
    spans = exporter.get_finished_spans()
    (parent,) = [s for s in spans if s.kind is SpanKind.INTERNAL]
    children = attempt_spans(exporter)
    assert len(items) == 30
    assert len(children) == 5 == dict(parent.attributes or {})["evenergy.pages"]
    assert parent.name == "paginate /vehicles/{vehicle_id}/status_logs"
    assert dict(parent.attributes or {})["evenergy.items"] == len(items)
    assert parent.context is not None
    for child in children:
        assert child.parent is not None and child.parent.span_id == parent.context.span_id
        assert child.name == "GET /vehicles/{vehicle_id}/status_logs"
        assert dict(child.attributes or {})["url.template"] == "/vehicles/{vehicle_id}/status_logs"


async def test_a_harvester_partition_is_a_parent_span(
    sim: Simulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    vid = vid_of(sim)
    client = EvEnergyClient(sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, tracer_provider=provider)
    harvester = Harvester({"alice": client}, vehicles=[vid], kinds=["status", "command"], page_size=10)
    async with client, harvester:
        report = await harvester.run(MemorySink())
    assert report.partitions_done == 2
    spans = exporter.get_finished_spans()
    partitions = [s for s in spans if s.name == "harvest partition"]
    assert len(partitions) == 2
    by_id = {p.context.span_id: p for p in partitions if p.context is not None}
    for child in attempt_spans(exporter):
        assert child.parent is not None and child.parent.span_id in by_id
    kinds = {dict(p.attributes or {})["evenergy.kind"] for p in partitions}
    assert kinds == {"status", "command"}
    for p in partitions:
        attrs = dict(p.attributes or {})
        assert attrs["evenergy.token"] == "alice" and attrs["evenergy.vehicle_id"] == vid
        assert attrs["evenergy.outcome"] == "done"


def test_the_global_tracer_provider_is_used_by_default() -> None:
    """The usual setup: the application sets the global provider; the client needs no argument."""
    script = textwrap.dedent(
        """
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from evenergy_async import EvEnergyClient
        from tests.spec_oracle import Recorder, validated_simulator

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        async def main():
            rec = Recorder("child")  # this child's exchanges are checked against the document too
            async with validated_simulator(recorder=rec) as sim:
                vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
                async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url) as client:
                    await client.vehicles.get(vid)
            assert not rec.check_pending(), rec.report()
            print(",".join(s.name for s in exporter.get_finished_spans()))

        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "GET /vehicles/{vehicle_id}"


def test_a_provider_set_after_the_client_was_made_is_used_and_none_is_imported_before() -> None:
    """Until the application imports OpenTelemetry, the client imports nothing of it (the
    import would cost its first request about 10 ms); a global provider set later is used."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from evenergy_async import EvEnergyClient
        from tests.spec_oracle import Recorder, validated_simulator

        async def main():
            rec = Recorder("child")
            async with validated_simulator(recorder=rec) as sim:
                vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
                async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url) as client:
                    await client.vehicles.get(vid)
                    print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
                    from opentelemetry import trace
                    from opentelemetry.sdk.trace import TracerProvider
                    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
                    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

                    exporter = InMemorySpanExporter()
                    provider = TracerProvider()
                    provider.add_span_processor(SimpleSpanProcessor(exporter))
                    trace.set_tracer_provider(provider)
                    await client.vehicles.get(vid)
                    print(",".join(s.name for s in exporter.get_finished_spans()))
            assert not rec.check_pending(), rec.report()

        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                         cwd=ROOT)
    assert out.stdout.splitlines() == ["[]", "GET /vehicles/{vehicle_id}"]


def test_importing_the_package_imports_no_optional_integration() -> None:
    script = (
        "import sys, evenergy_async; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('opentelemetry', 'prometheus_client')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_without_opentelemetry_the_client_works_untraced() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
        from evenergy_async import EvEnergyClient
        from tests.spec_oracle import Recorder, validated_simulator

        async def main():
            rec = Recorder("child")  # this child's exchanges are checked against the document too
            async with validated_simulator(recorder=rec) as sim:
                vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
                async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url) as client:
                    assert client._tracing is None  # no spans, nothing imported
                    print((await client.vehicles.get(vid)).id == vid)
            assert not rec.check_pending(), rec.report()
            try:
                EvEnergyClient("t", tracer_provider=object())
            except ValueError as exc:
                print("otel" in str(exc))

        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                         cwd=ROOT)
    assert out.stdout.split() == ["True", "True"]


# -- logs ------------------------------------------------------------------------------------


async def test_log_records_carry_structured_fields(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="evenergy_async")
    vid = vid_of(sim)
    foreign = vid_of(sim, 1)  # another user's vehicle: 404 for this token
    sim.inject_fault("http_503", path=f"/v2/vehicles/{vid}/status_logs")
    client = EvEnergyClient(sim.user_token(0), base_url=sim.base_url, sleep=no_sleep)
    harvester = Harvester({"alice": client}, vehicles=[vid, foreign], kinds=["status"])
    async with client, harvester:
        report = await harvester.run(MemorySink())
    assert report.partitions_done == 1 and report.partitions_failed == 1
    http = [r for r in caplog.records if r.name == "evenergy_async.http"]
    attempts = [r for r in http if r.levelno == logging.DEBUG]
    assert all(r.method == "GET" and r.route == "/vehicles/{vehicle_id}/status_logs" for r in attempts)  # type: ignore[attr-defined]
    assert {(r.vehicle, r.status) for r in attempts} >= {(vid, 503), (vid, 200), (foreign, 404)}  # type: ignore[attr-defined]
    assert all(r.token == "alice" and r.kind == "status" and r.attempt >= 1 for r in attempts)  # type: ignore[attr-defined]
    (retry,) = [r for r in http if r.levelno == logging.INFO]
    assert retry.retry_reason == "503" and retry.vehicle == vid  # type: ignore[attr-defined]
    harvest = [r for r in caplog.records if r.name == "evenergy_async.harvest"]
    (failed,) = [r for r in harvest if r.levelno == logging.WARNING]
    assert failed.vehicle == foreign and failed.status == 404 and failed.outcome == "failed"  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith("harvest finished") for r in harvest)
    assert sim.user_token(0) not in caplog.text
