"""What the benches share: an engine child process, its admin token and the admin call."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from blp_client.engine.admin_client import admin_request

TOKEN = "bench-admin-token"


async def until(
    cond: Callable[[], bool],
    timeout: float,
    what: str,
    proc: asyncio.subprocess.Process | None = None,
    every: float = 0.05,
) -> None:
    """Wait for `cond`, polling every `every` s; a timeout (or `proc` exiting) is an error
    naming `what`, so a bench never reports figures from a run that did not finish."""
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"the bot exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


UNLIMITED = "1000000000000"  # rates and thresholds no bench reaches


def engine_toml(
    symbol: str,
    blps: list[tuple[str, str, str]],
    *,
    collateral: str = "100000000",
    limit: str = UNLIMITED,
    rate_limit: bool = False,
) -> str:
    """A bench engine's config: one contract at 50,000, no program minimums, and the BLPs
    `(name, api_key, api_secret)`, each with `collateral` and rates and a threshold of
    `limit` (the hour rate ten times it); `rate_limit` lifts the BLP API's own limit."""
    text = (
        f'admin_token = "{TOKEN}"\ninstruments = ["{symbol}"]\n'
        f'index = {{ "{symbol}" = "50000" }}\n'
        "program = { min_minute_rate = 0, min_hour_rate = 0 }\n"
    )
    if rate_limit:
        text += "rate_limit = { per_second = 10000.0, burst = 20000 }\n"
    for name, key, secret in blps:
        text += (
            f'\n[[blps]]\nname = "{name}"\napi_key = "{key}"\napi_secret = "{secret}"\n'
            f'collateral = "{collateral}"\nminute_rate = "{limit}"\n'
            f'hour_rate = "{limit}0"\n'
            f'max_position_notional = {{ "{symbol}" = "{limit}" }}\n'
        )
    return text


async def admin(
    session: aiohttp.ClientSession, url: str, method: str, path: str, body: Any = None
) -> Any:
    """One `/admin/v1` call with the benches' token; a non-200 answer is an error naming the
    path (`blp_client.engine.admin_client`)."""
    return await admin_request(session, url, TOKEN, method, path, body)


class Engine:
    """`blp engine` as a child process on a free loopback port, its output drained so a full
    pipe never blocks it."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc, self.url = proc, url
        self._drain = asyncio.create_task(self._drain_output())

    @classmethod
    async def start(cls, *args: str) -> Engine:
        """Start `blp engine --host 127.0.0.1 --port 0 *args`; return once it listens."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "blp_client.cli", "engine", "--host", "127.0.0.1", "--port", "0",
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(30):
                while True:
                    line = (await proc.stdout.readline()).decode()
                    if not line:
                        raise RuntimeError("the engine exited before listening")
                    found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
                    if found:
                        return cls(proc, found.group(1))
        except BaseException:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            raise

    async def _drain_output(self) -> None:
        assert self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain
