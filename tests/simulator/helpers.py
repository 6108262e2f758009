"""Small helpers shared by the simulator tests."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

LINK_RE = re.compile(r'<([^>]*)>;\s*rel="([^"]+)"')


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(client_id, secret)}


def links(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """``{"next": url, "previous": url}`` from the Link header."""
    return {rel: url for url, rel in LINK_RE.findall(resp.headers.get("Link", ""))}


async def get_json(
    session: aiohttp.ClientSession, url: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with session.get(url, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None), resp
