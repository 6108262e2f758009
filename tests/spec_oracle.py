"""The OpenAPI document as the suite's oracle: every exchange with the simulator is checked
against ``tests/spec/ev-energy-vehicles-openapi.yaml`` (an exact copy of the shared spec).

* ``validated_simulator(config)`` is the one way tests start a simulator: it installs
  ``SpecOracle.middleware`` (outermost), which validates every request the simulator receives
  and every response it serves with openapi-core, and records violations in the running
  test's ``Recorder``. The autouse fixture in ``tests/conftest.py`` fails the test that caused
  any (its teardown reports operation, direction, where and schema path).
* ``@pytest.mark.invalid_requests(reason)`` marks a test that sends requests breaking the
  document on purpose (the simulator's 400s, path injection, wrong auth ...): there, a request
  violation is tolerated only if the simulator refused the request with a 4xx; responses are
  still validated.
* Responses the fault injector altered on purpose (``Simulator.fault_log`` says which) are not
  held to the document; their requests are.
* The spec's known quirks are in ``quirks.py``: an explicit allow-list, one comment each.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import jsonschema_rs
import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema_path import SchemaPath
from multidict import CIMultiDict, MultiDict
from openapi_core import Config, OpenAPI
from openapi_core.casting.schemas import oas31_types_caster
from openapi_core.casting.schemas.factories import SchemaCastersFactory
from openapi_core.datatypes import RequestParameters
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_core.validation.schemas.factories import DialectSchemaValidatorsFactory
from openapi_core.validation.schemas.validators import SchemaValidator
from openapi_schema_validator import OAS31_BASE_DIALECT_ID, OAS30ReadValidator, OAS31Validator

from evenergy_async.simulator import Simulator, SimulatorConfig

from . import quirks

SPEC_PATH = Path(__file__).with_name("spec") / "ev-energy-vehicles-openapi.yaml"
SPEC_ORIGIN = "https://api.ev.energy"  # the document's server; the simulator's origin is swapped for it
API_PREFIX = "/v2"

# Fault kinds that leave a normal, spec-bound answer; every other kind alters the answer on purpose.
CONFORMING_FAULTS = frozenset({"stall", "repeat_record"})


# --------------------------------------------------------------------------- the document


@functools.cache
def spec_dict() -> dict[str, Any]:
    """The vendored document, parsed once per session (never modified)."""
    with SPEC_PATH.open("rb") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


class _BearerProvider(BaseProvider):
    """oauth2 (openapi-core only warns on it): the request must carry a bearer token."""

    def __call__(self, parameters: RequestParameters) -> Any:
        auth = parameters.header.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SecurityProviderError("no 'Authorization: Bearer <token>' header")
        return token


class _SecurityProviders(SecurityProviderFactory):
    PROVIDERS: ClassVar[dict[str, type[BaseProvider]]] = {**SecurityProviderFactory.PROVIDERS, "oauth2": _BearerProvider}


class _FastSchemaValidator(SchemaValidator):
    """openapi-core's schema validator with a Rust pre-check: a value jsonschema-rs finds valid
    (with the very format checks openapi-core uses) is valid; anything else goes through
    openapi-core's own validation, which gives the verdict and the errors."""

    _rs: jsonschema_rs.Validator | None = None

    def validate(self, value: Any) -> None:
        if self._rs is not None and self._rs.is_valid(value):
            return
        super().validate(value)


class _CachedSchemaValidators(DialectSchemaValidatorsFactory):
    """openapi-core builds a JSON Schema validator for every value it checks (a deep copy of
    the format checker, a $ref resolution each time); here each schema's is built once."""

    def __init__(self) -> None:
        # as openapi-core's own OAS 3.1 factory (incl. its choice of format checker)
        super().__init__(OAS31Validator, OAS31_BASE_DIALECT_ID, format_checker=OAS30ReadValidator.FORMAT_CHECKER)
        self._built: dict[tuple[Any, ...], SchemaValidator] = {}
        checker = self.format_checker
        # a Python callback per format: jsonschema-rs then judges formats exactly as openapi-core does
        self._formats = {name: functools.partial(checker.conforms, format=name) for name in checker.checkers}

    def create(self, spec: SchemaPath, schema: SchemaPath, *args: Any, **kwargs: Any) -> SchemaValidator:
        key = (schema.parts, args, tuple(sorted(kwargs.items())))
        built = self._built.get(key)
        if built is None:
            plain = super().create(spec, schema, *args, **kwargs)
            built = _FastSchemaValidator(plain.schema, plain.validator)
            if not args and not any(kwargs.values()):
                with schema.resolve() as resolved:
                    contents = resolved.contents
                if isinstance(contents, dict):
                    # the schema's own "#/components/..." references resolve against this root
                    rooted = {**contents, "components": spec_dict()["components"]}
                    built._rs = jsonschema_rs.Draft202012Validator(
                        rooted, formats=self._formats, validate_formats=True
                    )
            self._built[key] = built
        return built


@functools.cache
def _schema_validators() -> _CachedSchemaValidators:
    return _CachedSchemaValidators()


@functools.cache
def openapi() -> OpenAPI:
    """openapi-core over the document (with the quirks' in-memory spec fixes), built once."""
    # the document is immutable: let jsonschema-path keep every resolved path (its own cache,
    # off by default) instead of re-walking the tree on each read
    spec = SchemaPath.from_dict(quirks.patched_spec(spec_dict()), resolved_cache_maxsize=1 << 16)
    return OpenAPI(
        spec,
        config=Config(
            security_provider_factory=_SecurityProviders(),
            schema_validators_factory=_schema_validators(),
            schema_casters_factory=SchemaCastersFactory(_schema_validators(), oas31_types_caster),
            extra_media_type_deserializers={"application/problem+json": json.loads},
        ),
    )


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]


@functools.cache
def operations() -> tuple[Operation, ...]:
    out = []
    for template, item in spec_dict()["paths"].items():
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        for method, op in item.items():
            if method in ("get", "put", "post", "patch", "delete", "head", "options", "trace"):
                out.append(Operation(op["operationId"], method.upper(), template, re.compile(regex)))
    return tuple(out)


def find_operation(method: str, path: str) -> Operation | None:
    """The document's operation for a request path (``/v2/...``; a trailing slash is allowed)."""
    if not path.startswith(API_PREFIX + "/"):
        return None
    rel = path[len(API_PREFIX) :]
    if len(rel) > 1:
        rel = rel.rstrip("/") or rel
    for op in operations():
        if op.method == method.upper() and op.pattern.fullmatch(rel):
            return op
    return None


# --------------------------------------------------------------------------- exchanges


@dataclass
class SpecRequest:
    """openapi-core's request protocol over what the simulator received."""

    method_: str
    path_: str
    query: MultiDict[str]
    headers: CIMultiDict[str]
    body_: bytes | None
    content_type_: str
    parameters: RequestParameters = field(init=False)  # openapi-core fills in .path

    host_url = SPEC_ORIGIN

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(query=self.query, header=self.headers, cookie={})

    @property
    def path(self) -> str:
        rel = self.path_
        return rel.rstrip("/") if len(rel) > len(API_PREFIX) + 1 else rel

    @property
    def method(self) -> str:
        return self.method_.lower()

    @property
    def body(self) -> bytes | None:
        return self.body_

    @property
    def content_type(self) -> str:
        return self.content_type_


@dataclass(frozen=True)
class SpecResponse:
    status_code: int
    data: bytes
    headers: CIMultiDict[str]
    content_type: str


@dataclass(frozen=True)
class Violation:
    """One way an exchange breaks the document."""

    operation: str  # operationId, or "METHOD path" when no operation matches
    direction: str  # "request" | "response"
    where: str  # e.g. "query parameter page_after", "body", "header Link", "status"
    message: str
    keyword: str = ""  # the failed JSON Schema keyword ("pattern", "type", ...), if any
    schema_path: str = ""  # where in the document's schema (keyword path below `where`)
    instance_path: str = ""  # where in the value ("$[0].vin")
    exchange: str = ""  # "GET /v2/... -> 200"
    value: Any = None  # the offending value, for a schema violation

    def describe(self) -> str:
        loc = f" at {self.instance_path}" if self.instance_path not in ("", "$") else ""
        schema = f" [schema: {self.schema_path}]" if self.schema_path else ""
        return f"{self.operation} {self.direction} {self.where}{loc}: {self.message}{schema} ({self.exchange})"


def _text(exc: BaseException) -> str:
    try:
        return str(exc)[:300]
    except Exception:  # openapi-core's own __str__ can fail (a body that is not UTF-8)
        return f"{type(exc).__name__} (a value that cannot be shown)"


def _schema_errors(exc: BaseException) -> list[SchemaError] | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, InvalidSchemaValue):
            return list(seen.schema_errors)  # type: ignore[arg-type]
        seen = seen.__cause__ or seen.__context__
    return None


def _where(exc: BaseException, direction: str) -> str:
    name = getattr(exc, "name", None)
    location = getattr(exc, "location", None)
    if name is not None and location is not None:
        return f"{location} parameter {name}"
    if name is not None:
        return f"header {name}"
    cls = type(exc).__name__
    if "Security" in cls:
        return "security"
    if isinstance(exc, ResponseNotFound | PathError):
        return "status" if isinstance(exc, ResponseNotFound) else "path"
    return "body"


def _flatten(exc: BaseException, op: str, direction: str, exchange: str) -> Iterator[Violation]:
    where = _where(exc, direction)
    errors = _schema_errors(exc)
    if not errors:
        message = _text(exc) if exc.__cause__ is None else f"{_text(exc)}: {_text(exc.__cause__)}"
        yield Violation(op, direction, where, message, exchange=exchange)
        return
    for err in errors:
        leaves = [err] if not err.context else _leaves(err)
        for leaf in leaves:
            yield Violation(
                op, direction, where, leaf.message[:300], keyword=str(leaf.validator),
                schema_path="/".join(str(p) for p in leaf.absolute_schema_path),
                instance_path=leaf.json_path, exchange=exchange, value=leaf.instance,
            )


def _leaves(err: SchemaError) -> list[SchemaError]:
    """For anyOf/oneOf failures, the best-matching branch's own errors (else the error itself)."""
    from jsonschema.exceptions import best_match

    best = best_match(err.context or [])
    return [best] if best is not None else [err]


class Checker:
    """Validates exchanges against the document, memoised (validation is a pure function of
    the exchange's parts, and the suite repeats many identical pages)."""

    def __init__(self) -> None:
        self._requests: dict[tuple[Any, ...], tuple[Violation, ...]] = {}
        self._responses: dict[tuple[Any, ...], tuple[Violation, ...]] = {}

    def request(self, req: SpecRequest, op: Operation | None) -> tuple[Violation, ...]:
        exchange = f"{req.method_} {req.path_}{_qs(req.query)}"
        if op is None:
            return (Violation(f"{req.method_} {req.path_}", "request", "path",
                              "no operation of the document matches", exchange=exchange),)
        key = (req.method_, req.path_, tuple(req.query.items()), _header_key(req.headers, _REQ_HEADERS),
               req.body_, req.content_type_)
        hit = self._requests.get(key)
        if hit is None:
            errors = _errors_of(lambda: list(openapi().iter_request_errors(req)))
            hit = tuple(v for e in errors for v in _flatten(e, op.operation_id, "request", exchange))
            self._requests[key] = hit
        return hit

    def response(self, req: SpecRequest, op: Operation, resp: SpecResponse) -> tuple[Violation, ...]:
        exchange = f"{req.method_} {req.path_}{_qs(req.query)} -> {resp.status_code}"
        key = (op.operation_id, resp.status_code, resp.content_type, resp.data,
               _header_key(resp.headers, _RESP_HEADERS))
        hit = self._responses.get(key)
        if hit is None:
            errors = _errors_of(lambda: list(openapi().iter_response_errors(req, resp)))
            hit = tuple(v for e in errors for v in _flatten(e, op.operation_id, "response", exchange))
            self._responses[key] = hit
        # the exchange text differs between hits: restate it
        return tuple(_restate(v, exchange) for v in hit)


def _errors_of(run: Callable[[], list[Exception]]) -> list[Exception]:
    """openapi-core's errors; one it raises itself (e.g. a body that is not UTF-8) is one too."""
    try:
        return run()
    except Exception as exc:
        return [exc]


_REQ_HEADERS = ("authorization", "evenergy-version", "evenergy-user", "accept-language", "accept", "content-type")
_RESP_HEADERS = ("link", "evenergy-version", "x-ratelimit-limit", "x-ratelimit-remaining", "retry-after",
                 "retryafter", "location", "content-type")


def _header_key(headers: CIMultiDict[str], names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(headers.getall(n, ())) for n in names)


def _qs(query: MultiDict[str]) -> str:
    if not query:
        return ""
    return "?" + "&".join(f"{k}={v}" for k, v in query.items())


def _restate(v: Violation, exchange: str) -> Violation:
    if v.exchange == exchange:
        return v
    return dataclasses.replace(v, exchange=exchange)


@functools.cache
def checker() -> Checker:
    return Checker()


# --------------------------------------------------------------------------- per-test records


@dataclass(frozen=True)
class Exchange:
    """What the simulator received and what it answered, captured for checking later (checking
    after the test, not in the request path, leaves the simulator's timing as it is)."""

    request: SpecRequest
    status: int | None  # None: the handler never answered (cancelled by a client that left)
    response: SpecResponse | None  # None: not checkable (no answer, or a streamed one)
    fault: str | None  # the fault injected into this exchange (Simulator.fault_log)


@dataclass
class Recorder:
    """What one test's exchanges broke. ``tolerate_invalid_requests``: the test is marked
    ``invalid_requests`` (its non-conforming requests must be refused with a 4xx);
    ``tolerate_accepted``: ``invalid_requests(accepted=True)`` (the test checks that the
    simulator accepts some non-conforming requests liberally)."""

    test: str = ""
    tolerate_invalid_requests: bool = False
    tolerate_accepted: bool = False
    pending: list[Exchange] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    tolerated: list[Violation] = field(default_factory=list)
    exchanges: int = 0
    skipped_faults: int = 0

    def check_pending(self) -> list[Violation]:
        """Check the captured exchanges; returns (and keeps) the violations."""
        pending, self.pending = self.pending, []
        for ex in pending:
            self._check(ex)
        return self.violations

    def _check(self, ex: Exchange) -> None:
        self.exchanges += 1
        req = ex.request
        if req.path_.startswith("/o/"):
            return  # the OAuth endpoints are outside the document (README "Auth")
        op = find_operation(req.method_, req.path_)
        chk = checker()
        status = ex.status if ex.status is not None else 0
        req_violations = quirks.filter_violations(chk.request(req, op), req, status)
        if req_violations and self.tolerate_invalid_requests and (400 <= status < 500 or self.tolerate_accepted):
            self.tolerated.extend(req_violations)
            req_violations = ()
        self.violations.extend(req_violations)
        if ex.fault is not None and ex.fault not in CONFORMING_FAULTS:
            self.skipped_faults += 1
            return
        if op is None or ex.status is None:
            return  # no operation to hold the answer to (reported above, or tolerated) / no answer
        if ex.response is None:
            self.violations.append(Violation(op.operation_id, "response", "body", "a streamed answer cannot be checked",
                                             exchange=f"{req.method_} {req.path_}"))
            return
        self.violations.extend(quirks.filter_violations(chk.response(req, op, ex.response), req, status))

    def report(self) -> str:
        lines = [f"{len(self.violations)} violation(s) of the OpenAPI document ({SPEC_PATH.name}):"]
        seen: set[str] = set()
        for v in self.violations:
            text = v.describe()
            if text not in seen:
                seen.add(text)
                lines.append("  - " + text)
            if len(seen) >= 25:
                lines.append("  ... (more)")
                break
        lines.append("A real deviation: fix the simulator/client. A spec quirk: add it to tests/quirks.py.")
        return "\n".join(lines)


_current: Recorder | None = None


def current_recorder() -> Recorder:
    if _current is None:
        raise RuntimeError("no test is recording spec violations (use the autouse fixture in tests/conftest.py)")
    return _current


def set_recorder(rec: Recorder | None) -> None:
    global _current
    _current = rec


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SpecOracle:
    """The capturing middleware of one simulator (outermost: it sees every request)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.sim: Simulator | None = None
        self._claimed: set[int] = set()

    def _fault_of(self, request: web.Request, start: int) -> str | None:
        """The fault injected into this request, from the simulator's fault log."""
        if self.sim is None:
            return None
        for ev in self.sim.fault_log[start:]:
            if ev.index in self._claimed:
                continue
            if ev.method == request.method and ev.path == request.path and ev.query == request.query_string:
                self._claimed.add(ev.index)
                return ev.kind
        return None

    @staticmethod
    def _request(request: web.Request, body: bytes | None) -> SpecRequest:
        return SpecRequest(request.method, request.path, MultiDict(request.query), CIMultiDict(request.headers),
                           body or None, request.content_type if body else "")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        start = len(self.sim.fault_log) if self.sim is not None else 0
        try:
            resp = await handler(request)
        except BaseException:
            if not request.body_exists:  # what was sent is known: check the request at least
                self.recorder.pending.append(Exchange(self._request(request, None), None, None, None))
            raise
        fault = self._fault_of(request, start)
        try:
            body = await request.read()  # the handler has read it already, if it needed it
        except Exception:  # too large / connection gone: the handler answered for it
            body = None
        response = None
        if isinstance(resp, web.Response) and not resp.prepared:
            data = resp.body if isinstance(resp.body, bytes) else b""
            response = SpecResponse(resp.status, data, CIMultiDict(resp.headers), resp.content_type if data else "")
        self.recorder.pending.append(Exchange(self._request(request, body), resp.status, response, fault))
        return resp


def validated_simulator(
    config: SimulatorConfig | None = None, *, recorder: Recorder | None = None, middlewares: Iterable[Middleware] = ()
) -> Simulator:
    """A simulator whose every exchange is checked against the document (not started);
    ``middlewares`` go inside the oracle's (it still sees what they change)."""
    oracle = SpecOracle(recorder if recorder is not None else current_recorder())
    sim = Simulator(config, middlewares=[oracle.middleware, *middlewares])
    oracle.sim = sim
    return sim
