"""The demo's engine in a process of its own, as a remote exchange would be:

    python -m blp_client.demo_engine --accounts N --seed S --drop D --speed X
        [--data-dir DIR] [--log-file FILE]

It serves the reference engine with its Binance-compatible venue (its rate limits as
configured, on by default) on 127.0.0.1 (a free port), builds the demo's crash market with the
two simulated BLPs and holds it (`POST /admin/v1/scenario/resume` starts the hour), registers
nothing else, and prints one JSON line on stdout: `{"url", "admin_token", "port", "pid"}`.
Everything else goes through its HTTP APIs. It stops cleanly (streams closed, event log
closed) on SIGTERM or SIGHUP, or when its stdin reaches end of file: the demo holds that pipe,
so the engine never outlives it, even when the demo is killed. SIGINT (a Ctrl-C in the
terminal reaches the whole process group) is ignored: the demo decides, and still reads the
final report from this engine after a Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .bot.daemon_io import configure_logging
from .demo_sim import engine_config, install_scenario, on_stdin_eof


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m blp_client.demo_engine", description=__doc__)
    p.add_argument("--accounts", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--drop", type=float, required=True)
    p.add_argument("--speed", type=float, required=True, help="engine seconds per wall second")
    p.add_argument("--data-dir", type=Path, help="the engine's event log (SQLite) goes here")
    p.add_argument("--log-file", type=Path, help="append the JSON log lines here (else stderr)")
    return p.parse_args(argv)


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set `stop` when stdin reaches end of file (the demo closed it, or died)."""

    def eof() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(stop.set)

    on_stdin_eof(eof)


async def serve(args: argparse.Namespace) -> None:
    from .engine.server import start_engine

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    _watch_stdin(loop, stop)
    engine = await start_engine(
        port=0,
        config=engine_config(),
        venue_api="binance",
        data_dir=args.data_dir,
        speed=args.speed,
    )
    try:
        install_scenario(engine, seed=args.seed, accounts=args.accounts, drop=args.drop)
        line = {
            "url": engine.url,
            "admin_token": engine.admin_token,
            "port": engine.port,
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await engine.stop()


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the demo decides when to stop
    args = parse_args(argv)
    log_stream = args.log_file.open("a", encoding="utf-8") if args.log_file else sys.stderr
    try:
        configure_logging("info", log_stream)
        asyncio.run(serve(args))
    finally:
        if log_stream is not sys.stderr:
            log_stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
