"""Property tests generated from the OpenAPI document (hypothesis-jsonschema).

* Every response schema the client decodes (list items and single objects of every operation's
  2xx ``application/json`` answer): every spec-valid body decodes into the client's model.
* Every list operation: spec-valid query values get a 2xx, or a 4xx the operation declares
  (and the exchange passes the spec oracle, as every exchange in the suite does).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import evenergy_async
from evenergy_async._converter import structure
from evenergy_async.simulator import SimulatorConfig

from .spec_oracle import spec_dict, validated_simulator

SETTINGS = settings(max_examples=20, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])

REF_DEPTH = 3  # schemas are recursive (a log's vehicle's latest status log ...): expand 3 levels


def _resolve(ref: str) -> Any:
    node: Any = spec_dict()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline(node: Any, depth: int = REF_DEPTH) -> Any:
    """A self-contained JSON Schema: references expanded ``depth`` levels deep; a reference
    deeper than that matches nothing (only "URL or object" fields nest, so the URL remains)."""
    if isinstance(node, dict):
        if "$ref" in node:
            if depth <= 0:
                return {"not": {}}
            siblings = {k: inline(v, depth) for k, v in node.items() if k != "$ref"}
            return {**inline(_resolve(node["$ref"]), depth - 1), **siblings}
        return {k: inline(v, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v, depth) for v in node]
    return node


def _operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    out = []
    for path, item in spec_dict()["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                out.append((op["operationId"], method.upper(), path, op))
    return out


@functools.cache
def decoded_schemas() -> dict[str, str]:
    """Component schema name -> one operation whose 2xx JSON answer is it (or a list of it)."""
    names: dict[str, str] = {}
    for op_id, _, _, op in _operations():
        for code, resp in op["responses"].items():
            schema = resp.get("content", {}).get("application/json", {}).get("schema") if code.startswith("2") else None
            ref = (schema or {}).get("items", schema or {}).get("$ref")
            if ref:
                names.setdefault(ref.rsplit("/", 1)[1], op_id)
    return names


def test_every_decoded_schema_has_a_model() -> None:
    names = decoded_schemas()
    assert len(names) >= 17
    missing = [n for n in names if not hasattr(evenergy_async, n)]
    assert missing == [], "the client has no model named like these response schemas"


@pytest.mark.parametrize("name", sorted(decoded_schemas()))
def test_every_spec_valid_body_decodes(name: str) -> None:
    model = getattr(evenergy_async, name)
    schema = inline(spec_dict()["components"]["schemas"][name])

    @SETTINGS
    @given(from_schema(schema))
    def decodes(body: Any) -> None:
        assert isinstance(structure(body, model), model)

    decodes()


# -- query values of every list operation --------------------------------------------------


def _params(op: dict[str, Any], path_item: dict[str, Any]) -> list[dict[str, Any]]:
    raw = [*path_item.get("parameters", []), *op.get("parameters", [])]
    return [_resolve(p["$ref"]) if "$ref" in p else p for p in raw]


def list_operations() -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]], set[int]]]:
    out = []
    for op_id, method, path, op in _operations():
        ok = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if method != "GET" or ok.get("type") != "array":
            continue
        declared = {int(c) for c in op["responses"] if c.isdigit()}
        params = _params(op, spec_dict()["paths"][path])
        out.append((op_id, path, op, [p for p in params if p["in"] == "query"], declared))
    return out


def _wire(value: Any) -> list[str]:
    """A parameter value as query strings (form style, exploded arrays)."""
    if isinstance(value, list):
        return [v for item in value for v in _wire(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def query_strategy(params: list[dict[str, Any]]) -> st.SearchStrategy[list[tuple[str, str]]]:
    # an empty query value is not allowed unless declared (allowEmptyValue): none is here
    optional = {p["name"]: from_schema(inline(p["schema"])).filter(lambda v: "" not in _wire(v)) for p in params}
    return st.fixed_dictionaries({}, optional=optional).map(
        lambda values: [(k, s) for k, v in values.items() for s in _wire(v)]
    )


def test_there_are_nine_list_operations() -> None:
    assert len(list_operations()) == 9


@pytest.mark.parametrize("operation", list_operations(), ids=lambda o: o[0])
def test_spec_valid_queries_get_a_declared_answer(operation: Any) -> None:
    op_id, path, _, params, declared = operation
    loop = asyncio.new_event_loop()
    sim = validated_simulator(SimulatorConfig(users=2, vehicles=2, logs_per_kind=5))

    async def session_() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    loop.run_until_complete(sim.start())
    session = loop.run_until_complete(session_())
    values = {"vehicle_id": sim.data.vehicles_of(sim.user_id(0))[0]["id"], "vehicle_model_id": sim.data.models[0]["id"]}
    url = f"{sim.base_url}{path.format(**values)}"
    headers = {"Authorization": f"Bearer {sim.user_token(0)}"}

    async def status_of(query: list[tuple[str, str]]) -> int:
        async with session.get(url, params=query, headers=headers) as r:
            await r.read()
            return r.status

    try:
        @SETTINGS
        @given(query=query_strategy(params))
        def answers(query: list[tuple[str, str]]) -> None:
            status = loop.run_until_complete(status_of(query))
            assert 200 <= status < 300 or (400 <= status < 500 and status in declared), (
                f"{op_id} {query}: {status} is not declared ({sorted(declared)})")

        answers()
    finally:
        loop.run_until_complete(session.close())
        loop.run_until_complete(sim.close())
        loop.close()
