"""The one place where wire JSON becomes models and models become wire JSON.

Decoding (:func:`structure`, :func:`structure_list`) is fast and strict about types:

* Per model class, a decoding function is generated once (source code built from the attrs
  fields and compiled): no per-field dispatch, no ``try`` per field, exact-class type checks,
  enums by dict lookup, and the instance is filled as a plain mutable twin of identical slot
  layout which then becomes the frozen class (``__class__`` assignment), so the frozen
  ``__setattr__`` costs nothing. It rejects anything unexpected by raising.
* With the ``fast`` extra (msgspec), a list page's body bytes may skip JSON parsing and be
  decoded in C straight into the models (:class:`ListBodyDecoder`), but only where that gives
  exactly this module's result: its checks send every other page down the path below.
* When that fast path raises, a slow, validating interpreter of the same per-field plans
  decodes the input again and either returns the result or raises
  :class:`~evenergy_async._errors.ResponseDecodeError` with the JSONPath of the offending value
  (``$[3].vehicle.trim.name``) and a clear message (``expected integer, got str 'abc'``).

Wire rules (all of them live here, none in the models):

* Unknown fields are ignored. A missing required field, or ``null`` in a non-nullable one, is
  an error; missing optional fields decode to ``None`` (``UNSET`` in request models).
* ``bool`` is not an integer; an integer is accepted for a ``float``; a float is never accepted
  for an integer (except the RFC 9457 ``status``, a JSON number: ``400.0`` gives ``400``).
* Timestamps go through ``datetime.fromisoformat`` (``Z``, offsets, 0-9 fraction digits); naive
  ones are taken as UTC. Dates are ``YYYY-MM-DD``. Arrays decode to tuples.
* "URL or expanded object" fields: a JSON string stays a ``str``, an object becomes the model.
* Enum fields keep unknown values (see :class:`~evenergy_async._models.OpenEnum`).
* Nesting of objects is bounded (``MAX_DEPTH``): input can neither hang the decoder nor
  overflow the stack, and only ``ResponseDecodeError`` ever leaves :func:`structure`.

Encoding (:func:`unstructure`): request models drop ``UNSET`` fields and send ``None`` as
``null``; datetimes become wire timestamps (UTC, microseconds, ``Z``), dates ISO strings,
enums their values, tuples lists. Response models encode every field (``None`` as ``null``),
so ``structure(unstructure(m), type(m)) == m``.

``converter`` is the single :class:`cattrs.Converter` with these hooks registered for every
model, for ``datetime``, ``date`` and the enums.
"""

from __future__ import annotations

import operator
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from itertools import repeat
from typing import Any, Final, TypeVar, cast

import attrs
import cattrs

from . import _models
from ._errors import ResponseDecodeError
from ._models import UNSET, OpenEnum, Unset

__all__ = [
    "converter",
    "format_timestamp",
    "parse_timestamp",
    "structure",
    "structure_list",
    "unstructure",
]

T = TypeVar("T")

MAX_DEPTH: Final = 32
"""Deepest nesting of objects accepted in one response (real responses use fewer than 10)."""

_UTC: Final = UTC
_ZERO: Final = timedelta(0)
_fromiso = datetime.fromisoformat
_date_fromiso = date.fromisoformat


# --------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------

_TS_MAX_LEN: Final = 64
_LONG_FRACTION = re.compile(r"([.,][0-9]{6})[0-9]+")


def parse_timestamp(s: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp into a timezone-aware ``datetime``.

    Accepts ``Z`` or any offset, no fraction or 1-9 fraction digits (past microseconds they are
    truncated), lowercase ``t``/``z``; a naive timestamp is taken as UTC. Raises ``ValueError``
    for anything else (``TypeError`` if ``s`` is not a string).
    """
    try:
        dt = _fromiso(s)
    except ValueError:
        if len(s) > _TS_MAX_LEN:
            raise ValueError(f"invalid timestamp: longer than {_TS_MAX_LEN} characters") from None
        try:
            dt = _fromiso(_LONG_FRACTION.sub(r"\1", s.strip().upper()))
        except ValueError:
            raise ValueError(f"invalid timestamp {_short_str(s)}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)
    return dt


def format_timestamp(dt: datetime) -> str:
    """Format ``dt`` the way the API does: UTC, microseconds, ``Z`` (naive means UTC).

    >>> format_timestamp(datetime(2026, 11, 1, 9, 39, 45, 984584, tzinfo=UTC))
    '2026-11-01T09:39:45.984584Z'
    """
    tz = dt.tzinfo
    if tz is None:
        return dt.isoformat(timespec="microseconds") + "Z"
    if tz is not _UTC and dt.utcoffset() != _ZERO:
        dt = dt.astimezone(_UTC)
    return dt.isoformat(timespec="microseconds")[:-6] + "Z"  # drop the "+00:00"


# --------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------

_SHORT: Final = 40


def _short_str(s: str) -> str:
    if len(s) <= _SHORT:
        return repr(s)
    return f"{s[:_SHORT]!r}... ({len(s)} characters)"


def _describe(x: object) -> str:
    """A short description of a JSON value for messages (never expensive, never recursive)."""
    if x is None:
        return "null"
    if x is True or x is False:
        return f"bool {x}"
    if isinstance(x, str):
        return f"str {_short_str(x)}"
    if isinstance(x, int):
        return f"int {x}" if x.bit_length() <= 128 else f"int of {x.bit_length()} bits"
    if isinstance(x, float):
        return f"float {x!r}"
    if isinstance(x, list):
        return "list"
    if isinstance(x, Mapping):
        return "dict"
    return type(x).__name__


def _key_path(path: str, key: object) -> str:
    if isinstance(key, str) and key.isidentifier() and key.isascii():
        return f"{path}.{key}"
    if isinstance(key, str):
        return f"{path}[{_short_str(key)}]"
    return f"{path}[{_describe(key)}]"


def _error(expected: str, x: object, path: str) -> ResponseDecodeError:
    return ResponseDecodeError(f"expected {expected}, got {_describe(x)}", path=path)


_ABSENT: Final = object()


class _Fail(Exception):
    """Raised by the generated fast functions: "re-run the slow path to explain"."""


def _enum_fallback(cls: type[OpenEnum], x: object) -> OpenEnum:
    if not isinstance(x, str):
        raise _Fail
    return cls(x)


# --------------------------------------------------------------------------------------
# Type plans: one node per kind of value, each with a slow (validating, path-reporting)
# decoder and a code generator for the fast path.
# --------------------------------------------------------------------------------------


class _Gen:
    """Code generation context: one namespace shared by all generated functions."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {
            "_Fail": _Fail,
            "_UNSET": UNSET,
            "_UTC": _UTC,
            "_fromiso": _fromiso,
            "_date_fromiso": _date_fromiso,
            "_enum_fallback": _enum_fallback,
            "_new": object.__new__,
            "_fmt": format_timestamp,
            "MAX_DEPTH": MAX_DEPTH,
            "__builtins__": __builtins__,
        }
        self.counter = 0
        self.sources: dict[str, str] = {}  # generated source by function name (debugging)

    def ref(self, obj: object, hint: str) -> str:
        self.counter += 1
        name = f"_{hint}{self.counter}"
        self.ns[name] = obj
        return name

    def compile(self, source: str, name: str) -> Callable[..., Any]:
        self.sources[name] = source
        code = compile(source, f"<evenergy_async generated {name}>", "exec")
        exec(code, self.ns)
        return cast("Callable[..., Any]", self.ns[name])


class _Node:
    expected: str = "value"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        raise NotImplementedError

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        """Lines converting local ``v`` in place (``depth`` is the enclosing object's depth)."""
        raise NotImplementedError

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        """An expression giving the JSON form of ``v`` (which may be ``None``)."""
        return f"_uv({v})"


class _StrNode(_Node):
    expected = "string"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if isinstance(x, str):
            return x
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [f"{ind}if {v}.__class__ is not str: raise _Fail"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"({v} if {v}.__class__ is str else _uv({v}))"


class _IntNode(_Node):
    expected = "integer"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if isinstance(x, int) and not isinstance(x, bool):
            return x
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [f"{ind}if {v}.__class__ is not int: raise _Fail"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return v


class _IntNumberNode(_Node):
    """A JSON number that means an integer (RFC 9457 ``status``): ``400.0`` is ``400``."""

    expected = "integer"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if isinstance(x, int) and not isinstance(x, bool):
            return x
        if isinstance(x, float) and x.is_integer():
            return int(x)
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [
            f"{ind}if {v}.__class__ is not int:",
            f"{ind}    if {v}.__class__ is float and {v}.is_integer(): {v} = int({v})",
            f"{ind}    else: raise _Fail",
        ]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return v


class _FloatNode(_Node):
    expected = "number"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if isinstance(x, float):
            return x
        if isinstance(x, int) and not isinstance(x, bool):
            try:
                return float(x)
            except OverflowError:
                raise ResponseDecodeError(f"number out of range: {_describe(x)}", path=path) from None
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [
            f"{ind}if {v}.__class__ is not float:",
            f"{ind}    if {v}.__class__ is int: {v} = float({v})",
            f"{ind}    else: raise _Fail",
        ]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return v


class _BoolNode(_Node):
    expected = "boolean"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if x is True or x is False:
            return x
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [f"{ind}if {v} is not True and {v} is not False: raise _Fail"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return v


class _DateTimeNode(_Node):
    expected = "timestamp string"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if not isinstance(x, str):
            raise _error(self.expected, x, path)
        try:
            return parse_timestamp(x)
        except ValueError as e:
            raise ResponseDecodeError(str(e), path=path) from None

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        # fromisoformat raises TypeError for non-strings; parse_timestamp's fallbacks are
        # only tried on the slow path.
        return [
            f"{ind}{v} = _fromiso({v})",
            f"{ind}if {v}.tzinfo is None: {v} = {v}.replace(tzinfo=_UTC)",
        ]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"(None if {v} is None else _fmt({v}))"


class _DateNode(_Node):
    expected = "date string (YYYY-MM-DD)"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if not isinstance(x, str):
            raise _error(self.expected, x, path)
        if len(x) <= _TS_MAX_LEN:
            try:
                return _date_fromiso(x)
            except ValueError:
                pass
        raise ResponseDecodeError(f"invalid date {_short_str(x)}", path=path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [f"{ind}{v} = _date_fromiso({v})"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"(None if {v} is None else {v}.isoformat())"


class _EnumNode(_Node):
    def __init__(self, cls: type[OpenEnum]) -> None:
        self.cls = cls
        self.expected = f"string ({cls.__name__})"
        # value -> member, for a dict lookup instead of an Enum call per value
        self.lookup: dict[str, OpenEnum] = {m.value: m for m in cls}

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if isinstance(x, str):
            return self.cls(x)
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        lookup = gen.ref(self.lookup, "lk")
        cls = gen.ref(self.cls, "enum")
        return [
            f"{ind}_e = {lookup}.get({v})",
            f"{ind}{v} = _enum_fallback({cls}, {v}) if _e is None else _e",
        ]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"(None if {v} is None else _enum_value({v}))"


class _AnyNode(_Node):
    expected = "any JSON value"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        return x

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return []


class _ModelNode(_Node):
    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        self.expected = f"object ({cls.__name__})"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        return _registry.plan(self.cls).slow(x, path, depth + 1)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [f"{ind}{v} = {_registry.fast_name(self.cls)}({v}, depth + 1)"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"(None if {v} is None else {_registry.unstructure_name(self.cls)}({v}))"


class _UrlOrModelNode(_ModelNode):
    """``str | Model``: the resource's URL, or the expanded resource."""

    def __init__(self, cls: type[Any]) -> None:
        super().__init__(cls)
        self.expected = f"URL string or object ({cls.__name__})"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if isinstance(x, str):
            return x
        if isinstance(x, Mapping):
            return _registry.plan(self.cls).slow(x, path, depth + 1)
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        return [f"{ind}if {v}.__class__ is not str: {v} = {_registry.fast_name(self.cls)}({v}, depth + 1)"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"({v} if {v} is None or {v}.__class__ is str else _uv({v}))"


class _OptionalNode(_Node):
    def __init__(self, inner: _Node) -> None:
        self.inner = inner
        self.expected = f"{inner.expected} or null"

    def slow(self, x: Any, path: str, depth: int) -> Any:
        return None if x is None else self.inner.slow(x, path, depth)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        body = self.inner.inline(v, gen, ind + "    ")
        return [f"{ind}if {v} is not None:", *body] if body else []

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return self.inner.unstructure_expr(v, gen)


def _helper_fn(gen: _Gen, hint: str, body: list[str]) -> str:
    """Compile a helper ``f(x, depth) -> value`` from body lines working on local ``x``."""
    name = gen.ref(None, hint)
    src = "\n".join([f"def {name}(x, depth):", *body, "    return x", ""])
    gen.compile(src, name)
    return name


class _SeqNode(_Node):
    """A JSON array, decoded to a tuple."""

    def __init__(self, item: _Node, *, scalar_ok: bool = False, as_list: bool = False) -> None:
        self.item = item
        self.as_list = as_list  # decode to a list (for ``list[X]``), not a tuple
        self.scalar_ok = scalar_ok  # liberal: a bare item means a one-item array
        self.expected = "array"
        self._fast: str | None = None

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if isinstance(x, list):
            out = [self.item.slow(e, f"{path}[{i}]", depth) for i, e in enumerate(x)]
            return out if self.as_list else tuple(out)
        if self.scalar_ok and not isinstance(x, Mapping | list) and x is not None:
            return (self.item.slow(x, path, depth),)
        raise _error(self.expected, x, path)

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        if self._fast is None:
            item = self.item.inline("e", gen, "        ")
            body = [
                "    if x.__class__ is not list:",
                f"        {'x = [x]' if self.scalar_ok else 'raise _Fail'}",
            ]
            if self.scalar_ok:
                body.append("        if x[0] is None or x[0].__class__ is dict: raise _Fail")
            wrap = "list" if self.as_list else "tuple"
            if item:
                body += ["    out = []", "    for e in x:", *item, "        out.append(e)"]
                body.append(f"    x = {wrap}(out)")
            else:
                body.append(f"    x = {wrap}(x)")
            self._fast = _helper_fn(gen, "seq", body)
        return [f"{ind}{v} = {self._fast}({v}, depth)"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"(None if {v} is None else [_uv(_i) for _i in {v}])"


class _MapNode(_Node):
    """A JSON object with arbitrary string keys (``dict[str, X]``)."""

    def __init__(self, value: _Node) -> None:
        self.value = value
        self.expected = "object"
        self._fast: str | None = None

    def slow(self, x: Any, path: str, depth: int) -> Any:
        if not isinstance(x, Mapping):
            raise _error(self.expected, x, path)
        out = {}
        for k, val in x.items():
            if not isinstance(k, str):
                raise ResponseDecodeError(f"expected string key, got {_describe(k)}", path=path)
            out[k] = self.value.slow(val, _key_path(path, k), depth)
        return out

    def inline(self, v: str, gen: _Gen, ind: str) -> list[str]:
        if self._fast is None:
            item = self.value.inline("e", gen, "        ")
            body = [
                "    if x.__class__ is not dict: raise _Fail",
                "    out = {}",
                "    for k, e in x.items():",
                "        if k.__class__ is not str: raise _Fail",
                *item,
                "        out[k] = e",
                "    x = out",
            ]
            self._fast = _helper_fn(gen, "map", body)
        return [f"{ind}{v} = {self._fast}({v}, depth)"]

    def unstructure_expr(self, v: str, gen: _Gen) -> str:
        return f"(None if {v} is None else {{_k: _uv(_i) for _k, _i in {v}.items()}})"


# --------------------------------------------------------------------------------------
# Model plans
# --------------------------------------------------------------------------------------


@attrs.frozen
class _Field:
    name: str
    node: _Node
    required: bool
    nullable: bool
    missing: Any  # value of an absent optional field: None, or UNSET in request models
    aliases: tuple[str, ...] = ()


# Wire rules that are specific to one field of one model.
_ALIASES: Final[dict[tuple[type[Any], str], tuple[str, ...]]] = {
    # The spec's example of the reconnect response says `expiry` where the schema says `expires_at`.
    (_models.VehicleReconnectionUrl, "expires_at"): ("expiry",),
}
_NODE_OVERRIDES: Final[dict[tuple[type[Any], str], _Node]] = {
    # RFC 9457 `status` is typed `number`.
    (_models.ProblemDetail, "status"): _IntNumberNode(),
    # Liberal: a bare message where a list of messages belongs.
    (_models.ProblemDetail, "field_errors"): _MapNode(_SeqNode(_StrNode(), scalar_ok=True)),
}


class _ModelPlan:
    def __init__(self, cls: type[Any], fields: list[_Field]) -> None:
        self.cls = cls
        self.fields = fields

    def slow(self, d: Any, path: str, depth: int) -> Any:
        if not isinstance(d, Mapping):
            raise _error(f"object ({self.cls.__name__})", d, path)
        if depth > MAX_DEPTH:
            raise ResponseDecodeError(f"objects nested deeper than {MAX_DEPTH} levels", path=path)
        kwargs: dict[str, Any] = {}
        for f in self.fields:
            key = f.name
            x = d.get(key, _ABSENT)
            if x is None or x is _ABSENT:
                for alias in f.aliases:
                    ax = d.get(alias)
                    if ax is not None:
                        key, x = alias, ax
                        break
            if x is _ABSENT:
                if f.required:
                    raise ResponseDecodeError(f"missing required field {f.name!r}", path=f"{path}.{f.name}")
                kwargs[f.name] = f.missing
            elif x is None and f.nullable:
                kwargs[f.name] = None
            else:
                kwargs[f.name] = f.node.slow(x, _key_path(path, key), depth)
        return self.cls(**kwargs)


def _node_for(tp: Any, owner: type[Any] | None = None, name: str | None = None) -> _Node:
    if owner is not None and name is not None and (owner, name) in _NODE_OVERRIDES:
        return _NODE_OVERRIDES[(owner, name)]
    if tp is Any or tp is object:
        return _AnyNode()
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        members = [a for a in typing.get_args(tp) if a is not type(None) and a is not Unset]
        inner: _Node
        if len(members) == 1:
            inner = _node_for(members[0])
        elif len(members) == 2 and str in members:
            other = members[0] if members[1] is str else members[1]
            if not attrs.has(other):
                raise TypeError(f"unsupported union {tp!r}")
            inner = _UrlOrModelNode(other)
        else:
            raise TypeError(f"unsupported union {tp!r}")
        return _OptionalNode(inner) if type(None) in typing.get_args(tp) else inner
    if origin in (list, tuple, Sequence, typing.Sequence):
        args = typing.get_args(tp)
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            raise TypeError(f"unsupported tuple type {tp!r} (use tuple[X, ...])")
        return _SeqNode(_node_for(args[0]) if args else _AnyNode(), as_list=origin is list)
    if origin in (dict, Mapping, typing.Mapping):
        key, value = typing.get_args(tp) or (str, Any)
        if key is not str:
            raise TypeError(f"unsupported mapping key type {key!r}")
        return _MapNode(_node_for(value))
    if tp is str:
        return _StrNode()
    if tp is bool:
        return _BoolNode()
    if tp is int:
        return _IntNode()
    if tp is float:
        return _FloatNode()
    if tp is datetime:
        return _DateTimeNode()
    if tp is date:
        return _DateNode()
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        return _EnumNode(tp)
    if isinstance(tp, type) and attrs.has(tp):
        return _ModelNode(tp)
    raise TypeError(f"unsupported type {tp!r}")


class _Registry:
    """Plans and generated functions for every model class, built once per class."""

    def __init__(self) -> None:
        self.gen = _Gen()
        self.plans: dict[type[Any], _ModelPlan] = {}
        self.fast: dict[type[Any], Callable[[Any, int], Any]] = {}
        self.unstructure_fns: dict[type[Any], Callable[[Any], Any]] = {}
        self.values: dict[Any, tuple[Callable[[Any, int], Any], _Node]] = {}
        self.gen.ns["_uv"] = _unstructure_value
        self.gen.ns["_enum_value"] = _enum_value

    # names are stable so generated functions can refer to each other before they exist
    @staticmethod
    def fast_name(cls: type[Any]) -> str:
        return f"_structure_{cls.__module__.replace('.', '_')}_{cls.__qualname__.replace('.', '_')}"

    @staticmethod
    def unstructure_name(cls: type[Any]) -> str:
        return f"_unstructure_{cls.__module__.replace('.', '_')}_{cls.__qualname__.replace('.', '_')}"

    def plan(self, cls: type[Any]) -> _ModelPlan:
        plan = self.plans.get(cls)
        if plan is None:
            self.ensure(cls)
            plan = self.plans[cls]
        return plan

    def ensure(self, cls: type[Any]) -> None:
        if cls in self.plans:
            return
        if not attrs.has(cls):
            raise TypeError(f"{cls!r} is not an attrs class")
        hints = typing.get_type_hints(cls)
        fields: list[_Field] = []
        plan = _ModelPlan(cls, fields)
        self.plans[cls] = plan  # before building nested ones: the class graph has cycles
        nested: list[type[Any]] = []
        for a in attrs.fields(cls):
            tp = hints[a.name]
            args = typing.get_args(tp) if typing.get_origin(tp) in (types.UnionType, typing.Union) else ()
            nullable = type(None) in args
            if a.default is attrs.NOTHING:
                required, missing = True, None
            elif isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                raise TypeError(f"{cls.__name__}.{a.name}: factory defaults are not supported")
            else:
                required, missing = False, a.default
            stripped = tp
            if args:
                rest = [x for x in args if x is not type(None) and x is not Unset]
                stripped = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
            node = _node_for(stripped, cls, a.name)
            fields.append(_Field(a.name, node, required, nullable, missing, _ALIASES.get((cls, a.name), ())))
            nested.extend(_model_classes(node))
        try:
            for other in nested:
                self.ensure(other)
            self._generate(plan)
        except BaseException:
            del self.plans[cls]
            raise

    def _generate(self, plan: _ModelPlan) -> None:
        gen, cls = self.gen, plan.cls
        fname = self.fast_name(cls)
        cls_ref = gen.ref(cls, "cls")
        builder = _builder_class(cls)
        lines = [
            f"def {fname}(d, depth):",
            "    g = d.get",
            "    if depth > MAX_DEPTH: raise _Fail",
        ]
        if builder is not None:
            lines.append(f"    o = _new({gen.ref(builder, 'builder')})")
        else:
            lines.append(f"    o = _new({cls_ref})")
        for f in plan.fields:
            missing = gen.ref(f.missing, "missing")
            v = "v"
            if f.required:
                lines.append(f"    {v} = d[{f.name!r}]")
            elif f.missing is None:
                lines.append(f"    {v} = g({f.name!r})")
            else:
                lines.append(f"    {v} = g({f.name!r}, {missing})")
            for alias in f.aliases:
                lines.append(f"    if {v} is None: {v} = g({alias!r})")
            body = f.node.inline(v, gen, "        ")
            guards = []
            if f.nullable:
                guards.append(f"{v} is not None")
            if not f.required and f.missing is not None:
                guards.append(f"{v} is not {missing}")
            if guards:
                if body:
                    lines.append(f"    if {' and '.join(guards)}:")
                    lines.extend(body)
            else:
                lines.extend(line[4:] for line in body)
            if builder is not None:
                lines.append(f"    o.{f.name} = {v}")
            else:
                lines.append(f"    {gen.ref(_slot_setter(cls, f.name), 'set')}(o, {v})")
        if builder is not None:
            lines.append(f"    o.__class__ = {cls_ref}")
        lines.append("    return o")
        lines.append("")
        self.fast[cls] = gen.compile("\n".join(lines), fname)

        uname = self.unstructure_name(cls)
        lines = [f"def {uname}(o):", "    r = {}"]
        for f in plan.fields:
            expr = f.node.unstructure_expr("v", gen)
            lines.append(f"    v = o.{f.name}")
            if not f.required and f.missing is UNSET:
                lines.append(f"    if v is not _UNSET: r[{f.name!r}] = {expr}")
            else:
                lines.append(f"    r[{f.name!r}] = {expr}")
        lines.append("    return r")
        lines.append("")
        self.unstructure_fns[cls] = gen.compile("\n".join(lines), uname)

    def value_fn(self, tp: Any) -> tuple[Callable[[Any, int], Any], _Node]:
        """Fast decoder and plan for a non-model type (``list[Vehicle]``, ``dict[str, int]``)."""
        entry = self.values.get(tp)
        if entry is None:
            node = _node_for(tp)
            for other in _model_classes(node):
                self.ensure(other)
            body = node.inline("x", self.gen, "    ")
            fn = cast("Callable[[Any, int], Any]", self.gen.ns[_helper_fn(self.gen, "value", body)])
            entry = self.values[tp] = (fn, node)
        return entry


def _model_classes(node: _Node) -> list[type[Any]]:
    if isinstance(node, _ModelNode):
        return [node.cls]
    if isinstance(node, _OptionalNode):
        return _model_classes(node.inner)
    if isinstance(node, _SeqNode):
        return _model_classes(node.item)
    if isinstance(node, _MapNode):
        return _model_classes(node.value)
    return []


def _builder_class(cls: type[Any]) -> type[Any] | None:
    """A plain mutable class with the same slot layout as the frozen model ``cls``, or None.

    The fast path fills an instance of it with plain attribute stores (much cheaper than
    going around the frozen ``__setattr__``) and then sets ``__class__`` to ``cls``, which
    CPython allows between classes of identical layout. Any class where that does not work
    (a subclass, a ``__weakref__`` or ``__dict__`` slot) uses the slot descriptors instead.
    """
    slots = cls.__dict__.get("__slots__")
    names = [a.name for a in attrs.fields(cls)]
    if cls.__bases__ != (object,) or slots is None or sorted(slots) != sorted(names):
        return None
    builder = type(f"_{cls.__name__}Builder", (), {"__slots__": tuple(slots), "__module__": __name__})
    try:
        probe: Any = object.__new__(builder)
        for name in names:
            setattr(probe, name, None)
        probe.__class__ = cls
    except TypeError:  # pragma: no cover - depends on the interpreter
        return None
    if type(probe) is not cls or any(getattr(probe, name) is not None for name in names):
        return None  # pragma: no cover
    return builder


def _slot_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """The slot descriptor's ``__set__``: sets a frozen attrs field without ``__setattr__``."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None:
            return cast("Callable[[Any, Any], None]", descriptor.__set__)
    raise TypeError(f"{cls.__name__}.{name} is not a slot")  # pragma: no cover


# --------------------------------------------------------------------------------------
# Unstructuring
# --------------------------------------------------------------------------------------


def _enum_value(x: Any) -> Any:
    return x._value_ if isinstance(x, Enum) else x


def _unstructure_value(x: Any) -> Any:
    cls = x.__class__
    if x is None or cls is str or cls is int or cls is float or cls is bool:
        return x
    fn = _registry.unstructure_fns.get(cls)
    if fn is not None:
        return fn(x)
    if isinstance(x, Unset):
        raise TypeError("UNSET is only meaningful as the value of a request-model field")
    if isinstance(x, Enum):
        return x._value_
    if isinstance(x, datetime):
        return format_timestamp(x)
    if isinstance(x, date):
        return x.isoformat()
    if isinstance(x, list | tuple):
        return [_unstructure_value(e) for e in x]
    if isinstance(x, Mapping):
        return {k: _unstructure_value(v) for k, v in x.items()}
    if attrs.has(cls):
        _registry.ensure(cls)
        return _registry.unstructure_fns[cls](x)
    if isinstance(x, str | int | float):
        return x
    raise TypeError(f"cannot unstructure {type(x).__name__}")


def unstructure(obj: Any) -> Any:
    """The JSON-able form of a model (or of lists/dicts of models and values).

    Request models leave out ``UNSET`` fields and send ``None`` as ``null``; datetimes become
    wire timestamps, enums their values.
    """
    return _unstructure_value(obj)


# --------------------------------------------------------------------------------------
# Request bodies: checked against the spec before they are sent
# --------------------------------------------------------------------------------------


@attrs.frozen
class _Rule:
    """A request field's constraints in the spec (beyond its type, which the model declares)."""

    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None  # when the spec allows fewer values than the Python enum
    uuid: bool = False


_SIZE = _Rule(minimum=1000, maximum=300000)
_VEHICLE_CLASS = _Rule(enum=("PASSENGER", "COMMERCIAL"))

REQUEST_RULES: Final[dict[str, dict[str, _Rule]]] = {
    # model -> field -> the spec's minimum/maximum/maxLength/pattern/enum/format of its request schema
    # (tests/test_request_bodies.py reads the spec and checks this table against it)
    "VehicleCreate": {"battery_size_watt_hours": _SIZE, "description": _Rule(max_length=200), "vehicle_class": _VEHICLE_CLASS},
    "VehicleUpdate": {
        "battery_size_watt_hours": _SIZE,
        "maximum_charge_limit_percentage": _Rule(minimum=50, maximum=100),
        "vehicle_class": _VEHICLE_CLASS,
    },
    "VehicleTrimCreate": {"battery_size_watt_hours": _SIZE},
    "VehicleStateOfChargeUpdate": {"state_of_charge_percentage": _Rule(minimum=0, maximum=100)},
    "VehicleConnectorsUpdate": {
        "native_connector": _Rule(enum=("CCS", "NACS", "CHADEMO")),
        "adaptors": _Rule(enum=("CCS", "NACS", "CHADEMO")),
    },
    "VehicleModelUpdate": {"default_connector_type": _Rule(enum=("CCS", "NACS", "CHADEMO"))},
    "VehicleOnboardingCompleteRequest": {"authorization_request_uid": _Rule(uuid=True), "smartcar_user_id": _Rule(max_length=100)},
    "VehicleWaitlistRequest": {
        "program_id": _Rule(pattern=r"prog[A-Z\d]{26}"),
        "vehicle_model_id": _Rule(pattern=r"vmod[A-Z\d]{26}"),
    },
}

_NONE_TYPE = type(None)
_checks: dict[type, list[tuple[str, Any, _Rule | None]]] = {}


def _field_checks(cls: type) -> list[tuple[str, Any, _Rule | None]]:
    checks = _checks.get(cls)
    if checks is None:
        hints = typing.get_type_hints(cls, vars(_models))
        rules = REQUEST_RULES.get(cls.__name__, {})
        checks = _checks[cls] = [(f.name, hints[f.name], rules.get(f.name)) for f in attrs.fields(cls)]
    return checks


def _type_name(tp: Any) -> str:
    return {int: "an integer", bool: "true or false", str: "a string", datetime: "a datetime"}.get(tp, getattr(tp, "__name__", str(tp)))


def _check_value(where: str, value: Any, tp: Any, rule: _Rule | None) -> None:
    """Raise TypeError/ValueError unless ``value`` fits ``tp`` (a request field's annotation) and
    ``rule``. Text values are never quoted back (a request may carry a code or an ID)."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    if value is None:
        if _NONE_TYPE in args:
            return
        raise TypeError(f"{where} may not be None")
    base = next(a for a in args if a is not Unset and a is not _NONE_TYPE)
    origin = typing.get_origin(base)
    if origin is not None and issubclass(origin, Sequence):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise TypeError(f"{where} must be a list, not {type(value).__name__}")
        (item,) = typing.get_args(base)
        for i, element in enumerate(value):
            _check_value(f"{where}[{i}]", element, item, rule)
        return
    if isinstance(base, type) and issubclass(base, Enum):
        known = [m.value for m in base]
        allowed = rule.enum if rule is not None and rule.enum is not None else known
        if not isinstance(value, str):
            raise TypeError(f"{where} must be one of {', '.join(allowed)}, not {type(value).__name__}")
        if str.__str__(value) not in allowed:
            raise ValueError(f"{where} must be one of {', '.join(allowed)}, got {str.__str__(value)[:40]!r}")
        return
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, base)
    if not ok:
        raise TypeError(f"{where} must be {_type_name(base)}, not {type(value).__name__}")
    if rule is None:
        return
    if (rule.minimum is not None and value < rule.minimum) or (rule.maximum is not None and value > rule.maximum):
        raise ValueError(f"{where} must be {rule.minimum}..{rule.maximum}, got {value}")
    if rule.max_length is not None and len(value) > rule.max_length:
        raise ValueError(f"{where} must be at most {rule.max_length} characters, got {len(value)}")
    if rule.pattern is not None and not re.fullmatch(rule.pattern, value):
        raise ValueError(f"{where} must match {rule.pattern}")
    if rule.uuid:
        import uuid

        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError(f"{where} must be a UUID") from None


def request_body(obj: Any) -> Any:
    """:func:`unstructure` of a request model, after checking each field it sends against the
    spec (type, range, length, pattern, allowed values): the server is sent only what the
    spec allows. A wrong value is a TypeError or ValueError naming ``Model.field``; nothing is
    sent. An enum value the library does not know (kept from a response) is refused too."""
    cls = type(obj)
    if attrs.has(cls):
        for name, tp, rule in _field_checks(cls):
            value = getattr(obj, name)
            if value is not UNSET:
                _check_value(f"{cls.__name__}.{name}", value, tp, rule)
    return unstructure(obj)


# --------------------------------------------------------------------------------------
# Structuring
# --------------------------------------------------------------------------------------

_registry = _Registry()


def _slow_value(data: Any, tp: Any, path: str) -> Any:
    try:
        if isinstance(tp, type) and attrs.has(tp):
            return _registry.plan(tp).slow(data, path, 0)
        return _registry.value_fn(tp)[1].slow(data, path, -1)
    except ResponseDecodeError:
        raise
    except RecursionError:
        raise ResponseDecodeError("input nested too deeply", path=path) from None
    except MemoryError:
        raise
    except Exception as e:  # a bug in this module: still honour "only ResponseDecodeError"
        raise ResponseDecodeError(f"internal decoding error ({type(e).__name__}: {e})", path=path) from e


def structure(data: Any, cls: type[T]) -> T:
    """Decode JSON ``data`` (as from ``json.loads``) into ``cls``.

    ``cls`` is a model class, or a type built from models and JSON types (``list[Vehicle]``,
    ``dict[str, int]``, ...). Raises :class:`ResponseDecodeError` (and nothing else) with the
    JSONPath of the first offending value.
    """
    fn = _registry.fast.get(cls)
    if fn is None:
        if isinstance(cls, type) and attrs.has(cls):
            _registry.ensure(cls)
            fn = _registry.fast[cls]
        else:
            try:
                vfn = _registry.value_fn(cls)[0]
            except TypeError as e:
                raise TypeError(f"cannot structure into {cls!r}: {e}") from None
            try:
                return cast(T, vfn(data, -1))
            except Exception:
                return cast(T, _slow_value(data, cls, "$"))
    try:
        return cast(T, fn(data, 0))
    except Exception:
        return cast(T, _slow_value(data, cls, "$"))


def structure_list(data: Any, cls: type[T]) -> list[T]:
    """Decode a JSON array of ``cls`` objects (a list page); error paths start ``$[i]``."""
    if not isinstance(data, list):
        raise _error("array", data, "$")
    fn = _registry.fast.get(cls)
    if fn is None:
        if not (isinstance(cls, type) and attrs.has(cls)):
            return cast("list[T]", structure(data, list[cls]))  # type: ignore[valid-type]
        _registry.ensure(cls)
        fn = _registry.fast[cls]
    try:
        return [fn(d, 0) for d in data]
    except Exception:
        pass
    return [_slow_value(d, cls, f"$[{i}]") for i, d in enumerate(data)]


# --------------------------------------------------------------------------------------
# List pages from bytes, in C (the ``fast`` extra: msgspec)
# --------------------------------------------------------------------------------------

_LONG_FRACTION_ANY: Final = re.compile(r"[.,][0-9]{7}")
_FAST_SCALARS: Final = (str, int, bool)


@attrs.frozen(slots=True, weakref_slot=False)
class FastPage:
    """A list page decoded by :class:`ListBodyDecoder`: ``items`` (the models, exactly what
    :func:`structure_list` makes of the parsed page) and ``fields``: per item, the raw strings
    of its timestamp and "URL or object" fields and its ``url`` (attributes of those names;
    what a caller that needs the strings as sent reads, e.g. the harvester's URL check)."""

    items: list[Any]
    fields: list[Any]


class ListBodyDecoder:
    """Decodes a list page's body bytes straight into models, in C (msgspec), or declines.

    ``decode(body)`` returns a :class:`FastPage` only when the result is exactly what
    ``structure_list(decode_json(body), cls)`` returns; otherwise None, and the caller takes
    the general path (which also makes any error and its JSONPath). msgspec reads a model by
    rules that differ from ours only in these places, each caught before a page is returned:

    * a timestamp without an offset: msgspec keeps it naive, we take it as UTC (checked on
      the decoded values);
    * more than 6 fraction digits: msgspec rounds, we truncate (checked on the raw strings);
    * a "URL or object" field holding an object (decoded as a string only, else declined);
    * inputs msgspec refuses that we accept (a comma before the fraction, no seconds, an
      hour-only offset, a lone surrogate escape, integers past 64 bits): it raises, we decline.

    One difference is kept on purpose: a number past a double's range (``1e999``) in a field
    the model ignores is valid JSON (RFC 8259) that orjson refuses, failing the whole page;
    msgspec skips it, and the page decodes as the stdlib's parse of it would.

    Only models whose fields are all ``str``, ``int``, ``bool``, open enums, ``datetime`` or
    "URL or object" (each possibly optional) get one (:func:`list_body_decoder`).
    """

    __slots__ = ("_dt_fields", "_errors", "_fields", "_items")

    def __init__(self, cls: type[Any], msgspec: Any, dt_fields: tuple[str, ...], str_fields: tuple[str, ...]) -> None:
        self._items = msgspec.json.Decoder(list[cls])  # type: ignore[valid-type]
        spec = [(name, str | None, None) for name in dict.fromkeys(("url", *dt_fields, *str_fields))]
        strings = msgspec.defstruct(f"{cls.__name__}Strings", spec, gc=False)  # str and None only: no cycles
        self._fields = msgspec.json.Decoder(list[strings])  # type: ignore[valid-type]
        self._dt_fields = tuple(operator.attrgetter(name) for name in dt_fields)
        self._errors = _msgspec_errors(msgspec)

    def decode(self, body: bytes) -> FastPage | None:
        try:
            items = self._items.decode(body)
            fields = self._fields.decode(body)
        except self._errors:
            return None
        for get in self._dt_fields:
            if None in map(_get_tzinfo, filter(None, map(get, items))):
                return None  # naive: msgspec keeps it so, we take it as UTC
            # msgspec rounds past microseconds, we truncate. An aware RFC 3339 timestamp (all
            # msgspec takes) of at most 27 characters has at most 6 fraction digits: 19 before
            # the fraction, its ".", and at least "Z" after it; only longer ones are searched.
            strings = list(filter(None, map(get, fields)))
            if max(map(len, strings), default=0) > 27 and _LONG_FRACTION_ANY.search("".join(strings)):
                return None
        return FastPage(items, fields)

    def items(self, body: bytes) -> list[Any] | None:
        """:meth:`decode`'s items alone (None when it declines)."""
        page = self.decode(body)
        return None if page is None else page.items


_get_tzinfo = operator.attrgetter("tzinfo")


def _msgspec_errors(msgspec: Any) -> tuple[type[BaseException], ...]:
    """What a C decoder may raise on a body it cannot take: the page is then declined (the
    general path makes the error). RecursionError: nesting past what it recurses into."""
    return (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, OverflowError, RecursionError)


_body_decoders: dict[type[Any], ListBodyDecoder | None] = {}


def _import_msgspec() -> Any:
    """msgspec (the ``fast`` extra), or None. Imported with this module, as orjson is: an
    import on first use would hold up the event loop (about 3 ms) inside a request."""
    try:
        import msgspec
    except ImportError:
        return None
    return msgspec if hasattr(msgspec.json, "Decoder") else None


_msgspec: Any = _import_msgspec()


def list_body_decoder(cls: type[Any]) -> ListBodyDecoder | None:
    """The C decoder of JSON arrays of ``cls`` (see :class:`ListBodyDecoder`), or None: msgspec
    is not installed, or ``cls`` has a field it would read by other rules than ours."""
    if cls in _body_decoders:
        return _body_decoders[cls]
    decoder = None
    msgspec = _msgspec
    if msgspec is not None and isinstance(cls, type) and attrs.has(cls):
        plan = _fast_plan(cls)
        if plan is not None:
            decoder = ListBodyDecoder(cls, msgspec, *plan)
    _body_decoders[cls] = decoder
    return decoder


class JsonListDecoder:
    """Splits a list page's body into its records' JSON texts, in C (msgspec), or declines.

    ``decode(body)`` returns ``(texts, fields, present)``: per record, its JSON object exactly
    as the server wrote it (``bytes``); the raw strings of ``names`` (attributes; None when
    missing or null); and whether any record has a key of ``present`` (any value). None (the
    caller parses the page instead) unless the body is ASCII (so every text is valid UTF-8,
    whatever the server's escapes), holds no line break (each text is one line), is an array
    of objects and each named field is a string or null.
    """

    __slots__ = ("_errors", "_fields", "_present", "_texts")

    def __init__(self, msgspec: Any, names: tuple[str, ...], present: tuple[str, ...]) -> None:
        self._texts = msgspec.json.Decoder(list[msgspec.Raw])
        spec: list[tuple[str, Any, Any]] = [(name, str | None, None) for name in names]
        spec += [(name, msgspec.Raw, _ABSENT_RAW) for name in present]  # not decoded, only seen
        strings = msgspec.defstruct("RecordStrings", spec, gc=False)  # no cycles: bytes, str, None
        self._fields = msgspec.json.Decoder(list[strings])  # type: ignore[valid-type]
        self._present = tuple(operator.attrgetter(name) for name in present)
        self._errors = _msgspec_errors(msgspec)

    def decode(self, body: bytes) -> tuple[list[bytes], list[Any], bool] | None:
        if not body.isascii() or b"\n" in body or b"\r" in body:
            return None
        try:
            fields = self._fields.decode(body)  # first: it refuses an element that is no object
            texts = self._texts.decode(body)
        except self._errors:
            return None
        present = any(any(map(operator.is_not, map(get, fields), repeat(_ABSENT_RAW))) for get in self._present)
        return list(map(bytes, texts)), fields, present


_ABSENT_RAW: Final = b""  # the default of a key that is only looked for: no JSON value is empty
_json_decoders: dict[tuple[tuple[str, ...], tuple[str, ...]], JsonListDecoder | None] = {}


def json_list_decoder(names: tuple[str, ...], present: tuple[str, ...] = ()) -> JsonListDecoder | None:
    """The :class:`JsonListDecoder` reading the string fields ``names`` and noting the keys
    ``present``, or None without msgspec."""
    key = (names, present)
    if key not in _json_decoders:
        msgspec = _msgspec
        _json_decoders[key] = None if msgspec is None else JsonListDecoder(msgspec, names, present)
    return _json_decoders[key]


def list_items_from_body(cls: type[T]) -> Callable[[bytes], list[T] | None] | None:
    """``body -> list of cls`` by :func:`list_body_decoder` (None when it declines), or None
    when there is no such decoder: what a paginator takes as ``from_body``."""
    decoder = list_body_decoder(cls)
    return None if decoder is None else decoder.items


def _fast_plan(cls: type[Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(datetime fields, "URL or object" fields) of a model msgspec reads as we do, else None."""
    hints = typing.get_type_hints(cls)
    dt_fields: list[str] = []
    str_fields: list[str] = []
    for field in attrs.fields(cls):
        if field.alias != field.name or field.converter is not None or field.validator is not None:
            return None
        args = [a for a in typing.get_args(hints[field.name]) if a is not type(None)] or [hints[field.name]]
        if len(args) == 1 and args[0] in _FAST_SCALARS:
            continue
        if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], OpenEnum):
            continue
        if len(args) == 1 and args[0] is datetime:
            dt_fields.append(field.name)
        elif len(args) == 2 and args[0] is str and isinstance(args[1], type) and attrs.has(args[1]):
            str_fields.append(field.name)
        else:
            return None
    return tuple(dt_fields), tuple(str_fields)


# --------------------------------------------------------------------------------------
# The cattrs converter
# --------------------------------------------------------------------------------------


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()

    def model_hook(data: Any, cls: type[Any]) -> Any:
        return structure(data, cls)

    for cls in (*_models.RESPONSE_MODELS, *_models.REQUEST_MODELS):
        _registry.ensure(cls)
        conv.register_structure_hook(cls, model_hook)
        conv.register_unstructure_hook(cls, _registry.unstructure_fns[cls])

    def is_open_enum(tp: Any) -> bool:
        return isinstance(tp, type) and issubclass(tp, OpenEnum)

    conv.register_structure_hook_func(is_open_enum, lambda v, tp: structure(v, tp))
    conv.register_unstructure_hook_func(is_open_enum, _enum_value)
    conv.register_structure_hook(datetime, lambda v, _: structure(v, datetime))
    conv.register_unstructure_hook(datetime, format_timestamp)
    conv.register_structure_hook(date, lambda v, _: structure(v, date))
    conv.register_unstructure_hook(date, date.isoformat)
    return conv


converter: Final[cattrs.Converter] = _make_converter()
"""The single converter: structure and unstructure hooks for every model, datetime, date, enum."""
