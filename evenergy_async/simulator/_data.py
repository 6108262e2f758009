"""Seeded, deterministic data set: catalogue, users, vehicles and lazily generated logs.

Everything derives from ``SimulatorConfig.seed``. Log series are generated per
``(vehicle, kind)`` on first use from a sub-seed of that pair, in two phases: the
timestamps first (cheap; enough for ``latest_status_log``, lookups and key sets), the
records when a page is served. Records are kept as one blob of comma-separated compact
JSON objects per series, newest first, plus their offsets: a page is one slice.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import attrs

from . import _catalogue as cat
from ._config import SimulatorConfig
from ._ops import LOG_KEY_FIELD, LOG_KINDS, LOG_SEGMENTS
from ._wire import derive_int, dt_to_us, dumps, format_us, loads, ulid, uuid_from_int

__all__ = ["DataSet"]

PLACEHOLDER_BASE = "http://simulator.invalid/v2"

Expand = dict[str, "Expand"]
Json = dict[str, Any]

_ID_EPOCH_MS = 1704844800000  # 2024-01-10T00:00:00Z: catalogue and accounts are older than logs


def now_us() -> int:
    return dt_to_us(datetime.now(UTC))


@attrs.frozen
class RenderCtx:
    """Per-request facts that change how catalogue objects render (onboarding links)."""

    client_id: str | None = None
    user_id: str | None = None


ANON = RenderCtx()


@attrs.define
class Make:
    id: str
    name: str
    rank: int | None
    auth_method: str
    make_onboarding: bool
    supported: bool
    subscription: tuple[str, str] | None
    icon: bool


@attrs.define
class Model:
    id: str
    name: str
    make_id: str
    default_connector: str | None
    default_battery: int
    hidden: bool = False


@attrs.define
class Trim:
    id: str
    name: str
    model_id: str
    battery: int | None
    supported: bool
    hidden: bool = False


@attrs.define
class ModelConnector:
    model_id: str
    region: str
    connector_type: str
    source: str | None
    confidence: str | None
    verified_at: int | None
    updated_at: int


@attrs.define
class User:
    id: str
    email: str
    full_name: str
    joined_at: int
    terms_at: int | None
    country: str
    region: str
    location: Json


@attrs.define
class Vehicle:
    id: str
    user_id: str
    trim_id: str
    integrated: str
    battery: int
    effective_battery: int
    max_charge: int
    description: str
    disabled: bool
    smart_charging: bool
    vehicle_class: str | None
    provider: str | None
    native_override: str | None
    adaptors: list[str]
    connectors_updated_at: int | None
    soc: int | None
    soc_source: str | None
    soc_updated_at: int | None
    vpp: tuple[bool, bool, bool, bool]


@attrs.define
class AuthorizationRequest:
    id: str
    user_id: str
    make_id: str | None
    model_id: str | None
    trim_id: str | None
    created_at: float
    used: bool = False


class Records:
    """Serialized records of one series: ``blob[off[i]:off[i + 1] - 1]`` is record ``i``."""

    __slots__ = ("blob", "off")

    def __init__(self, parts: list[bytes]) -> None:
        self.blob = b",".join(parts) + b"," if parts else b""
        off = array("q", [0])
        total = 0
        for p in parts:
            total += len(p) + 1
            off.append(total)
        self.off = off

    def __len__(self) -> int:
        return len(self.off) - 1

    def item(self, i: int) -> bytes:
        return self.blob[self.off[i] : self.off[i + 1] - 1]

    def items(self, start: int, end: int) -> list[bytes]:
        off, blob = self.off, self.blob
        return [blob[off[i] : off[i + 1] - 1] for i in range(start, end)]

    def page(self, start: int, end: int) -> bytes:
        """The JSON array of records ``start:end``."""
        if end <= start:
            return b"[]"
        return b"".join((b"[", memoryview(self.blob)[self.off[start] : self.off[end] - 1], b"]"))


class _Series:
    """One (vehicle, kind) log series: negated timestamps ascending (= newest first)."""

    __slots__ = ("neg", "pinned", "records")

    def __init__(self, neg: array[int]) -> None:
        self.neg = neg
        self.records: Records | None = None
        self.pinned = False


@attrs.frozen
class PageSlice:
    start: int
    end: int
    has_prev: bool
    has_next: bool


class DataSet:
    """The simulator's data, in wire form on the way out.

    ``users``, ``vehicles``, ``makes``, ``models``, ``trims`` and ``model_connectors`` are
    rendered as the API returns them (absolute URLs, related objects as URLs).
    """

    def __init__(self, config: SimulatorConfig, base_url: str = PLACEHOLDER_BASE) -> None:
        self.config = config
        self.base = base_url.rstrip("/")
        self.seed = config.seed
        self._rng = random.Random(derive_int(config.seed, "catalogue"))
        self._id_rng = random.Random(derive_int(config.seed, "ids"))
        self._last_ms = _ID_EPOCH_MS
        self.makes_by_id: dict[str, Make] = {}
        self.models_by_id: dict[str, Model] = {}
        self.trims_by_id: dict[str, Trim] = {}
        self.connectors: dict[tuple[str, str], ModelConnector] = {}
        self.users_by_id: dict[str, User] = {}
        self.vehicles_by_id: dict[str, Vehicle] = {}
        self.auth_requests: dict[str, AuthorizationRequest] = {}
        self.waitlist: list[Json] = []
        self.programs: dict[str, str] = {}  # program id -> country
        self._series: dict[tuple[str, str], _Series] = {}
        self._materialized: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._add_counter = 0
        self.version = 0  # bumped on every log mutation (page caches key on it)
        self._start_us = dt_to_us(config.start)
        self._end_us = dt_to_us(config.end)
        self._build_catalogue()
        self._build_users()
        self._build_vehicles()
        self._initial_ids = frozenset(self.vehicles_by_id)

    # ------------------------------------------------------------------ ids & urls
    def new_id(self, prefix: str, rng: random.Random | None = None) -> str:
        r = rng if rng is not None else self._id_rng
        self._last_ms += r.randint(1_000, 3_600_000)
        return prefix + ulid(self._last_ms, r.getrandbits(80))

    def next_rand(self) -> int:
        """128 random bits from the ID stream (request IDs of onboarding and reconnection)."""
        return self._id_rng.getrandbits(128)

    def rebase(self, base_url: str) -> None:
        """Point every URL at a new base (called when the server learns its port)."""
        new = base_url.rstrip("/")
        if new == self.base:
            return
        old_b, new_b = self.base.encode(), new.encode()
        for series in self._series.values():
            if series.records is not None:
                recs = series.records
                series.records = Records(
                    [recs.item(i).replace(old_b, new_b) for i in range(len(recs))]
                )
        self.base = new
        self.version += 1

    def vehicle_url(self, vid: str) -> str:
        return f"{self.base}/vehicles/{vid}"

    def user_url(self, uid: str) -> str:
        return f"{self.base}/users/{uid}"

    def make_url(self, mid: str) -> str:
        return f"{self.base}/vehicle_makes/{mid}"

    def model_url(self, mid: str) -> str:
        return f"{self.base}/vehicle_models/{mid}"

    def trim_url(self, tid: str) -> str:
        return f"{self.base}/vehicle_trims/{tid}"

    def log_url(self, kind: str, vid: str, ts: str) -> str:
        return f"{self.base}/vehicles/{vid}/{LOG_SEGMENTS[kind]}/{ts}"

    # ------------------------------------------------------------------ generation
    def _build_catalogue(self) -> None:
        rng = self._rng
        verified_base = self._start_us - 200 * 86_400_000_000
        row = 0
        for (name, rank, auth, make_onb, supported, sub, icon, models) in cat.MAKES:
            make = Make(self.new_id("vmak", rng), name, rank, auth, make_onb, supported, sub, icon)
            self.makes_by_id[make.id] = make
            for (mname, default_conn, regions, trims) in models:
                batteries = [b for _t, b in trims]
                default_battery = max(set(batteries), key=batteries.count) if trims else 45000
                model = Model(self.new_id("vmod", rng), mname, make.id, default_conn,
                              default_battery)
                self.models_by_id[model.id] = model
                for region, conn in regions.items():
                    source = cat.SOURCES[row % len(cat.SOURCES)]
                    confidence = cat.CONFIDENCES[row % len(cat.CONFIDENCES)]
                    verified = (None if confidence is None
                                else verified_base + rng.randrange(150 * 86_400_000_000))
                    updated = verified_base + rng.randrange(190 * 86_400_000_000)
                    self.connectors[(model.id, region)] = ModelConnector(
                        model.id, region, conn, source, confidence, verified, updated
                    )
                    row += 1
                for (tname, battery) in trims:
                    trim = Trim(self.new_id("trim", rng), tname, model.id, battery, supported)
                    self.trims_by_id[trim.id] = trim
        for country in ("GB", "US"):
            self.programs[self.new_id("prog", rng)] = country

    def _build_users(self) -> None:
        rng = random.Random(derive_int(self.seed, "users"))
        for i in range(self.config.users):
            first = cat.FIRST_NAMES[i % len(cat.FIRST_NAMES)]
            last = cat.LAST_NAMES[(i * 7 + i // len(cat.FIRST_NAMES)) % len(cat.LAST_NAMES)]
            country = cat.COUNTRY_ORDER[i % len(cat.COUNTRY_ORDER)]
            region, addresses = cat.COUNTRIES[country]
            a1, city, state, postal, lat, lon = addresses[rng.randrange(len(addresses))]
            uid = self.new_id("user", rng)
            joined = self._start_us - rng.randint(30, 900) * 86_400_000_000
            terms = None if i % 5 == 4 else joined + rng.randint(0, 3_600_000_000)
            email_local = (
                f"{first}.{last}".lower().replace("é", "e").replace("ó", "o").replace(" ", "")
            )
            location: Json = {
                "address_1": a1,
                "address_2": None if rng.random() < 0.7 else f"Flat {rng.randint(1, 40)}",
                "postal_code": postal,
                "country_code": country,
                "coordinates": {
                    "latitude": round(lat + rng.uniform(-0.01, 0.01), 6),
                    "longitude": round(lon + rng.uniform(-0.01, 0.01), 6),
                },
                "tariff": None,
                "city": city,
                "state": state,
                "evse_site": None,
            }
            self.users_by_id[uid] = User(
                uid, f"{email_local}{i}@example.com", f"{first} {last}", joined, terms,
                country, region, location,
            )

    def _build_vehicles(self) -> None:
        n = self.config.vehicles
        rng = random.Random(derive_int(self.seed, "vehicles"))
        users = list(self.users_by_id.values())
        visible_trims = [t for t in self.trims_by_id.values() if not t.hidden]
        forced_states = dict(zip(rng.sample(range(n), min(n, 3)),
                                 ("ACTIVE", "INACTIVE", "UNINTEGRATED"), strict=False))
        forced_class = dict(zip(rng.sample(range(n), min(n, 3)),
                                ("PASSENGER", "COMMERCIAL", None), strict=False))
        forced_soc = dict(zip(rng.sample(range(n), min(n, 3)),
                              ("CONNECTED", "MANUAL", None), strict=False))
        for i in range(n):
            user = users[i % len(users)]
            integrated = forced_states.get(i) or rng.choices(
                ("ACTIVE", "INACTIVE", "UNINTEGRATED"), (70, 15, 15))[0]
            pool = [
                t for t in visible_trims
                if (t.model_id, user.region) in self.connectors
                and (t.supported or integrated == "UNINTEGRATED")
            ] or visible_trims
            trim = pool[rng.randrange(len(pool))]
            model = self.models_by_id[trim.model_id]
            make = self.makes_by_id[model.make_id]
            battery = trim.battery or model.default_battery
            if integrated == "UNINTEGRATED" and rng.random() < 0.5:
                battery = round(rng.randint(30000, 110000), -1)
            effective = round(int(battery * (1 - rng.uniform(0.0, 0.08))), -1)
            vclass = (forced_class[i] if i in forced_class
                      else rng.choices(("PASSENGER", "COMMERCIAL", None), (80, 12, 8))[0])
            provider = (None if integrated == "UNINTEGRATED" else
                        cat.PROVIDER_BY_MAKE.get(make.name)
                        or cat.OTHER_PROVIDERS[rng.randrange(len(cat.OTHER_PROVIDERS))])
            first = user.full_name.split(" ")[0]
            description = (
                f"{first}'s {make.name} {model.name}" if rng.random() < 0.8
                else rng.choice(("Work van", "Family car", "Weekend car ⚡", "Company car"))
            )
            native_override: str | None = None
            adaptors: list[str] = []
            conn_updated: int | None = None
            r = rng.random()
            region_default = self.connectors[(model.id, user.region)].connector_type \
                if (model.id, user.region) in self.connectors else None
            if r < 0.15 and region_default in cat.CONNECTOR_TYPES:
                native_override = region_default
            if rng.random() < 0.25:
                effective_native = native_override or model.default_connector
                options = [c for c in cat.CONNECTOR_TYPES if c != effective_native]
                adaptors = rng.sample(options, rng.randint(1, min(2, len(options))))
            if native_override is not None or adaptors:
                conn_updated = self._start_us - rng.randint(1, 60) * 86_400_000_000
            soc_source = (forced_soc[i] if i in forced_soc else
                          ("CONNECTED" if integrated != "UNINTEGRATED" else
                           rng.choice(("MANUAL", None))))
            soc = None if soc_source is None else rng.randint(8, 98)
            soc_updated = None if soc_source is None else self._start_us - rng.randint(
                60, 86_400) * 1_000_000
            leaf = model.name == "Leaf"
            vpp = (
                integrated == "ACTIVE" and rng.random() < 0.7,
                integrated != "UNINTEGRATED",
                leaf and integrated == "ACTIVE",
                integrated != "UNINTEGRATED" and rng.random() < 0.9,
            )
            vid = self.new_id("vhcl", rng)
            self.vehicles_by_id[vid] = Vehicle(
                vid, user.id, trim.id, integrated, battery, effective,
                rng.choice((80, 85, 90, 100, 100)), description,
                integrated == "INACTIVE" and rng.random() < 0.3,
                rng.random() < 0.85, vclass, provider, native_override, adaptors, conn_updated,
                soc, soc_source, soc_updated, vpp,
            )

    # ------------------------------------------------------------------ log series
    def _keys(self, vid: str, kind: str) -> _Series:
        key = (vid, kind)
        series = self._series.get(key)
        if series is None:
            n = self.config.logs_for(kind) if vid in self._initial_ids else 0
            span = self._end_us - self._start_us
            if n > span:
                raise ValueError("more logs than microseconds between start and end")
            rng = random.Random(derive_int(self.seed, vid, kind, "keys"))
            offsets = rng.sample(range(span), n) if n else []
            offsets.sort(reverse=True)
            base = -self._start_us
            series = _Series(array("q", [base - o for o in offsets]))
            self._series[key] = series
        return series

    def series_records(self, vid: str, kind: str) -> Records:
        series = self._keys(vid, kind)
        records = series.records
        if records is None:
            records = series.records = Records(self._generate(vid, kind, series.neg, "records"))
            if not series.pinned:
                self._materialized[(vid, kind)] = None
                limit = self.config.max_cached_series
                while 0 < limit < len(self._materialized):
                    old, _ = self._materialized.popitem(last=False)
                    victim = self._series.get(old)
                    if victim is not None and not victim.pinned:
                        victim.records = None  # regenerated identically on next use
        elif not series.pinned and self.config.max_cached_series > 0:
            self._materialized.move_to_end((vid, kind))
        return records

    def pin(self, vid: str, kind: str) -> None:
        """Keep a series in memory for good (it was changed, or pages are precomputed)."""
        self._keys(vid, kind).pinned = True
        self._materialized.pop((vid, kind), None)

    def series_neg(self, vid: str, kind: str) -> array[int]:
        return self._keys(vid, kind).neg

    def newest_key(self, vid: str, kind: str) -> int | None:
        neg = self._keys(vid, kind).neg
        return -neg[0] if neg else None

    def find_index(self, vid: str, kind: str, us: int) -> int | None:
        neg = self._keys(vid, kind).neg
        i = bisect_left(neg, -us)
        if i < len(neg) and neg[i] == -us:
            return i
        return None

    def slice(
        self,
        vid: str,
        kind: str,
        *,
        gte: int | None,
        lte: int | None,
        after: int | None,
        before: int | None,
        size: int,
    ) -> PageSlice:
        neg = self._keys(vid, kind).neg
        lo = 0 if lte is None else bisect_left(neg, -lte)
        hi = len(neg) if gte is None else bisect_right(neg, -gte)
        if hi < lo:
            hi = lo
        if after is not None:
            start = max(lo, bisect_right(neg, -after))
            end = min(hi, start + size)
        elif before is not None:
            end = min(hi, bisect_left(neg, -before))
            start = max(lo, end - size)
            if end < start:
                end = start
        else:
            start = lo
            end = min(hi, lo + size)
        return PageSlice(start, end, start > lo, end < hi)

    def _generate(self, vid: str, kind: str, neg: array[int], salt: object) -> list[bytes]:
        v = self.vehicles_by_id.get(vid)
        rng = random.Random(derive_int(self.seed, vid, kind, salt))
        keys = [-x for x in reversed(neg)]  # chronological
        if kind == "status":
            recs = self._gen_status(rng, vid, v, keys)
        elif kind == "location":
            recs = self._gen_location(rng, vid, v, keys)
        elif kind == "command":
            recs = self._gen_command(rng, vid, v, keys)
        else:
            recs = self._gen_error(rng, vid, v, keys)
        recs.reverse()  # newest first
        return [dumps(r) for r in recs]

    def _gen_status(
        self, rng: random.Random, vid: str, v: Vehicle | None, keys: list[int]
    ) -> list[Json]:
        vurl = self.vehicle_url(vid)
        prefix = f"{vurl}/status_logs/"
        cap = v.battery if v is not None else 60000
        target = v.max_charge if v is not None else 100
        source = v.provider if v is not None else None
        n = len(keys)
        states = cat.VEHICLE_STATES
        forced = dict(zip(rng.sample(range(n), min(n, len(states))),
                          rng.sample(states, len(states)), strict=False))
        soc = rng.uniform(20, 90)
        odo = rng.randint(1_000_000, 90_000_000)
        state: str | None = "STATIONARY"
        dc = False
        added = 0
        rand = rng.random
        out: list[Json] = []
        for i, us in enumerate(keys):
            state = forced[i] if i in forced else _next_state(state, rand())
            plugged = state is not None and state.startswith("PLUGGED_IN")
            charging = state in _CHARGING
            rate: int | None = 0
            if state == "DRIVING":
                soc = max(3.0, soc - rand() * 8)
                odo += int(2000 + rand() * 40000)
                dc = rand() < 0.15
                added = 0
            elif charging:
                rate = int((50000 + rand() * 100000) if dc else (3700 + rand() * 7300))
                soc = min(float(target), soc + 2 + rand() * 12)
            elif state == "PLUGGED_IN_COMPLETE":
                soc = float(target)
            if state is None:
                rec: Json = {
                    "url": prefix + (ts := format_us(us)),
                    "logged_at": format_us(us + int(500_000 + rand() * 90_000_000)),
                    "sampled_at": ts, "vehicle": vurl,
                    "state_of_charge_percentage": None, "is_charging": None,
                    "is_plugged_in": None, "charge_rate_watts": None,
                    "estimated_charge_rate_watts": None, "charge_level_watt_hours": None,
                    "target_charge_level_percentage": None,
                    "target_charge_level_watt_hours": None,
                    "charge_energy_added_watt_hours": None, "minutes_to_full_charge": None,
                    "current_type": None, "is_complete": None,
                    "odometer_meters": odo if rand() < 0.5 else None,
                    "data_source": source, "state": None,
                }
                out.append(rec)
                continue
            unknown = state in ("UNKNOWN", "IN_SERVICE")
            if charging and rate:
                added += int(rate * (0.05 + rand() * 0.3))
            pct = int(soc)
            level = cap * pct // 100
            missing = unknown and rand() < 0.5
            rec = {
                "url": prefix + (ts := format_us(us)),
                "logged_at": format_us(us + int(500_000 + rand() * 90_000_000)),
                "sampled_at": ts,
                "vehicle": vurl,
                "state_of_charge_percentage": None if missing else pct,
                "is_charging": None if missing else charging,
                "is_plugged_in": None if missing else plugged,
                "charge_rate_watts": None if missing or rand() < 0.05 else rate,
                "estimated_charge_rate_watts": (
                    int(rate * (0.9 + rand() * 0.2)) if charging and rate and rand() < 0.7
                    else None),
                "charge_level_watt_hours": None if missing else level,
                "target_charge_level_percentage": None if rand() < 0.05 else target,
                "target_charge_level_watt_hours": cap * target // 100,
                "charge_energy_added_watt_hours": added if plugged else None,
                "minutes_to_full_charge": (
                    int((target - pct) / 100 * cap / rate * 60) if charging and rate
                    and pct < target else (0 if state == "PLUGGED_IN_COMPLETE" else None)),
                "current_type": (cat.CURRENT_DC if dc else cat.CURRENT_AC) if plugged else None,
                "is_complete": (pct >= target) if plugged else (None if missing else False),
                "odometer_meters": None if missing else odo,
                "data_source": source,
                "state": state,
            }
            if rand() < 0.02:  # sparse records: the schema requires no field at all
                del rec["estimated_charge_rate_watts"]
                del rec["data_source"]
            out.append(rec)
        return out

    def _gen_location(
        self, rng: random.Random, vid: str, v: Vehicle | None, keys: list[int]
    ) -> list[Json]:
        vurl = self.vehicle_url(vid)
        prefix = f"{vurl}/location_logs/"
        rand = rng.random
        out: list[Json] = []
        for us in keys:
            r = rand()
            ts = format_us(us)
            out.append({
                "url": prefix + ts,
                "sampled_at": ts,
                "logged_at": format_us(us + int(200_000 + rand() * 30_000_000)),
                "vehicle": vurl,
                "at_home": True if r < 0.55 else (False if r < 0.94 else None),
            })
        return out

    def _gen_command(
        self, rng: random.Random, vid: str, v: Vehicle | None, keys: list[int]
    ) -> list[Json]:
        vurl = self.vehicle_url(vid)
        prefix = f"{vurl}/command_logs/"
        n = len(keys)
        forced = dict(zip(rng.sample(range(n), min(n, len(cat.COMMANDS))),
                          rng.sample(cat.COMMANDS, len(cat.COMMANDS)), strict=False))
        rand = rng.random
        out: list[Json] = []
        for i, us in enumerate(keys):
            command = forced.get(i) or cat.COMMANDS[int(rand() * 4)]
            ts = format_us(us)
            milliamps: int | None = None
            if command == "START_CHARGE":
                milliamps = (6000, 10000, 16000, 32000)[int(rand() * 4)]
            elif command == "STOP_CHARGE":
                milliamps = 0
            out.append({
                "url": prefix + ts,
                "logged_at": ts,
                "vehicle": vurl,
                "command": command,
                "external_command_id": (
                    None if rand() < 0.2 else f"ext-cmd-{rng.getrandbits(24):07d}"),
                "current_milliamps": milliamps,
                "internal_command_id": (
                    None if rand() < 0.1 else uuid_from_int(rng.getrandbits(128))),
            })
        return out

    def _gen_error(
        self, rng: random.Random, vid: str, v: Vehicle | None, keys: list[int]
    ) -> list[Json]:
        vurl = self.vehicle_url(vid)
        prefix = f"{vurl}/error_logs/"
        controller = (v.provider if v is not None else None) or "ENODE"
        rand = rng.random
        out: list[Json] = []
        for us in keys:
            status, code, etype, detail = cat.ERRORS[int(rand() * len(cat.ERRORS))]
            ts = format_us(us)
            h = f"{rng.getrandbits(100):025x}"
            request_id = f"{h[:5]}-{h[5:10]}-{h[10:15]}-{h[15:20]}-{h[20:]}"
            rec: Json = {
                "url": prefix + ts,
                "logged_at": ts,
                "vehicle": vurl,
                "status_code": status,
                "controller": controller,
                "error_code": code,
                "error_type": etype,
                "request_id": request_id,
                "command": cat.ERROR_COMMANDS[int(rand() * len(cat.ERROR_COMMANDS))],
                "error_detail": detail,
                "internal_command_id": (
                    None if rand() < 0.3 else uuid_from_int(rng.getrandbits(128))),
            }
            if rand() < 0.02:
                del rec["internal_command_id"]
            out.append(rec)
        return out

    # ------------------------------------------------------------------ public API
    @property
    def users(self) -> list[Json]:
        return [self.render_user(u) for u in self.users_by_id.values()]

    @property
    def vehicles(self) -> list[Json]:
        return [self.render_vehicle(v) for v in self.vehicles_by_id.values()]

    @property
    def makes(self) -> list[Json]:
        return [self.render_make(m) for m in self.makes_by_id.values()]

    @property
    def models(self) -> list[Json]:
        return [self.render_model(m) for m in self.models_by_id.values()]

    @property
    def trims(self) -> list[Json]:
        return [self.render_trim(t) for t in self.trims_by_id.values()]

    @property
    def model_connectors(self) -> list[Json]:
        return [self.render_connector(c) for c in self.connectors.values()]

    def vehicles_of(self, user_id: str) -> list[Json]:
        return [self.render_vehicle(v) for v in self.vehicles_by_id.values()
                if v.user_id == user_id]

    def logs(self, kind: str, vehicle_id: str) -> list[Json]:
        """Every log of one kind of one vehicle, newest first, in wire form."""
        _check_kind(kind)
        if vehicle_id not in self.vehicles_by_id:
            raise KeyError(vehicle_id)
        records = self.series_records(vehicle_id, kind)
        return list(loads(records.page(0, len(records))))

    def log_timestamps(self, kind: str, vehicle_id: str) -> list[str]:
        """The key timestamps (wire strings) of one series, newest first."""
        _check_kind(kind)
        return [format_us(-x) for x in self._keys(vehicle_id, kind).neg]

    def all_log_keys(self, kind: str) -> set[tuple[str, str]]:
        """``(vehicle_id, key timestamp)`` of every log of ``kind`` of every vehicle."""
        _check_kind(kind)
        out: set[tuple[str, str]] = set()
        for vid in self.vehicles_by_id:
            for x in self._keys(vid, kind).neg:
                out.add((vid, format_us(-x)))
        return out

    def log_count(self, kind: str | None = None) -> int:
        kinds = LOG_KINDS if kind is None else (kind,)
        return sum(len(self._keys(vid, k).neg) for vid in self.vehicles_by_id for k in kinds)

    def materialize_all(self) -> None:
        for vid in self.vehicles_by_id:
            for kind in LOG_KINDS:
                self.series_records(vid, kind)
                self.pin(vid, kind)

    def add_logs(
        self, kind: str, vehicle_id: str, n: int, *, after: datetime | None = None
    ) -> list[Json]:
        """Append ``n`` logs newer than every existing one (and than ``after``); newest first."""
        _check_kind(kind)
        if vehicle_id not in self.vehicles_by_id:
            raise KeyError(vehicle_id)
        if n < 0:
            raise ValueError("n must be >= 0")
        records = self.series_records(vehicle_id, kind)
        self.pin(vehicle_id, kind)
        series = self._series[(vehicle_id, kind)]
        self._add_counter += 1
        rng = random.Random(derive_int(self.seed, vehicle_id, kind, "add", self._add_counter))
        newest = -series.neg[0] if series.neg else self._start_us
        floor = max(newest, dt_to_us(after) if after is not None else newest)
        new_keys: list[int] = []
        t = floor
        for _ in range(n):
            t += rng.randint(1_000_000, 600_000_000)
            new_keys.append(t)
        new_neg = array("q", [-k for k in reversed(new_keys)])
        new_records = self._generate(vehicle_id, kind, new_neg, ("add", self._add_counter))
        series.neg = new_neg + series.neg
        series.records = Records(new_records + records.items(0, len(records)))
        self.version += 1
        return [loads(b) for b in new_records]

    def drop_series(self, vid: str) -> None:
        for kind in LOG_KINDS:
            self._series.pop((vid, kind), None)
            self._materialized.pop((vid, kind), None)
        self.version += 1

    # ------------------------------------------------------------------ mutations
    def create_vehicle(
        self,
        user_id: str,
        trim_id: str,
        *,
        integrated: str = "UNINTEGRATED",
        battery: int | None = None,
        description: str | None = None,
        vehicle_class: str | None = None,
    ) -> Vehicle:
        trim = self.trims_by_id[trim_id]
        model = self.models_by_id[trim.model_id]
        make = self.makes_by_id[model.make_id]
        user = self.users_by_id[user_id]
        size = battery if battery is not None else (trim.battery or model.default_battery)
        size = (size + 5) // 10 * 10
        provider = None
        if integrated != "UNINTEGRATED":
            provider = cat.PROVIDER_BY_MAKE.get(make.name, "ENODE")
        v = Vehicle(
            self.new_id("vhcl"), user_id, trim_id, integrated, size, size, 100,
            description or f"{user.email} {make.name} {model.name}"[:200], False, True,
            vehicle_class, provider, None, [], None, None, None, None,
            (False, integrated != "UNINTEGRATED", False, integrated != "UNINTEGRATED"),
        )
        self.vehicles_by_id[v.id] = v
        return v

    def delete_vehicle(self, vid: str) -> None:
        del self.vehicles_by_id[vid]
        self.drop_series(vid)

    def resolve_trim(self, model_id: str, battery: int | None) -> Trim:
        """The trim of ``model_id`` with this battery size, creating a hidden one if needed."""
        model = self.models_by_id[model_id]
        size = battery if battery is not None else model.default_battery
        for t in self.trims_by_id.values():
            if t.model_id == model_id and t.battery == size:
                return t
        return self.create_trim(model_id, f"{model.name} ({size / 1000:g} kWh)", size)

    def create_trim(self, model_id: str, name: str, battery: int | None) -> Trim:
        trim = Trim(self.new_id("trim"), name, model_id, battery, False, hidden=True)
        self.trims_by_id[trim.id] = trim
        return trim

    def create_model(self, make_id: str, name: str) -> Model:
        model = Model(self.new_id("vmod"), name, make_id, None, 45000, hidden=True)
        self.models_by_id[model.id] = model
        return model

    def first_trim(self, make_id: str | None, model_id: str | None) -> Trim | None:
        for t in self.trims_by_id.values():
            if t.hidden:
                continue
            model = self.models_by_id[t.model_id]
            if model_id is not None and t.model_id != model_id:
                continue
            if make_id is not None and model.make_id != make_id:
                continue
            return t
        return None

    # ------------------------------------------------------------------ rendering
    def onboarding_url(self, ctx: RenderCtx, param: str, value: str) -> str:
        url = f"{self.base}/vehicle_onboarding?{param}={value}"
        if ctx.user_id is not None:
            url += f"&user_id={ctx.user_id}"
        if ctx.client_id is not None:
            url += f"&client_id={ctx.client_id}"
        return url

    def render_make(self, m: Make, ctx: RenderCtx = ANON) -> Json:
        slug = m.name.lower().replace(" ", "-")
        return {
            "id": m.id,
            "url": self.make_url(m.id),
            "name": m.name,
            "icon": f"https://cdn.ev.energy/vehicle_makes/{slug}.png" if m.icon else None,
            "onboarding_url": (
                self.onboarding_url(ctx, "make_id", m.id) if m.make_onboarding else None),
            "models": f"{self.base}/vehicle_models?make_id={m.id}",
            "subscription_name": m.subscription[0] if m.subscription else None,
            "subscription_package": m.subscription[1] if m.subscription else None,
        }

    def render_model(self, m: Model, ctx: RenderCtx = ANON, exp: Expand | None = None) -> Json:
        make = self.makes_by_id[m.make_id]
        onboard = make.supported and not m.hidden
        return {
            "id": m.id,
            "url": self.model_url(m.id),
            "name": m.name,
            "make": (self.render_make(make, ctx) if exp and "make" in exp
                     else self.make_url(make.id)),
            "onboarding_url": self.onboarding_url(ctx, "model_id", m.id) if onboard else None,
            "vehicle_trims": f"{self.base}/vehicle_trims?model_id={m.id}",
            "default_battery_size_watt_hours": m.default_battery,
            "default_connector_type": m.default_connector,
        }

    def render_trim(self, t: Trim, ctx: RenderCtx = ANON, exp: Expand | None = None) -> Json:
        model = self.models_by_id[t.model_id]
        return {
            "id": t.id,
            "url": self.trim_url(t.id),
            "name": t.name,
            "model": (self.render_model(model, ctx, exp["model"]) if exp and "model" in exp
                      else self.model_url(model.id)),
            "battery_size_watt_hours": t.battery,
            "onboarding_url": (
                self.onboarding_url(ctx, "trim_id", t.id) if t.supported and not t.hidden
                else None),
        }

    def render_connector(self, c: ModelConnector) -> Json:
        return {
            "url": f"{self.model_url(c.model_id)}/connectors/{c.region}",
            "vehicle_model": self.model_url(c.model_id),
            "region": c.region,
            "connector_type": c.connector_type,
            "source": c.source,
            "confidence": c.confidence,
            "verified_at": None if c.verified_at is None else format_us(c.verified_at),
            "updated_at": format_us(c.updated_at),
        }

    def render_user(self, u: User) -> Json:
        return {
            "id": u.id,
            "url": self.user_url(u.id),
            "email": u.email,
            "full_name": u.full_name,
            "joined_at": format_us(u.joined_at),
            "terms_consent_datetime": None if u.terms_at is None else format_us(u.terms_at),
            "default_location": dict(u.location),
            "vehicles": [self.vehicle_url(v.id) for v in self.vehicles_by_id.values()
                         if v.user_id == u.id],
            "evses": [],
        }

    def latest_status_url(self, vid: str) -> str | None:
        newest = self.newest_key(vid, "status")
        return None if newest is None else self.log_url("status", vid, format_us(newest))

    def render_vehicle(
        self, v: Vehicle, ctx: RenderCtx = ANON, exp: Expand | None = None
    ) -> Json:
        trim = self.trims_by_id[v.trim_id]
        out: Json = {
            "id": v.id,
            "url": self.vehicle_url(v.id),
            "trim": (self.render_trim(trim, ctx, exp["trim"]) if exp and "trim" in exp
                     else self.trim_url(trim.id)),
            "user": (self.render_user(self.users_by_id[v.user_id]) if exp and "user" in exp
                     else self.user_url(v.user_id)),
            "latest_status_log": self.latest_status_url(v.id),
            "charging_sub_sessions": f"{self.base}/charging_sub_sessions?vehicle_id={v.id}",
            "integrated": v.integrated,
            "battery_size_watt_hours": v.battery,
            "effective_battery_size_watt_hours": v.effective_battery,
            "maximum_charge_limit_percentage": v.max_charge,
            "description": v.description,
            "disabled": v.disabled,
            "smart_charging_enabled": v.smart_charging,
            "vehicle_class": v.vehicle_class,
        }
        if exp and "latest_status_log" in exp and out["latest_status_log"] is not None:
            out["latest_status_log"] = loads(self.series_records(v.id, "status").item(0))
        return out

    def render_connectors(self, v: Vehicle) -> Json:
        model = self.models_by_id[self.trims_by_id[v.trim_id].model_id]
        native = v.native_override if v.native_override is not None else model.default_connector
        return {
            "url": f"{self.vehicle_url(v.id)}/connectors",
            "vehicle": self.vehicle_url(v.id),
            "native_connector": native,
            "adaptors": list(v.adaptors),
            "updated_at": (None if v.connectors_updated_at is None
                           else format_us(v.connectors_updated_at)),
        }

    def render_soc(self, v: Vehicle) -> Json:
        return {
            "url": f"{self.vehicle_url(v.id)}/state_of_charge",
            "vehicle": self.vehicle_url(v.id),
            "state_of_charge_percentage": v.soc,
            "source": v.soc_source,
            "updated_at": None if v.soc_updated_at is None else format_us(v.soc_updated_at),
        }

    def render_vpp(self, v: Vehicle) -> Json:
        t, i, e, c = v.vpp
        return {"target_power": t, "import_max_power": i, "export_max_power": e,
                "charge_mode": c}

    def region_of_country(self, country: str) -> str:
        return cat.NA if country.upper() in cat.NA_COUNTRIES else cat.EU

    def available_model_ids(self, region: str) -> set[str]:
        return {mid for (mid, r) in self.connectors if r == region}


_CHARGING = frozenset(
    {"PLUGGED_IN_CHARGING", "PLUGGED_IN_NEAR_READY_BY_TIME", "PLUGGED_IN_ALMOST_COMPLETE"}
)

# Markov transitions (cumulative thresholds) between vehicle states.
_TRANSITIONS: dict[str | None, tuple[tuple[float, str | None], ...]] = {
    "DRIVING": ((0.45, "DRIVING"), (0.85, "RECENTLY_FINISHED_DRIVING"), (0.97, "STATIONARY"),
                (1.0, "UNKNOWN")),
    "RECENTLY_FINISHED_DRIVING": ((0.4, "STATIONARY"), (0.8, "PLUGGED_IN_CHARGING"),
                                  (0.95, "PLUGGED_IN_NOT_CHARGING"), (1.0, "DRIVING")),
    "STATIONARY": ((0.35, "STATIONARY"), (0.65, "DRIVING"), (0.9, "PLUGGED_IN_CHARGING"),
                   (0.97, "PLUGGED_IN_NOT_CHARGING"), (0.99, "IN_SERVICE"), (1.0, None)),
    "IN_SERVICE": ((0.6, "IN_SERVICE"), (1.0, "STATIONARY")),
    "PLUGGED_IN_NOT_CHARGING": ((0.4, "PLUGGED_IN_NOT_CHARGING"), (0.8, "PLUGGED_IN_CHARGING"),
                                (1.0, "DRIVING")),
    "PLUGGED_IN_CHARGING": ((0.5, "PLUGGED_IN_CHARGING"), (0.7, "PLUGGED_IN_ALMOST_COMPLETE"),
                            (0.8, "PLUGGED_IN_NEAR_READY_BY_TIME"), (0.95, "PLUGGED_IN_COMPLETE"),
                            (1.0, "UNKNOWN")),
    "PLUGGED_IN_ALMOST_COMPLETE": ((0.3, "PLUGGED_IN_ALMOST_COMPLETE"),
                                   (1.0, "PLUGGED_IN_COMPLETE")),
    "PLUGGED_IN_NEAR_READY_BY_TIME": ((0.4, "PLUGGED_IN_NEAR_READY_BY_TIME"),
                                      (1.0, "PLUGGED_IN_COMPLETE")),
    "PLUGGED_IN_COMPLETE": ((0.5, "PLUGGED_IN_COMPLETE"), (1.0, "DRIVING")),
    "UNKNOWN": ((0.3, "UNKNOWN"), (0.7, "STATIONARY"), (1.0, "DRIVING")),
    None: ((0.3, None), (1.0, "STATIONARY")),
}


def _next_state(state: str | None, u: float) -> str | None:
    for threshold, nxt in _TRANSITIONS[state]:
        if u < threshold:
            return nxt
    return "STATIONARY"  # pragma: no cover - thresholds end at 1.0


def _check_kind(kind: str) -> None:
    if kind not in LOG_KEY_FIELD:
        raise ValueError(f"unknown log kind {kind!r}; known: {LOG_KINDS}")
