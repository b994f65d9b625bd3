"""What the benches share: the admin token they start engines with and the admin call."""

from __future__ import annotations

from typing import Any

import aiohttp

from blp_client.engine.admin_client import admin_request

TOKEN = "bench-admin-token"


async def admin(
    session: aiohttp.ClientSession, url: str, method: str, path: str, body: Any = None
) -> Any:
    """One `/admin/v1` call with the benches' token; a non-200 answer is an error naming the
    path (`blp_client.engine.admin_client`)."""
    return await admin_request(session, url, TOKEN, method, path, body)
