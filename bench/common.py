"""What the benches share: the admin token they start engines with and the admin call."""

from __future__ import annotations

from typing import Any

import aiohttp

from blp_client.auth import HEADER_ADMIN_TOKEN

TOKEN = "bench-admin-token"


async def admin(
    session: aiohttp.ClientSession, url: str, method: str, path: str, body: Any = None
) -> Any:
    """One `/admin/v1` call; a non-200 answer is an error naming the path."""
    async with session.request(
        method, f"{url}/admin/v1{path}", json=body, headers={HEADER_ADMIN_TOKEN: TOKEN}
    ) as r:
        data = await r.json()
        if r.status != 200:
            raise RuntimeError(f"admin {path}: {r.status} {data}")
        return data
