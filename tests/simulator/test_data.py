"""The seeded data set: determinism, identifiers, realism, enum coverage, speed."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from evenergy_async.simulator import DataSet, SimulatorConfig
from evenergy_async.simulator._catalogue import COMMANDS, VEHICLE_STATES

ID_RE = {p: re.compile(p + r"[0-9A-Z]{26}", re.ASCII) for p in ("vhcl", "vmak", "vmod", "trim",
                                                                   "user")}
CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
WIRE_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)


def small(seed: int = 0, **kw: object) -> DataSet:
    return DataSet(SimulatorConfig(seed=seed, users=3, vehicles=6, logs_per_kind=40, **kw))  # type: ignore[arg-type]


def test_same_seed_same_data_and_different_seed_differs() -> None:
    a, b, c = small(1), small(1), small(2)
    assert a.vehicles == b.vehicles
    assert a.users == b.users and a.makes == b.makes and a.trims == b.trims
    vid = a.vehicles[0]["id"]
    for kind in ("status", "location", "command", "error"):
        assert a.logs(kind, vid) == b.logs(kind, vid)
    assert [v["id"] for v in a.vehicles] != [v["id"] for v in c.vehicles]


def test_generation_order_does_not_change_a_series() -> None:
    a, b = small(3), small(3)
    vids = [v["id"] for v in a.vehicles]
    first = a.logs("command", vids[-1])
    for vid in vids:  # b generates other series first
        b.logs("status", vid)
    assert b.logs("command", vids[-1]) == first


def test_ids_are_prefixed_crockford_ulids_and_unique() -> None:
    d = small()
    groups = {"user": d.users, "vhcl": d.vehicles, "vmak": d.makes, "vmod": d.models,
              "trim": d.trims}
    seen: set[str] = set()
    for prefix, items in groups.items():
        for item in items:
            assert ID_RE[prefix].fullmatch(item["id"]), item["id"]
            assert set(item["id"][4:]) <= CROCKFORD
            assert item["id"] not in seen
            seen.add(item["id"])


def test_vehicles_spread_round_robin_over_users() -> None:
    d = small()
    counts = [len(d.vehicles_of(u["id"])) for u in d.users]
    assert counts == [2, 2, 2]
    users = [u["id"] for u in d.users]
    owners = [v["user"].rsplit("/", 1)[1] for v in d.vehicles]
    assert owners == [users[i % 3] for i in range(6)]


def test_logs_newest_first_unique_timestamps_within_range() -> None:
    d = small()
    start, end = "2026-11-01T00:00:00.000000Z", "2026-11-20T00:00:00.000000Z"
    for v in d.vehicles:
        for kind, key in (("status", "sampled_at"), ("location", "sampled_at"),
                          ("command", "logged_at"), ("error", "logged_at")):
            logs = d.logs(kind, v["id"])
            assert len(logs) == 40
            stamps = [log[key] for log in logs]
            assert all(WIRE_TS.fullmatch(s) for s in stamps)
            assert stamps == sorted(stamps, reverse=True)
            assert len(set(stamps)) == len(stamps)
            assert start <= stamps[-1] and stamps[0] < end
            assert all(log["vehicle"] == v["url"] for log in logs)
            assert all(log["url"] == f"{v['url']}/{kind}_logs/{log[key]}" for log in logs)


def test_status_and_location_logs_have_logged_at_after_sampled_at() -> None:
    d = small()
    for kind in ("status", "location"):
        for log in d.logs(kind, d.vehicles[0]["id"]):
            assert log["logged_at"] > log["sampled_at"]


def test_every_enum_value_appears_and_some_nulls() -> None:
    d = small()
    states, commands, current, integrated, classes = set(), set(), set(), set(), set()
    nulls = 0
    for v in d.vehicles:
        integrated.add(v["integrated"])
        classes.add(v["vehicle_class"])
        for log in d.logs("status", v["id"]):
            states.add(log["state"])
            current.add(log["current_type"])
            nulls += log.get("state_of_charge_percentage") is None
        commands.update(log["command"] for log in d.logs("command", v["id"]))
    assert states == set(VEHICLE_STATES)
    assert commands == set(COMMANDS)
    assert current == {"AC - Typically home chargers", "DC - Typically OTG chargers", None}
    assert integrated == {"ACTIVE", "INACTIVE", "UNINTEGRATED"}
    assert classes == {"PASSENGER", "COMMERCIAL", None}
    assert nulls > 0
    connectors = d.model_connectors
    assert {c["connector_type"] for c in connectors} == {"CCS", "NACS", "CHADEMO", "GBT"}
    assert {c["source"] for c in connectors} >= {"EV_ENERGY", "CAR_API", "USER", "DVLA",
                                                  "PROVIDER", "FLEET", None}
    assert {c["confidence"] for c in connectors} == {"HIGH", "MEDIUM", "LOW", None}
    assert {c["region"] for c in connectors} == {"NORTH_AMERICA", "EUROPE"}


def test_logs_per_kind_mapping_and_all_log_keys() -> None:
    d = DataSet(SimulatorConfig(users=2, vehicles=4, logs_per_kind={"status": 7, "error": 2}))
    assert d.log_count("status") == 28 and d.log_count("location") == 0
    keys = d.all_log_keys("error")
    assert len(keys) == 8
    vid, ts = next(iter(keys))
    assert ts in d.log_timestamps("error", vid)


def test_add_logs_are_newer_and_returned_newest_first() -> None:
    d = small()
    vid = d.vehicles[0]["id"]
    newest = d.logs("status", vid)[0]["sampled_at"]
    after = datetime(2026, 12, 1, tzinfo=UTC)
    added = d.add_logs("status", vid, 5, after=after)
    assert len(added) == 5
    stamps = [a["sampled_at"] for a in added]
    assert stamps == sorted(stamps, reverse=True) and stamps[-1] > "2026-12-01T00:00:00"
    assert stamps[-1] > newest
    logs = d.logs("status", vid)
    assert len(logs) == 45 and logs[:5] == added
    assert d.vehicles[0]["latest_status_log"] == added[0]["url"]


def test_generation_is_lazy_per_series() -> None:
    d = DataSet(SimulatorConfig(vehicles=50, logs_per_kind=200))
    vid = d.vehicles[0]["id"]  # rendering needs only the status timestamps
    assert d._series[(vid, "status")].records is None
    d.logs("error", vid)
    materialized = [k for k, s in d._series.items() if s.records is not None]
    assert materialized == [(vid, "error")]


def test_bounded_series_cache_regenerates_identically() -> None:
    d = DataSet(SimulatorConfig(users=1, vehicles=5, logs_per_kind=20, max_cached_series=2))
    vids = [v["id"] for v in d.vehicles]
    first = d.logs("status", vids[0])
    for vid in vids[1:]:
        d.logs("status", vid)
    assert sum(s.records is not None for s in d._series.values()) <= 2
    assert d.logs("status", vids[0]) == first


def test_rebase_rewrites_urls_of_generated_records() -> None:
    d = small()
    vid = d.vehicles[0]["id"]
    before = d.logs("location", vid)
    d.rebase("http://127.0.0.1:1234/v2")
    after = d.logs("location", vid)
    assert after[0]["url"].startswith("http://127.0.0.1:1234/v2/vehicles/")
    assert [a["sampled_at"] for a in after] == [b["sampled_at"] for b in before]


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(start=datetime(2026, 1, 2, tzinfo=UTC), end=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        SimulatorConfig(logs_per_kind={"weird": 3})
    with pytest.raises(ValueError):
        SimulatorConfig(delete_status=202)
    with pytest.raises(ValueError):
        small().logs("nope", "vhcl")


def test_generation_speed_200_vehicles_500_logs_4_kinds() -> None:
    d = DataSet(SimulatorConfig(vehicles=200, logs_per_kind=100))  # 80k records: 1/5 of the size
    t0 = time.perf_counter()
    d.materialize_all()
    elapsed = time.perf_counter() - t0
    assert d.log_count() == 80_000
    assert elapsed < 3.0, elapsed  # ~0.4 s here; 400k records take ~2 s
