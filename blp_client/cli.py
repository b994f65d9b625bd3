"""`blp`: the command line. Each subcommand parses its flags here and calls into a module."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from .engine.market import SCENARIOS


class ProgressBar:
    """A one-line progress display on a terminal; silent when stderr is not a terminal."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty()
        self.started = time.monotonic()
        self._last_pct = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        pct = done * 100 // total
        if pct == self._last_pct:
            return
        self._last_pct = pct
        filled = pct * 30 // 100
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (total - done) if done else 0.0
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%"
            f"  {elapsed:5.1f}s elapsed, ~{eta:4.0f}s left "
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", choices=SCENARIOS, default="crash")
    p.add_argument(
        "--accounts",
        type=_positive_int,
        default=5000,
        help="leveraged trader accounts (default 5000)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--seconds",
        type=_positive_int,
        default=3600,
        help="scenario length in engine seconds (default 3600)",
    )
    p.add_argument(
        "--drop", type=float, default=0.20, help="crash depth as a fraction (default 0.20)"
    )
    p.add_argument("--csv", dest="csv_path", help="timestamp,price file for --scenario csv")
    p.add_argument(
        "--insurance-fund",
        type=_insurance_fund,
        default=None,
        metavar="USDT",
        help="the exchange's insurance fund at the start (default 1000000; 0 to 1e12)",
    )
    p.add_argument("--no-blp", action="store_true", help="run without the BLP program")
    p.add_argument("--compare", action="store_true", help="run with and without BLPs")
    p.add_argument(
        "--funding-interval",
        type=_positive_int,
        metavar="SECONDS",
        help="funding every SECONDS instead of Binance's 8 h (for scenarios shorter than 8 h)",
    )
    p.add_argument(
        "--perp-discount",
        type=float,
        default=0.0,
        metavar="BPS",
        help="market makers quote the perp up to BPS below a falling index (default 0)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON report only")
    p.add_argument("--out", type=Path, help="also write the JSON report to this file")
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also write DIR/report.json and DIR/report.html (charts)",
    )


def _insurance_fund(text: str) -> Decimal:
    """`--insurance-fund`: a strict decimal in [0, 1e12] USDT."""
    from .engine.simulate import check_insurance_fund
    from .models import parse_decimal

    try:
        return check_insurance_fund(parse_decimal(text))
    except ValueError as e:
        message = str(e).removeprefix("insurance_fund: ")
        raise argparse.ArgumentTypeError(f"{text!r}: {message}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def cmd_simulate(args: argparse.Namespace) -> int:
    from .engine import simulate as sim

    if not 0 < args.drop < 1:
        print("blp simulate: --drop must be between 0 and 1 (e.g. 0.2 for 20%)", file=sys.stderr)
        return 2
    if not 0 <= args.perp_discount <= 1000:
        print("blp simulate: --perp-discount must be between 0 and 1000 bps", file=sys.stderr)
        return 2
    if args.scenario == "csv" and not args.csv_path:
        print("blp simulate: --scenario csv needs --csv FILE", file=sys.stderr)
        return 2
    cfg = sim.SimulationConfig(
        scenario=args.scenario,
        accounts=args.accounts,
        seed=args.seed,
        seconds=args.seconds,
        drop=args.drop,
        blp=not args.no_blp,
        csv_path=args.csv_path,
        funding_interval_s=args.funding_interval,
        perp_discount_bps=args.perp_discount,
        **({} if args.insurance_fund is None else {"insurance_fund": args.insurance_fund}),
    )
    report_dir = getattr(args, "report", None)
    if not _report_dir_usable(report_dir, "simulate"):
        return 2
    bar = ProgressBar(f"simulating {args.scenario}, {args.accounts:,} accounts")
    if args.compare:
        runs = sim.compare_runs(cfg, bar)
        data = {name: r.report for name, r in runs.items()}
        text = sim.compare_text(data)
    else:
        runs = {"with_blp" if cfg.blp else "without_blp": sim.run(cfg, bar)}
        data = next(iter(runs.values())).report
        text = sim.table({"with BLPs" if cfg.blp else "without BLPs": data})
        text += sim.funding_note(data)
    payload = sim.to_json(data)
    if args.out:
        args.out.write_text(payload)
    if report_dir is not None:
        from .report import ReportError, write_report

        try:
            html = write_report(
                report_dir,
                title=f"blp simulate: {args.scenario}",
                json_data=data,
                reports={k: r.report for k, r in runs.items()},
                timelines={k: r.timeline for k, r in runs.items()},
            )
        except ReportError as e:
            print(f"blp simulate: {e}", file=sys.stderr)
            return 2
        print(f"report: {html}", file=sys.stderr)
    if args.json:
        sys.stdout.write(payload)
    else:
        print(text)
    return 0


def _report_dir_usable(directory: Path | None, command: str) -> bool:
    """Check `--report DIR` before a long run, not after it (the error printed, if any)."""
    if directory is None:
        return True
    from .report import ReportError, prepare_dir

    try:
        prepare_dir(directory)
    except ReportError as e:
        print(f"blp {command}: {e}", file=sys.stderr)
        return False
    return True


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--plan", type=Path, metavar="FILE", help="plan.toml: the grids")
    p.add_argument(
        "-c", "--config", metavar="FILE", help="bot.toml: the strategy and risk to backtest"
    )
    grid = p.add_argument_group("commitments (comma-separated lists; each overrides the plan)")
    for flag, what in (
        ("--minute-rate", "per-minute absorption rates, USDT"),
        ("--hour-rate", "per-hour absorption rates, USDT"),
        ("--threshold", "Max Position Notional Thresholds per contract, USDT"),
        ("--collateral", "our BLP's collateral, USDT"),
    ):
        grid.add_argument(flag, type=_csv, metavar="A,B", help=what)
    grid.add_argument(
        "--param",
        action="append",
        type=_param,
        metavar="NAME=A,B",
        help="a strategy parameter's values (repeatable)",
    )
    markets = p.add_argument_group("scenarios (comma-separated lists; each overrides the plan)")
    markets.add_argument(
        "--scenario",
        type=_csv,
        metavar="A,B",
        help=f"of {', '.join(s for s in SCENARIOS if s != 'csv')}",
    )
    markets.add_argument("--seeds", metavar="N", help="markets per scenario cell (default 3)")
    markets.add_argument("--drop", type=_csv, metavar="A,B", help="crash depths (crash only)")
    markets.add_argument(
        "--speed", type=_csv, metavar="A,B", help="where the bottom falls, 0-1 (crash only)"
    )
    markets.add_argument("--gaps", type=_csv, metavar="A,B", help="flash gaps (crash only)")
    markets.add_argument("--gap-size", type=_csv, metavar="A,B", help="largest gap (crash only)")
    markets.add_argument("--insurance-fund", type=_csv, metavar="A,B", help="fund sizes, USDT")
    p.add_argument("--seed", metavar="N", help="the plan's seed (default 1)")
    p.add_argument("--accounts", metavar="N", help="traders per market (default 500)")
    p.add_argument("--seconds", metavar="N", help="engine seconds per market (default 600)")
    p.add_argument("--max-drawdown", metavar="USDT", help="recommend only commitments within this")
    p.add_argument("--backend", choices=("process", "ray"), default="process")
    p.add_argument("--ray-address", metavar="ADDR", help="a Ray cluster (default: local Ray)")
    p.add_argument(
        "--workers", type=_positive_int, metavar="N", help="processes (default: every core)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("plan-out"), metavar="DIR",
        help="DIR/plan.json and DIR/report.html (default plan-out)",
    )  # fmt: skip
    p.add_argument("--cache", type=Path, metavar="DIR", help="task results (default OUT/cache)")
    p.add_argument("--json", action="store_true", help="print plan.json only")


def _csv(text: str) -> list[str]:
    items = text.split(",")
    if len(text) > 4096 or any(not item.strip() for item in items):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list, e.g. 1,2")
    return [item.strip() for item in items]


def _param(text: str) -> tuple[str, list[str]]:
    name, sep, values = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=A,B, e.g. slippage_bps=20,50")
    return name, _csv(values)


def cmd_plan(args: argparse.Namespace) -> int:
    from .bot.config import ConfigError
    from .plan import PlanConfigError, PlanRunError, parse_plan, read_plan_toml, run_plan
    from .plan.cache import CacheError
    from .plan.config import FLAG_KEYS, flag_for, merge_flags

    flags = {
        flag: getattr(args, flag[2:].replace("-", "_"))
        for flag in FLAG_KEYS
        if getattr(args, flag[2:].replace("-", "_")) is not None
    }
    if args.param:
        flags["--param"] = dict(args.param)
    try:
        data = read_plan_toml(args.plan) if args.plan else {}
        base = args.plan.resolve().parent if args.plan else None
        plan = parse_plan(merge_flags(data, flags), base_dir=base)
    except PlanConfigError as e:
        for line in str(e).splitlines():
            flag = flag_for(line.partition(":")[0])
            hint = f" (from {flag})" if flag in flags else ""
            print(f"blp plan: {line}{hint}", file=sys.stderr)
        return 2
    if not _report_dir_usable(args.out, "plan"):
        return 2
    bar = ProgressBar("planning")
    try:
        doc = run_plan(
            plan,
            args.cache or args.out / "cache",
            backend=args.backend,
            workers=args.workers,
            ray_address=args.ray_address,
            progress=bar,
            log=lambda line: print(f"blp plan: {line}", file=sys.stderr, flush=True),
        )
    except ConfigError as e:  # the bot.toml of -c
        print(f"blp plan: {e}", file=sys.stderr)
        return 2
    except (PlanRunError, CacheError) as e:
        print(f"blp plan: {e}", file=sys.stderr)
        return 1
    from .engine.simulate import to_json
    from .plan.frontier import write_plan_report
    from .plan.summary import table
    from .report import ReportError

    try:
        html = write_plan_report(args.out, doc)
    except ReportError as e:
        print(f"blp plan: {e}", file=sys.stderr)
        return 2
    print(f"report: {html}", file=sys.stderr)
    if args.json:
        sys.stdout.write(to_json(doc))
    else:
        print(table(doc))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The engine and its venue (a child process) and the bot through a crash; see demo.py."""
    from .demo import DemoError, DemoOptions, main_sync
    from .demo_view import LiveView, summary, text_report, write_html
    from .engine.simulate import to_json

    if not _report_dir_usable(args.report, "demo"):
        return 2
    opts = DemoOptions(accounts=args.accounts, seconds=args.seconds, status_port=args.status_port)
    if not args.json:
        print(
            f"blp demo: a {opts.drop:.0%} crash over one engine hour in ~{opts.seconds:.0f} s,"
            f" {opts.accounts:,} leveraged accounts, our BLP and two others; the bot hedges"
            " every assignment on the local Binance-compatible venue through ccxt.\n",
            file=sys.stderr,
            flush=True,
        )
    try:
        live = main_sync(opts, LiveView(sys.stderr))
    except DemoError as e:
        print(f"blp demo: {e}", file=sys.stderr)
        return 1
    data = summary(live)
    rc = 0
    if args.report is not None:
        from .report import ReportError

        try:
            print(f"report: {write_html(args.report, data, live)}", file=sys.stderr)
        except ReportError as e:  # the run is done: still print its report, then fail
            print(f"blp demo: {e}", file=sys.stderr)
            rc = 2
    if args.json:
        sys.stdout.write(to_json(data))
    else:
        print("\n" + text_report(data, live))
    return rc


def _decimal(text: str) -> Decimal:
    """A strict decimal flag (digits and an optional point: no exponent, no sign)."""
    from .models import parse_decimal

    try:
        value = parse_decimal(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _latency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"must be between 0 and 60000 ms, got {value}")
    return value


def _backtest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, required=True, help="bot.toml")
    p.add_argument(
        "--scenario", default="crash", help="a scenario or preset of `blp simulate` (default crash)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--accounts", type=_positive_int, default=5000, help="default 5000")
    p.add_argument("--seconds", type=_positive_int, default=3600, help="engine seconds")
    p.add_argument("--drop", type=float, default=0.20, help="crash depth (default 0.20)")
    p.add_argument("--csv", dest="csv_path", help="timestamp,price file for --scenario csv")
    p.add_argument("--collateral", type=_decimal, help="override [commitment] collateral")
    p.add_argument("--minute-rate", type=_decimal, help="override [commitment] minute_rate")
    p.add_argument("--hour-rate", type=_decimal, help="override [commitment] hour_rate")
    p.add_argument("--threshold", type=_decimal, help="override [commitment] threshold")
    p.add_argument(
        "--insurance-fund",
        type=_insurance_fund,
        metavar="USDT",
        help="the exchange's insurance fund at the start (default 1000000; 0 to 1e12)",
    )
    p.add_argument(
        "--stream-latency-ms", type=_latency, default=20, help="engine → bot (default 20)"
    )
    p.add_argument(
        "--venue-latency-ms", type=_latency, default=10, help="bot → venue, one way (default 10)"
    )
    p.add_argument("--json", action="store_true", help="print the JSON report only")
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also write DIR/report.json and DIR/report.html (charts)",
    )


def cmd_backtest(args: argparse.Namespace) -> int:
    """The config's strategy and the bot's core through a scenario, in engine time."""
    from .backtest import BacktestError, BacktestOptions, run_backtest
    from .backtest.report import text, write_html
    from .bot.config import ConfigError, load_config
    from .engine.simulate import to_json

    if not 0 < args.drop < 1:
        print("blp backtest: --drop must be between 0 and 1 (e.g. 0.2 for 20%)", file=sys.stderr)
        return 2
    if args.seed < 0:
        print("blp backtest: --seed must be >= 0", file=sys.stderr)
        return 2
    if not _report_dir_usable(args.report, "backtest"):
        return 2
    try:
        config = load_config(args.config)
        options = BacktestOptions(
            scenario=args.scenario,
            seed=args.seed,
            accounts=args.accounts,
            seconds=args.seconds,
            drop=args.drop,
            csv_path=args.csv_path,
            collateral=args.collateral,
            minute_rate=args.minute_rate,
            hour_rate=args.hour_rate,
            thresholds=args.threshold,
            insurance_fund=args.insurance_fund,
            stream_latency_ms=args.stream_latency_ms,
            venue_latency_ms=args.venue_latency_ms,
        )
        bar = ProgressBar(f"backtest {args.scenario}, {args.accounts:,} accounts")
        result = run_backtest(config, options, bar)
    except ConfigError as e:
        print(f"blp backtest: {e}", file=sys.stderr)
        return 2
    except BacktestError as e:
        print(f"blp backtest: {_flag_names(str(e))} (see blp backtest --help)", file=sys.stderr)
        return 2
    if args.report is not None:
        from .report import ReportError

        try:
            html = write_html(args.report, result.report, result.timeline)
        except ReportError as e:
            print(f"blp backtest: {e}", file=sys.stderr)
            return 2
        print(f"report: {html}", file=sys.stderr)
    if args.json:
        sys.stdout.write(to_json(result.report))
    else:
        print(text(result.report))
    return 0


def _flag_names(message: str) -> str:
    """A backtest option's error in the words of the command line (`--seconds`, `--csv`)."""
    flags = {"thresholds": "threshold", "csv_path": "csv"}

    def flag(m: re.Match[str]) -> str:
        name = flags.get(m.group(1), m.group(1))
        return "--" + name.replace("_", "-")

    message = re.sub(r"BacktestOptions\.([a-z_]+)", flag, message)
    return message.replace("a csv_path", "--csv FILE")


def cmd_engine(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from .engine.server import serve

    async def main() -> None:
        task = asyncio.ensure_future(
            serve(
                host=args.host,
                port=args.port,
                config_path=args.config,
                data_dir=args.data_dir,
                clock=args.clock,
                scenario=args.scenario,
                speed=args.speed,
                venue_api=args.venue_api,
                admin_token=args.admin_token,
                venue_limits=not args.no_venue_limits,
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0


def cmd_bot(args: argparse.Namespace) -> int:
    from .bot.config import ConfigError, load_config
    from .bot.daemon import run_forever
    from .bot.refusal import Refusal

    try:
        config = load_config(args.config)
        config.engine.api_key(), config.engine.api_secret()  # fail early on missing secrets
        if not (args.paper or config.paper.enabled):  # paper mode reads public market data only
            for name, venue in config.venues.items():
                if venue.enabled:
                    venue.credentials(name)
    except ConfigError as e:
        print(f"blp bot: {e}", file=sys.stderr)
        return 2
    try:
        return run_forever(config, paper=args.paper)
    except Refusal as e:  # expected: one line saying what to do, no traceback
        print(f"blp bot: {e}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="run a market scenario through the engine and report")
    _simulate_args(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("plan", help="sweep BLP commitments × scenarios; recommend one")
    _plan_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("backtest", help="run the bot's strategy and core through a scenario")
    _backtest_args(p)
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("demo", help="engine + venue + the hedging bot through a crash")
    p.add_argument(
        "--accounts",
        type=_positive_int,
        default=5000,
        help="leveraged trader accounts (default 5000)",
    )
    p.add_argument(
        "--seconds",
        type=_positive_int,
        default=75,
        help="wall-clock length of the one-hour crash (default 75)",
    )
    p.add_argument(
        "--status-port",
        type=int,
        metavar="N",
        default=0,
        help="serve the bot's live status page on 127.0.0.1:N (default 0: any free"
        " port; the URL is printed)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON only")
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also write DIR/report.json and DIR/report.html (charts)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("engine", help="serve the reference exchange engine (BLP API)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--config", type=Path, help="engine.toml")
    p.add_argument("--data-dir", type=Path, help="keep the event log here (SQLite)")
    p.add_argument("--clock", choices=("real", "manual"), default="real")
    p.add_argument("--scenario", choices=SCENARIOS, help="start this market scenario")
    p.add_argument("--speed", type=float, default=1.0, help="scenario seconds per real second")
    p.add_argument("--venue-api", choices=("binance",), help="also serve a venue API")
    p.add_argument("--admin-token", help="admin token (default: generated and printed)")
    p.add_argument(
        "--no-venue-limits",
        action="store_true",
        help="serve the venue API without Binance's rate limits (config: venue_limits.enabled)",
    )
    p.set_defaults(func=cmd_engine)

    p = sub.add_parser("bot", help="run the hedging bot daemon")
    p.add_argument("-c", "--config", type=Path, required=True, help="bot.toml")
    p.add_argument(
        "--paper",
        action="store_true",
        help="simulate every venue's fills on its real books (no orders sent)",
    )
    p.set_defaults(func=cmd_bot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
