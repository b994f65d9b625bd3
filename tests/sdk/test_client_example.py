"""examples/stream_assignments.py against a real engine, as a user would run it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from blp_client import models as m
from blp_client.engine.server import RunningEngine

from .conftest import Admin

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "stream_assignments.py"


async def _run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_example_prints_assignments(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    await admin.force(3)
    code, out, err = await _run(
        ["--url", engine.url, "--key", creds.api_key, "--secret", creds.api_secret,
         "--count", "3"],
        {},
    )  # fmt: skip
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert [ln.split()[0] for ln in lines] == ["#2", "#3", "#4"]
    assert "BTC-PERP" in lines[0] and "remaining" in lines[0]


async def test_example_reads_env_and_resumes(
    engine: RunningEngine, admin: Admin, creds: m.Credentials
) -> None:
    await admin.force(3)
    env = {"BLP_URL": engine.url, "BLP_KEY": creds.api_key, "BLP_SECRET": creds.api_secret}
    code, out, err = await _run(["--from-seq", "3", "--count", "1"], env)
    assert code == 0, err
    assert [ln.split()[0] for ln in out.splitlines() if ln.startswith("#")] == ["#4"]


async def test_example_refused_key(engine: RunningEngine, creds: m.Credentials) -> None:
    env = {"BLP_URL": engine.url, "BLP_KEY": creds.api_key, "BLP_SECRET": "0" * 64}
    code, _, err = await _run(["--count", "1"], env)
    assert code == 2 and "refused" in err
