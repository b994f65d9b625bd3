"""The SDK is a library: it logs through structlog but configures no output, so a script that
uses it and configures no logging prints only what it prints itself. With logging configured
(the stdlib's, or structlog's) the SDK's events show up there."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

from blp_client import models as m
from blp_client.engine.server import RunningEngine
from blp_client.testing import FaultProxy

from .conftest import Admin

# connects, is cut (the proxy), reconnects, resumes, then reads 6 events and prints one line:
# the SDK logs `stream.connected`, `stream.disconnected`, `stream.reconnect_wait`,
# `stream.resumed` on the way
SCRIPT = textwrap.dedent(
    """
    import asyncio, contextlib, sys
    from blp_client import BLPClient

    async def main(url, key, secret):
        async with BLPClient(url, key, secret, reconnect_base=0.01, reconnect_max=0.05) as c:
            async with contextlib.aclosing(c.events(0)) as events:
                async for ev in events:
                    if ev.seq == 6:
                        break
            print("done", c.stats["reconnects"])

    SETUP
    asyncio.run(main(*sys.argv[1:4]))
    """
)


async def _run_script(
    tmp_path: Path, url: str, creds: m.Credentials, setup: str
) -> tuple[str, str]:
    script = tmp_path / "uses_the_sdk.py"
    script.write_text(SCRIPT.replace("SETUP", setup))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), url, creds.api_key, creds.api_secret,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode()


async def test_a_script_with_no_logging_configured_prints_nothing_from_the_sdk(
    engine: RunningEngine, admin: Admin, creds: m.Credentials, tmp_path: Path
) -> None:
    await admin.force(5)  # seqs 2..6
    async with FaultProxy(("127.0.0.1", engine.port)) as proxy:
        proxy.fail_next(1, after_bytes=800)  # the first stream is cut after a few events
        out, err = await _run_script(tmp_path, proxy.url(), creds, "")
        assert proxy.cuts == 1
    assert out == "done 1\n"  # only the script's own line: no `stream.connected` etc.
    assert err == ""


async def test_the_sdk_logs_where_the_application_configured_logging(
    engine: RunningEngine, admin: Admin, creds: m.Credentials, tmp_path: Path
) -> None:
    await admin.force(5)
    stdlib = "import logging; logging.basicConfig(level=logging.INFO, stream=sys.stderr)"
    out, err = await _run_script(tmp_path, engine.url, creds, stdlib)
    assert out == "done 0\n"
    assert "stream.connected" in err and "from_seq=0" in err  # `event key=value` lines
    configured = (
        "import structlog; structlog.configure(logger_factory=structlog.PrintLoggerFactory("
        "sys.stderr), processors=[structlog.processors.JSONRenderer()])"
    )
    out, err = await _run_script(tmp_path, engine.url, creds, configured)
    assert out == "done 0\n"
    assert '"event": "stream.connected"' in err  # through the application's structlog pipeline
