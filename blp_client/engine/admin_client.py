"""Calling the reference engine's admin API (`/admin/v1`) over HTTP, as an operator script
would: the demo and the benches drive the engine through it."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from ..auth import HEADER_ADMIN_TOKEN


class AdminError(RuntimeError):
    """The admin API answered with an error: the message names the path and the answer."""


async def admin_request(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    method: str,
    path: str,
    body: Any = None,
) -> Any:
    """One call of `{url}/admin/v1{path}`; a non-200 answer raises `AdminError`."""
    async with session.request(
        method, f"{url}/admin/v1{path}", json=body, headers={HEADER_ADMIN_TOKEN: token}
    ) as r:
        text = await r.text()  # an error may not be JSON (a proxy's page, aiohttp's 413)
        if r.status != 200:
            raise AdminError(f"admin {path}: HTTP {r.status}: {text}")
        return json.loads(text)
