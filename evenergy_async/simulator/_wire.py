"""Wire helpers of the simulator: JSON, timestamps, IDs, query strings.

Nothing here touches aiohttp; everything is pure and fast.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

try:  # pragma: no branch - depends on the environment
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None  # type: ignore[assignment]

__all__: list[str] = []  # private module

_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_AWARE = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (orjson when installed)."""
    if _orjson is not None:
        return _orjson.dumps(obj)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()  # pragma: no cover


def loads(data: bytes | str) -> Any:
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)  # pragma: no cover


_DAYS: dict[int, str] = {}
_HMS: list[str] = []


def _day_prefix(day: int) -> str:
    prefix = _DAYS.get(day)
    if prefix is None:
        if not _HMS:
            _HMS.extend(
                f"{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)
            )
        prefix = _DAYS[day] = (_EPOCH_NAIVE + timedelta(days=day)).date().isoformat() + "T"
    return prefix


def format_us(us: int) -> str:
    """Microseconds since the Unix epoch -> wire timestamp ``2026-11-01T09:39:45.984584Z``."""
    sec, frac = divmod(us, 1_000_000)
    day, rem = divmod(sec, 86400)
    prefix = _DAYS.get(day) or _day_prefix(day)
    return f"{prefix}{_HMS[rem]}{frac:06d}Z"


def format_dt(dt: datetime) -> str:
    return format_us(dt_to_us(dt))


def dt_to_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH_AWARE) // _ONE_US


def us_to_dt(us: int) -> datetime:
    return _EPOCH_AWARE + timedelta(microseconds=us)


def parse_ts(value: str) -> int:
    """Parse a client timestamp leniently; return microseconds since the epoch.

    Accepts ``Z``/``z``, ``+00:00`` or any offset, 0-9 fraction digits, and naive values
    (assumed UTC). A ``+`` that arrived as a space (unencoded in a query) is repaired.
    Raises ``ValueError`` for anything else.
    """
    s = value.strip().replace(" ", "+")
    if not s or len(s) > 64 or not s.isascii():
        raise ValueError("bad timestamp")
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    # Python 3.11 accepts 1-6 fraction digits only: trim longer fractions.
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            s = s[: dot + 7] + s[end:]
    if "T" not in s and "t" not in s:
        raise ValueError("bad timestamp")
    try:
        dt = datetime.fromisoformat(s)
    except (ValueError, OverflowError) as exc:
        raise ValueError("bad timestamp") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt_to_us(dt)
    except OverflowError as exc:  # pragma: no cover - extreme offsets
        raise ValueError("bad timestamp") from exc


def ulid(ms: int, rand80: int) -> str:
    """26-char Crockford base32 ULID from a 48-bit millisecond time and 80 random bits."""
    n = ((ms & 0xFFFFFFFFFFFF) << 80) | (rand80 & ((1 << 80) - 1))
    out = []
    for shift in range(125, -1, -5):
        out.append(CROCKFORD[(n >> shift) & 31])
    return "".join(out)


def derive_int(*parts: object, bits: int = 64) -> int:
    """A deterministic integer from arbitrary parts (stable across runs and platforms)."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=(bits + 7) // 8)
    return int.from_bytes(h.digest(), "big")


def derive_unit(*parts: object) -> tuple[float, float]:
    """Two deterministic floats in [0, 1) from arbitrary parts."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64, int.from_bytes(h[8:], "big") / 2.0**64


def derive_token(*parts: object, length: int = 40) -> str:
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=32).hexdigest()
    return h[:length]


def uuid_from_int(n: int) -> str:
    """Format 128 bits as a version-4 style UUID string."""
    n &= (1 << 128) - 1
    n = (n & ~(0xF000 << 64)) | (0x4000 << 64)
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe=':,')}" for k, v in pairs)
