"""Every legal spelling of the Link header: same pages, same bodies, only headers differ."""

from __future__ import annotations

import re

import aiohttp
import pytest

from evenergy_async.simulator import FaultConfig, SimulatorConfig

from ..spec_oracle import validated_simulator
from .helpers import bearer

STYLES = ["joined", "lines", "lines_next_first", "unquoted", "multi_rel", "param_order",
          "odd_whitespace", "upper_case"]

_VALUE = re.compile(r'\s*<([^<>\s"]*)>((?:\s*;\s*[!#$%&\'*+.^_`|~\w-]+\s*(?:=\s*(?:"[^"]*"|[^\s;,"]+))?)*)\s*(?:,|$)')
_PARAM = re.compile(r'\s*;\s*([!#$%&\'*+.^_`|~\w-]+)\s*(?:=\s*(?:"([^"]*)"|([^\s;,"]+)))?')


def relations(lines: list[str]) -> dict[str, str]:
    """An independent, strict RFC 8288 reading of every Link field line (as one list)."""
    text = ", ".join(lines).strip()
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _VALUE.match(text, pos)
        assert m is not None and m.end() > pos, f"not RFC 8288: {text[pos:]!r}"
        for pm in _PARAM.finditer(m.group(2)):
            if pm.group(1).lower() == "rel":
                value = pm.group(2) if pm.group(2) is not None else pm.group(3)
                assert value, "rel without a value"
                for rel in value.split():
                    out.setdefault(rel.lower(), m.group(1))
        pos = m.end()
    return out


def rel_pair(lines: list[str]) -> tuple[str, str]:
    rels = relations(lines)
    return rels["previous"], rels["next"]


async def chain(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> list[tuple[bytes, list[str], dict[str, str]]]:
    """Every page of a list: body bytes, raw Link lines, relations (``previous``/``next``)."""
    pages = []
    while url != "about:blank":
        async with session.get(url, headers=headers) as r:
            assert r.status == 200
            lines = r.headers.getall("Link")
            rels = relations(lines)
            pages.append((await r.read(), lines, {k: rels[k] for k in ("previous", "next")}))
        url = rels["next"]
    assert len(pages) > 1
    return pages


async def pages_in_style(style: str, precompute: bool) -> dict[str, list[tuple[bytes, list[str], dict[str, str]]]]:
    cfg = SimulatorConfig(seed=3, users=1, vehicles=7, logs_per_kind=230, link_style=style,
                          precompute_pages=precompute)
    async with validated_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        h = bearer(sim.user_token(0))
        vid = sim.data.vehicles[0]["id"]
        base = str(sim.base_url)
        out = {
            "logs": await chain(session, f"{base}/vehicles/{vid}/status_logs?page_size=100", h),
            "filtered": await chain(
                session, f"{base}/vehicles/{vid}/command_logs?page_size=30"
                f"&logged_at__gte=2026-11-05T00:00:00Z", h),
            "vehicles": await chain(session, f"{base}/vehicles?page_size=2", h),
            "makes": await chain(session, f"{base}/vehicle_makes?page_size=7", {}),
        }
        mid = next(m for (m, _r) in sim.data.connectors)
        out["connectors"] = await chain(
            session, f"{base}/vehicle_models/{mid}/connectors?page_size=1", {})
        # the port differs between runs: compare URLs relative to the base
        return {
            name: [(body.replace(base.encode(), b"BASE"), lines,
                     {k: v.replace(base, "BASE") for k, v in rels.items()})
                   for body, lines, rels in pages]
            for name, pages in out.items()
        }


@pytest.mark.parametrize("precompute", [False, True])
async def test_every_style_serves_the_same_pages(precompute: bool) -> None:
    reference = await pages_in_style("joined", precompute)
    for style in STYLES[1:]:
        got = await pages_in_style(style, precompute)
        for name, pages in got.items():
            ref = reference[name]
            assert [b for b, _l, _r in pages] == [b for b, _l, _r in ref], (style, name)
            assert [r for _b, _l, r in pages] == [r for _b, _l, r in ref], (style, name)
            for _body, lines, _rels in pages:
                assert len(lines) == (2 if style.startswith("lines") else 1)
                if style == "lines":
                    assert 'rel="previous"' in lines[0]
                elif style == "lines_next_first":
                    assert 'rel="next"' in lines[0]
                elif style == "unquoted":
                    assert '"' not in lines[0].replace('"previous"', "").replace('"next"', "")
                    assert "rel=next" in lines[0]
                elif style == "multi_rel":
                    assert 'rel="nofollow next"' in lines[0]
                elif style == "upper_case":
                    assert "REL=" in lines[0] and "rel=" not in lines[0]
                elif style == "odd_whitespace":
                    assert "\t" in lines[0]


def test_unknown_styles_are_refused() -> None:
    with pytest.raises(ValueError, match="link_style"):
        SimulatorConfig(link_style="fancy")
    with pytest.raises(ValueError, match="link styles"):
        FaultConfig(link_styles=("lines", "fancy"))
    with pytest.raises(ValueError, match="at least one"):
        FaultConfig(link_styles=())
    assert "link_spelling" not in FaultConfig().kinds  # a legal answer: opt-in only


async def test_link_spelling_edge_kind_rotates_styles(session: aiohttp.ClientSession) -> None:
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=40)
    async with validated_simulator(cfg) as sim:
        h = bearer(sim.user_token(0))
        url = f"{sim.base_url}/vehicles/{sim.data.vehicles[0]['id']}/location_logs?page_size=10"
        async with session.get(url, headers=h) as r:
            plain_body, plain_rels = await r.read(), rel_pair(r.headers.getall("Link"))
        spelled = set()
        for _ in range(7):
            sim.inject_fault("link_spelling")
            async with session.get(url, headers=h) as r:
                assert await r.read() == plain_body
                lines = tuple(r.headers.getall("Link"))
                assert rel_pair(list(lines)) == plain_rels
                spelled.add(lines)
        assert len(spelled) == 7  # every non-default spelling once
        assert sim.stats.faults_injected["link_spelling"] == 7
        sim.set_faults(FaultConfig(rate=1.0, kinds={"link_spelling": 1.0},
                                   link_styles=("lines_next_first",)))
        async with session.get(url, headers=h) as r:
            lines = r.headers.getall("Link")
            assert len(lines) == 2 and 'rel="next"' in lines[0]
        async with session.get(f"{sim.base_url}/vehicles/{sim.data.vehicles[0]['id']}",
                               headers=h) as r:
            assert "Link" not in r.headers  # lists only


async def test_malformed_link_mangles_every_line(session: aiohttp.ClientSession) -> None:
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=40, link_style="lines")
    async with validated_simulator(cfg) as sim:
        url = f"{sim.base_url}/vehicles/{sim.data.vehicles[0]['id']}/status_logs?page_size=10"
        for _ in range(4):
            sim.inject_fault("malformed_link")
            async with session.get(url, headers=bearer(sim.user_token(0))) as r:
                lines = r.headers.getall("Link")
                assert len(lines) == 1
                with pytest.raises(AssertionError):
                    relations(lines)
