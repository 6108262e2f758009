"""Decode micro-benchmark: per-item cost of the models alone, over one large page.

    python benchmarks/decode.py [--items 1000] [--repeat 7] [--json] [--generated DIR]

For each log kind, one page of ``--items`` records from the simulator's data generator
(realistic values and nulls) is serialized once; then, in ns per item (median of
``--repeat`` repeats):

* ``json.loads`` and ``orjson.loads`` of the page bytes (the floor);
* ``fromisoformat`` of the record's timestamps alone (the datetime share);
* ``evenergy structure_list``: evenergy_async's converter on the parsed page;
* ``plain cattrs``: the hand-written attrs classes of peer 2 with a plain ``cattrs.Converter``;
* ``generated from_dict``: openapi-python-client's models (only with ``--generated DIR``);
* ``evenergy fast extra: bytes -> models``: what the client does with the ``fast`` extra
  installed (``list_body_decoder``: msgspec decodes the page *bytes* into the same models, and
  the checks that keep the converter's exact result), parsing included: compare it with
  ``orjson.loads`` + ``evenergy structure_list``. Only when msgspec is installed; a kind whose
  result differs from ``structure_list``'s on this page (a bug) stops the script.

A converter regression shows up as a jump in the evenergy row.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from _usermodels import LIST_TYPES
from _usermodels import converter as plain_converter

import evenergy_async as ev
from evenergy_async._converter import list_body_decoder
from evenergy_async.simulator import Simulator, SimulatorConfig

try:
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

try:
    import msgspec
except ImportError:  # pragma: no cover - an optional column
    msgspec = None

KINDS = ("status", "location", "command")
EV_MODELS = {"status": ev.VehicleStatusLog, "location": ev.VehicleLocationLog, "command": ev.VehicleCommandLog}
GEN_MODELS = {
    "status": ("vehicle_status_log", "VehicleStatusLog"),
    "location": ("vehicle_location_log", "VehicleLocationLog"),
    "command": ("vehicle_command_log", "VehicleCommandLog"),
}
TS_FIELDS = ("logged_at", "sampled_at")


def page_of(kind: str, items: int) -> list[dict[str, Any]]:
    sim = Simulator(SimulatorConfig(seed=7, users=1, vehicles=1, logs_per_kind={kind: items}))
    vid = sim.data.vehicles[0]["id"]
    return sim.data.logs(kind, vid)


def ns_per_item(fn: Callable[[], object], items: int, repeat: int, budget: float = 0.05) -> float:
    fn()  # warm up (and let lazy hooks compile)
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    number = max(1, int(budget / once))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples) / items * 1e9


def bench(items: int, repeat: int, generated: str | None) -> dict[str, dict[str, float]]:
    gen_models: dict[str, Any] = {}
    if generated:
        sys.path.insert(0, generated)
        for kind, (mod, name) in GEN_MODELS.items():
            gen_models[kind] = getattr(importlib.import_module(f"evgen.models.{mod}"), name)
    return {kind: bench_kind(kind, items, repeat, gen_models.get(kind)) for kind in KINDS}


def bench_kind(kind: str, items: int, repeat: int, gen_model: Any) -> dict[str, float]:
    records = page_of(kind, items)
    body = json.dumps(records).encode()
    data = json.loads(body)
    cls, list_type = EV_MODELS[kind], LIST_TYPES[kind]
    # sanity: every decoder decodes every record
    assert len(ev.structure_list(data, cls)) == items
    assert len(plain_converter.structure(data, list_type)) == items
    ts = [r[f] for r in data for f in TS_FIELDS if isinstance(r.get(f), str)]
    row = {
        "bytes_per_item": len(body) / items,
        "json.loads": ns_per_item(lambda: json.loads(body), items, repeat),
    }
    if orjson is not None:
        row["orjson.loads"] = ns_per_item(lambda: orjson.loads(body), items, repeat)
    row["fromisoformat (timestamps only)"] = ns_per_item(lambda: [datetime.fromisoformat(s) for s in ts], items, repeat)
    row["evenergy structure_list"] = ns_per_item(lambda: ev.structure_list(data, cls), items, repeat)
    row["plain cattrs structure"] = ns_per_item(lambda: plain_converter.structure(data, list_type), items, repeat)
    if gen_model is not None:
        from_dict = gen_model.from_dict
        row["generated from_dict"] = ns_per_item(lambda: [from_dict(r) for r in data], items, repeat)
    fast = list_body_decoder(cls) if msgspec is not None else None
    if fast is not None:
        page = fast.decode(body)
        if page is None or repr(page.items) != repr(ev.structure_list(data, cls)):
            raise SystemExit(f"the fast extra's decoder declined or differs on the {cls.__name__} page")
        row["evenergy fast extra: bytes -> models"] = ns_per_item(lambda: fast.decode(body), items, repeat)
    return row


def markdown(results: dict[str, dict[str, float]], items: int) -> str:
    # every row's columns, in first-seen order (a kind may lack one: "-")
    columns = [c for c in dict.fromkeys(c for row in results.values() for c in row) if c != "bytes_per_item"]
    lines = [
        f"Decode cost per item, ns (median of repeats, one page of {items} records; structure rows exclude JSON parsing)",
        "",
        "| kind | bytes/item | " + " | ".join(columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for kind, row in results.items():
        cells = [f"{row[c]:,.0f}" if c in row else "-" for c in columns]
        lines.append(f"| {kind} | {row['bytes_per_item']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--generated", help="directory holding the generated 'evgen' package (peer 4)")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args()
    results = bench(args.items, args.repeat, args.generated)
    if args.json:
        print(json.dumps({"items": args.items, "results": results}))
    else:
        print(markdown(results, args.items))


if __name__ == "__main__":
    main()
