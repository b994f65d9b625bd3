"""What a desk operator meets (issue 13): the dangerous mistakes are refused, and each expected
failure is one line on stderr saying what to do, with no traceback, exit status 2.

Each test runs the real `blp bot` CLI as a subprocess against a real engine on 127.0.0.1
(`e2e_harness`); a second bot is a second real process.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path

from blp_client.bot.journal_open import open_journal
from blp_client.client import BLPClient

from .e2e_harness import KEY, ROOT, SECRET, SYM, Stack, caught_up, running_stack, wait_for

D = Decimal


async def run_cli(stack: Stack, config: Path, *args: str, **env: str) -> tuple[int, str]:
    """`blp bot -c config` to its end (it must end by itself): (exit status, stderr)."""
    full = {**os.environ, **stack.bot_env(), "PYTHONPATH": str(ROOT), **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "blp_client.cli", "bot", "-c", str(config), *args,
        cwd=str(ROOT), env=full, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def the_line(stderr: str) -> str:
    """The one plain line of stderr: the others are the daemon's JSON logs, and neither
    holds a traceback."""
    assert "Traceback" not in stderr, stderr
    plain = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            plain.append(line)
            continue
        assert "exception" not in event, line
    assert len(plain) == 1, stderr
    assert plain[0].startswith("blp bot: "), plain[0]
    return plain[0]


# ---- one daemon per journal ---------------------------------------------------------


async def test_a_second_bot_on_the_journal_exits_2_naming_it_and_the_holder(
    stack: Stack,
) -> None:
    config = stack.write_config("one", top={"status_port": 0})
    first = stack.daemon(config)
    await first.start()
    await first.ready()
    assert first.proc is not None
    rc, err = await run_cli(stack, config)  # the same config: the same journal
    assert rc == 2
    line = the_line(err)
    assert str(first.journal_path) in line and f"pid {first.proc.pid}" in line, line
    assert "stop that bot first" in line
    # the first one is untouched and still hedges
    assert first.proc.returncode is None
    assert await stack.force(2, qty="0.01", side="long") == 2
    await wait_for(lambda: caught_up(stack, first), 30, "the first bot to hedge")
    # `status_page_listening` is logged once per start (it was twice)
    names = [e.get("event") for e in first.log_events()]
    assert names.count("status_page_listening") == 1
    # the lock dies with its process, however it dies: a restart after SIGKILL starts
    await first.kill()
    await first.start()
    await first.ready()


async def test_paper_and_live_journals_never_mix(stack: Stack) -> None:
    live = stack.write_config("live")
    open_journal(stack.tmp / "live.sqlite", paper=False).close()
    rc, err = await run_cli(stack, live, "--paper")
    assert rc == 2
    line = the_line(err)
    assert "is a live journal and this bot runs paper" in line and "own `journal`" in line

    paper = stack.write_config("paper", paper=True)
    open_journal(stack.tmp / "paper.sqlite", paper=True).close()
    edited = paper.read_text().replace("paper = true", "paper = false")
    paper.write_text(edited)
    rc, err = await run_cli(stack, paper)
    assert rc == 2
    assert "is a paper journal and this bot runs live" in the_line(err)


# ---- contracts checked at start -----------------------------------------------------


async def test_a_misspelt_contract_is_a_config_error_naming_the_key(stack: Stack) -> None:
    config = stack.write_config("typo", symbols=["BTC-PERPS"])
    rc, err = await run_cli(stack, config)
    assert rc == 2
    line = the_line(err)
    assert "engine.symbols: 'BTC-PERPS' is not a contract on the exchange" in line, line
    assert "did you mean 'BTC-PERP'?" in line


async def test_an_unhedged_contract_is_refused_or_zeroed_and_its_assignments_alarm(
    tmp_path: Path,
) -> None:
    eth = "ETH-PERP"
    async with running_stack(tmp_path, others={eth: D(3000)}) as stack:
        config = stack.write_config("refuse")  # hedges BTC-PERP only; ETH threshold > 0
        rc, err = await run_cli(stack, config)
        assert rc == 2
        line = the_line(err)
        assert f"{eth} (threshold 100000000)" in line and "risk.unhedged_contracts" in line

        config = stack.write_config("zero", risk={"unhedged_contracts": "zero_threshold"})
        d = stack.daemon(config)
        await d.start()
        await d.ready()
        async with BLPClient(stack.url, KEY, SECRET) as client:
            thresholds = (await client.profile()).max_position_notional
            assert thresholds[eth] == 0  # set at start: no ETH assignment can come
            assert thresholds[SYM] == D(100_000_000)
            # an operator raises it again by hand: the assignment that follows alarms
            await client.update_profile(max_position_notional={eth: 1_000_000})
        r = await stack.admin("POST", "/liquidations/force", {"symbol": eth, "count": 1})
        assert r["assignments"] == 1

        async def alarmed() -> bool:
            st = await d.status()
            return bool(st["alarms"]["unhedged_assignments"].get(eth) == 1)

        await wait_for(alarmed, 30, "the unhedged-assignment alarm in the status")
        assert f'blp_bot_unhedged_assignments_total{{symbol="{eth}"}} 1' in await d.metrics()
        logged = [e for e in d.log_events() if e.get("event") == "assignment_not_hedged"]
        assert [e["symbol"] for e in logged] == [eth]


# ---- errors in one line, with their remedy -------------------------------------------


async def test_a_wrong_secret_is_engine_auth_failed_and_exits_2_after_bounded_tries(
    stack: Stack,
) -> None:
    config = stack.write_config("auth", engine={"auth_retries": 2})
    rc, err = await run_cli(stack, config, E2E_BLP_SECRET="not-the-secret-of-this-blp-00")
    assert rc == 2
    line = the_line(err)
    assert line.startswith("blp bot: engine_auth_failed: ") and "E2E_BLP_SECRET" in line, line
    events = [json.loads(x)["event"] for x in err.splitlines() if x.startswith("{")]
    assert events.count("engine_auth_failed") == 2  # its own state, bounded
    assert "engine_unreachable" not in events


async def test_a_port_in_use_is_one_line(stack: Stack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for key in ("metrics_port", "status_port"):
            config = stack.write_config(f"port-{key}", top={key: port})
            rc, err = await run_cli(stack, config)
            assert rc == 2
            line = the_line(err)
            assert f"{key} {port} on 127.0.0.1 is in use" in line, line
            assert f"set {key} to a free port" in line


async def test_a_bad_ccxt_id_is_one_line_naming_the_key(stack: Stack) -> None:
    config = stack.write_config("ccxt")
    text = config.read_text()
    config.write_text(text.replace('ccxt_id = "binanceusdm"', 'ccxt_id = "binanceusdmm"'))
    rc, err = await run_cli(stack, config)
    assert rc == 2
    assert the_line(err) == (
        "blp bot: venues.binance.ccxt_id: ccxt has no exchange 'binanceusdmm' "
        "(did you mean 'binanceusdm'?): use a ccxt exchange id"
    )
    config.write_text(text.replace('ccxt_id = "binanceusdm"', 'ccxt_id = "okx"'))
    rc, err = await run_cli(stack, config)
    assert rc == 2
    assert 'options.local_url is served for ccxt_id = "binanceusdm" only' in the_line(err)


async def test_a_misspelt_strategy_class_says_no_class_x_in_file_y(stack: Stack) -> None:
    path = ROOT / "examples" / "custom_strategy.py"
    config = stack.write_config("cls", strategy=f"{path}:FadeHedgeTypo", params={})
    rc, err = await run_cli(stack, config)
    assert rc == 2
    line = the_line(err)
    assert f"strategy.class: no class FadeHedgeTypo in file {path}" in line, line
    assert "not a Strategy subclass" not in line


async def test_log_changed_and_server_behind_are_one_line_with_a_remedy(stack: Stack) -> None:
    config = stack.write_config("logs")
    d = stack.daemon(config)
    await d.start()
    await d.ready()
    await stack.force(2, qty="0.01", side="long")
    await wait_for(lambda: caught_up(stack, d), 30, "the bot to hedge")
    assert await d.terminate() == 0

    db = sqlite3.connect(d.journal_path)
    (saved,) = db.execute("SELECT value FROM meta WHERE key = 'state.log_id'").fetchone()
    db.execute("UPDATE meta SET value = ? WHERE key = 'state.log_id'", ('"another-log"',))
    db.commit()
    rc, err = await run_cli(stack, config)
    assert rc == 2
    line = the_line(err)
    assert line.startswith("blp bot: log_changed: ") and "same --data-dir" in line, line

    db.execute("UPDATE meta SET value = ? WHERE key = 'state.log_id'", (saved,))
    db.execute("UPDATE meta SET value = '1000000' WHERE key = 'last_seq'")
    db.commit()
    db.close()
    rc, err = await run_cli(stack, config)
    assert rc == 2
    line = the_line(err)
    assert line.startswith("blp bot: server_behind: ") and "point engine.url" in line, line
