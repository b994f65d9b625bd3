"""The demo's set-up: its market, BLPs, engine and bot configuration, and the market's simulated
twin (`simulate_compare`: the same crash with and without BLPs), run in a child process so it
uses the other core while the live part runs (`python -m blp_client.demo_sim ACCOUNTS SEED
DROP` pickles the result; it exits when its stdin closes, i.e. when the demo is gone)."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from .bot.config import BotConfig
from .engine import simulate
from .engine.config import EngineConfig
from .engine.market import DEFAULT_BLPS, BLPSpec, Scenario, build_scenario
from .engine.server import RunningEngine
from .engine.simulate import SimulationConfig

D = Decimal
SYMBOLS = ("BTC-PERP", "ETH-PERP")
VENUE_COLLATERAL = D(5_000_000)
ENV_KEYS = ("BLP_DEMO_KEY", "BLP_DEMO_SECRET", "BLP_DEMO_VENUE_KEY", "BLP_DEMO_VENUE_SECRET")

SCENARIO_SECONDS = 3600  # one engine hour, like `blp simulate`
OUR_NAME = "demo-blp (the bot)"
# Rates comparable to the two others (so we get a fair share of the flow); a threshold that
# the flow can reach, so capacity and headroom visibly matter.
OUR_BLP = BLPSpec(OUR_NAME, D(250_000), D(300_000), D(3_000_000), D(1_500_000))
OTHER_BLPS = DEFAULT_BLPS[:2]


def sim_config(accounts: int, seed: int, drop: float) -> SimulationConfig:
    """The demo's crash as a `SimulationConfig` (what the reports name)."""
    return SimulationConfig("crash", accounts, seed, SCENARIO_SECONDS, drop)


def simulate_compare(accounts: int, seed: int, drop: float) -> dict[str, Any]:
    """The same market with our BLP and the two others, and without BLPs: {run: {report,
    timeline}} (plain dicts: picklable)."""
    runs = simulate.compare_runs(sim_config(accounts, seed, drop), blps=(OUR_BLP, *OTHER_BLPS))
    return {name: {"report": r.report, "timeline": r.timeline} for name, r in runs.items()}


def engine_config() -> EngineConfig:
    # The BLP API's per-key limit stays at its default (100 requests/s, burst 200): the bot's
    # polling of it (books and marks every 250 ms, profile and account every 500 ms,
    # reconciliation every second) is ~25 requests/s. The venue's Binance limits are the
    # venue's own (on by default); the bot's ccxt client throttles itself for them.
    return EngineConfig(instruments=list(SYMBOLS), tick_ms=20)


def bot_config(url: str, journal: Path, status_port: int | None) -> BotConfig:
    return BotConfig.model_validate(
        {
            "engine": {
                "url": url,
                "api_key_env": ENV_KEYS[0],
                "api_secret_env": ENV_KEYS[1],
                "symbols": list(SYMBOLS),
            },
            "venues": {
                "binance": {
                    "ccxt_id": "binanceusdm",
                    "api_key_env": ENV_KEYS[2],
                    "api_secret_env": ENV_KEYS[3],
                    # ccxt's own throttle on (its default), as against Binance itself
                    "options": {"local_url": url, "timeout": 5000},
                }
            },
            "strategy": {
                "class": "immediate_hedge",
                "params": {"venues": ["binance"], "retry_ms": 500, "slippage_bps": 200},
            },
            "risk": {
                "max_orders": 500,
                "max_order_notional": "2000000",
                "max_net_exposure_notional": "3000000",
                "max_venue_position_notional": "10000000",
            },
            "journal": str(journal),
            "metrics_port": None,
            "status_port": status_port,
            "from_seq": 0,
            "log_level": "info",
        }
    )


def install_scenario(engine: RunningEngine, *, seed: int, accounts: int, drop: float) -> Scenario:
    """The crash market with the two simulated BLPs, built but held: `POST
    /admin/v1/scenario/resume` starts it (the setup time is not part of the hour)."""
    svc = engine.service
    sc = build_scenario(
        "crash",
        svc.exchange,
        seed=seed,
        accounts=accounts,
        blps=OTHER_BLPS,
        seconds=SCENARIO_SECONDS,
        drop=drop,
    )
    svc.hold_scenario("crash", sc, sim_config(accounts, seed, drop))
    return sc


def on_stdin_eof(callback: Callable[[], None]) -> None:
    """The parent-death check of the demo's children: their stdin is a pipe from the demo, so
    end of file there means the demo is gone (exited, killed or cancelled). `callback` runs
    then, on a daemon thread."""

    def watch() -> None:
        with (
            contextlib.suppress(OSError, ValueError),
            open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as f,
        ):
            while f.read(4096):
                pass
        callback()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(argv: list[str]) -> int:
    """`python -m blp_client.demo_sim ACCOUNTS SEED DROP`: the comparison, pickled on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    on_stdin_eof(lambda: os._exit(1))  # the demo is gone: nobody waits for the result
    result = simulate_compare(int(argv[0]), int(argv[1]), float(argv[2]))
    sys.stdout.buffer.write(pickle.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
