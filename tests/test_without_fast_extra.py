"""The ``fast`` extra is optional: without orjson and msgspec, the client, the simulator and the
harvester still work (every page takes the general path)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["orjson"] = None  # makes `import orjson` raise ImportError, as if not installed
    sys.modules["msgspec"] = None
    import asyncio
    import json
    import tempfile
    from pathlib import Path
    from evenergy_async import EvEnergyClient, Harvester, JsonlSink, MemorySink, MemoryStateStore, VehicleStatusLog, _sansio
    from evenergy_async._converter import list_body_decoder
    from evenergy_async.simulator import SimulatorConfig
    from tests.spec_oracle import Recorder, validated_simulator

    async def main() -> None:
        assert _sansio._orjson is None
        assert list_body_decoder(VehicleStatusLog) is None
        rec = Recorder("without orjson")  # this child's exchanges are checked against the document too
        async with validated_simulator(SimulatorConfig(vehicles=3, logs_per_kind=120), recorder=rec) as sim:
            async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url) as client:
                vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
                logs = [r async for r in client.status_logs.list(vid)]
                assert len(logs) == 120, len(logs)
                async with Harvester(client) as harvester:
                    report = await harvester.run(MemorySink())
                assert report.ok and sum(report.records.values()) == 3 * 120, report.summary()
                # the JSONL sink's JSON texts, each parsed object serialized once (no C splitter)
                with tempfile.TemporaryDirectory() as out:
                    async with Harvester(client, state=MemoryStateStore()) as harvester:
                        report = await harvester.run(JsonlSink(out))
                    rows = [json.loads(line) for p in Path(out).glob("*.jsonl") for line in p.read_bytes().splitlines()]
                assert report.ok and len(rows) == 3 * 120, (report.summary(), len(rows))
                assert {r["vehicle_id"] for r in rows} == {vid} and all("url" in r for r in rows)
        assert not rec.check_pending(), rec.report()
        assert rec.exchanges > 0
        print("ok without orjson and msgspec")

    asyncio.run(main())
    """
)


def test_everything_works_without_the_fast_extra() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "ok without orjson and msgspec" in proc.stdout
