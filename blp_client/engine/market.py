"""Market scenarios for the engine: index-price paths, a population of leveraged traders and
market-maker liquidity that thins out as volatility rises.

Deterministic for a seed: every random draw comes from one `random.Random`. Paths are computed
in floats (they are inputs, like an external index feed) and quantised to the tick as Decimals
before they reach the exchange.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .core import AccountKind, Exchange
from .core.instruments import Instrument
from .core.num import floor_to
from .presets import PRESETS, Waypoint, eth_waypoints

PricePath = Callable[[int], float]  # seconds since start -> price


# ---- index-price paths -----------------------------------------------------------------


def random_walk(start: float, vol_bps: float, seconds: int, rng: random.Random) -> PricePath:
    """Geometric random walk: per-second log-returns ~ N(0, vol_bps)."""
    prices = [start]
    for _ in range(seconds):
        prices.append(prices[-1] * math.exp(rng.gauss(0.0, vol_bps / 1e4)))
    return lambda t: prices[min(max(t, 0), seconds)]


def crash(
    start: float,
    drop: float,
    seconds: int,
    rng: random.Random,
    *,
    rebound: float = 0.3,
    bottom_at: float = 0.7,
    noise_bps: float = 8.0,
    reversion: float = 0.05,
    gaps: int = 3,
    gap_size: float = 0.03,
    gap_recovery_s: float = 20.0,
) -> PricePath:
    """Fall by `drop` over `bottom_at`·T (fast at first), then win back `rebound` of the fall,
    with mean-reverting noise around that shape (so the fall is the size asked for).

    `gaps` flash drops of up to `gap_size` during the fall, each recovering with time constant
    `gap_recovery_s`: a price that jumps past liquidation prices leaves accounts bankrupt
    before the book can be reached, which is where toxic flow comes from.
    """
    bottom_s = max(1, int(seconds * bottom_at))
    flashes = sorted(
        (rng.randint(max(1, bottom_s // 10), bottom_s), gap_size * rng.uniform(0.5, 1.0))
        for _ in range(gaps)
    )
    noise, prices = 0.0, []
    for t in range(seconds + 1):
        flash = 1.0
        for at, size in flashes:
            if t >= at:
                flash *= 1.0 - size * math.exp(-(t - at) / gap_recovery_s)
        if t <= bottom_s:
            u = t / bottom_s
            shape = 1.0 - drop * (1.0 - (1.0 - u) ** 2)
        else:
            u = (t - bottom_s) / max(1, seconds - bottom_s)
            shape = 1.0 - drop + drop * rebound * math.sin(u * math.pi / 2)
        noise += -reversion * noise + rng.gauss(0.0, noise_bps / 1e4)
        prices.append(start * shape * flash * math.exp(noise))
    return lambda t: prices[min(max(t, 0), seconds)]


def shaped(
    start: float,
    waypoints: Sequence[Waypoint],
    seconds: int,
    rng: random.Random,
    *,
    noise_bps: float = 8.0,
    reversion: float = 0.05,
    gaps: int = 3,
    gap_size: float = 0.03,
    gap_recovery_s: float = 20.0,
) -> PricePath:
    """A path through `waypoints` (eased between them), with the crash's flash gaps placed on
    falling legs and the same mean-reverting noise: how a historical cascade's published
    highs, lows and timing become a scenario (`presets`)."""
    if len(waypoints) < 2 or waypoints[0][0] != 0.0 or waypoints[-1][0] != 1.0:
        raise ValueError("waypoints must run from time fraction 0.0 to 1.0")
    if any(b[0] <= a[0] for a, b in itertools.pairwise(waypoints)):
        raise ValueError("waypoint times must increase")
    if any(level <= 0 for _, level in waypoints):
        raise ValueError("waypoint levels must be > 0")
    falling = [(a, b) for a, b in itertools.pairwise(waypoints) if b[1] < a[1]]
    flashes: list[tuple[int, float]] = []
    for _ in range(gaps if falling else 0):
        (t0, _l0), (t1, _l1) = rng.choice(falling)
        at = int(seconds * rng.uniform(t0, t1))
        flashes.append((at, gap_size * rng.uniform(0.5, 1.0)))
    flashes.sort()
    times = [t for t, _ in waypoints]
    noise, prices, leg = 0.0, [], 0
    for t in range(seconds + 1):
        u = t / max(1, seconds)
        while leg < len(times) - 2 and u > times[leg + 1]:
            leg += 1
        (ta, la), (tb, lb) = waypoints[leg], waypoints[leg + 1]
        w = min(1.0, max(0.0, (u - ta) / (tb - ta)))
        shape = la + (lb - la) * (1.0 - math.cos(w * math.pi)) / 2
        flash = 1.0
        for at, size in flashes:
            if t >= at:
                flash *= 1.0 - size * math.exp(-(t - at) / gap_recovery_s)
        noise += -reversion * noise + rng.gauss(0.0, noise_bps / 1e4)
        prices.append(start * shape * flash * math.exp(noise))
    return lambda t: prices[min(max(t, 0), seconds)]


def csv_replay(path: str | Path) -> PricePath:
    """Replay a CSV of `timestamp,price` (timestamp in seconds or ms from any origin; the first
    row is t=0; between rows the last price holds)."""
    rows: list[tuple[float, float]] = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or row[0].strip().lower() in ("timestamp", "ts", "time"):
                continue
            try:
                rows.append((float(row[0]), float(row[1])))
            except (ValueError, IndexError) as e:
                raise ValueError(f"{path}:{i + 1}: expected 'timestamp,price', got {row!r}") from e
    if not rows:
        raise ValueError(f"{path}: no price rows")
    t0 = rows[0][0]
    scale = 1000.0 if rows[-1][0] - t0 > 10 * max(1, len(rows)) else 1.0  # ms or s
    times = [(t - t0) / scale for t, _ in rows]
    prices = [p for _, p in rows]

    def at(t: int) -> float:
        lo, hi = 0, len(times) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if times[mid] <= t:
                lo = mid
            else:
                hi = mid - 1
        return prices[lo]

    return at


def to_tick(price: float, inst: Instrument) -> Decimal:
    return max(inst.tick, floor_to(Decimal(repr(price)), inst.tick))


# ---- traders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PopulationConfig:
    accounts: int = 5000
    long_share: float = 0.6  # a crash hurts the crowded side
    symbol_weights: tuple[tuple[str, float], ...] = (("BTC-PERP", 0.7), ("ETH-PERP", 0.3))
    median_notional: float = 8000.0
    notional_sigma: float = 1.1  # log-normal spread of position sizes
    max_notional: float = 1_500_000.0
    leverages: tuple[tuple[float, float], ...] = (
        (2, 0.10),
        (3, 0.12),
        (5, 0.20),
        (10, 0.25),
        (20, 0.18),
        (25, 0.08),
        (50, 0.07),
    )
    entry_spread: float = 0.004  # entries spread ±0.4% around the start price


def seed_population(
    x: Exchange, house: int, start: dict[str, Decimal], cfg: PopulationConfig, rng: random.Random
) -> list[int]:
    """Open `cfg.accounts` leveraged traders with positions against the `house` account."""
    weights = [(s, w) for s, w in cfg.symbol_weights if s in x.instruments and s in start]
    if not weights:
        raise ValueError("the population's symbol_weights name no listed instrument")
    syms = [s for s, _ in weights]
    sym_w = list(itertools.accumulate(w for _, w in weights))  # what choices() would sum
    levs = [lev for lev, _ in cfg.leverages]
    lev_w = list(itertools.accumulate(w for _, w in cfg.leverages))
    ids: list[int] = []
    for _ in range(cfg.accounts):
        symbol = rng.choices(syms, cum_weights=sym_w)[0]
        inst = x.instruments[symbol]
        side = 1 if rng.random() < cfg.long_share else -1
        notional = min(
            cfg.max_notional, rng.lognormvariate(math.log(cfg.median_notional), cfg.notional_sigma)
        )
        lev = rng.choices(levs, cum_weights=lev_w)[0]
        entry = to_tick(float(start[symbol]) * (1 + rng.uniform(-1, 1) * cfg.entry_spread), inst)
        qty = max(inst.lot, floor_to(Decimal(repr(notional)) / entry, inst.lot))
        real_notional = qty * entry
        # never above the tier's maximum leverage: collateral covers IM with a 10% margin
        collateral = max(
            real_notional / Decimal(repr(lev)), inst.initial_margin(real_notional) * Decimal("1.1")
        )
        aid = x.open_account(AccountKind.TRADER, floor_to(collateral, Decimal("0.01")))
        x.seed_position(aid, house, symbol, side * qty, entry)
        ids.append(aid)
    return ids


# ---- market makers ---------------------------------------------------------------------


@dataclass
class MarketMakerConfig:
    levels: int = 10
    first_bps: float = 2.0  # best quote this far from the index
    step_bps: float = 2.0  # between levels
    level_notional: float = 60_000.0  # per level in calm markets
    thinning: float = 0.25  # size /= 1 + thinning·(realised vol in bps/s)
    vol_window: int = 30
    # while the index falls, the ladder centres below it (liquidations sell the perp down):
    # min(max_discount_bps, discount_per_vol · realised vol in bps/s); 0 = at the index
    max_discount_bps: float = 0.0
    discount_per_vol: float = 10.0


@dataclass
class MarketMaker:
    """Quotes a ladder around the index every second; depth shrinks as volatility rises."""

    account_id: int
    symbol: str
    cfg: MarketMakerConfig
    returns: deque[float] = field(init=False)  # the last `cfg.vol_window` log returns
    last: float | None = None

    def __post_init__(self) -> None:
        self.returns = deque(maxlen=self.cfg.vol_window)

    def vol_bps(self) -> float:
        if len(self.returns) < 2:
            return 0.0
        m = sum(self.returns) / len(self.returns)
        return math.sqrt(sum((r - m) ** 2 for r in self.returns) / (len(self.returns) - 1)) * 1e4

    def discount_bps(self) -> float:
        """How far below the index the ladder centres now (0 unless the index is falling)."""
        if not self.cfg.max_discount_bps or not self.returns or sum(self.returns) >= 0:
            return 0.0
        return min(self.cfg.max_discount_bps, self.cfg.discount_per_vol * self.vol_bps())

    def requote(self, x: Exchange, index: float) -> None:
        if self.last is not None:
            self.returns.append(math.log(index / self.last))
        self.last = index
        index *= 1 - self.discount_bps() / 1e4  # the ladder's centre
        inst = x.instruments[self.symbol]
        scale = 1.0 / (1.0 + self.cfg.thinning * self.vol_bps())
        size = max(
            inst.lot, floor_to(Decimal(repr(self.cfg.level_notional * scale / index)), inst.lot)
        )
        bids, asks = [], []
        for i in range(self.cfg.levels):
            off = (self.cfg.first_bps + i * self.cfg.step_bps) / 1e4
            bids.append((to_tick(index * (1 - off), inst), size))
            asks.append((to_tick(index * (1 + off), inst) + inst.tick, size))
        x.replace_quotes(self.account_id, self.symbol, bids, asks)


# ---- scenarios -------------------------------------------------------------------------

START_PRICES = {"BTC-PERP": 50_000.0, "ETH-PERP": 3_000.0}


@dataclass(frozen=True)
class BLPSpec:
    name: str
    collateral: Decimal
    minute_rate: Decimal
    hour_rate: Decimal
    threshold: Decimal  # per contract


DEFAULT_BLPS = (
    BLPSpec("blp-a", Decimal("3000000"), Decimal("400000"), Decimal("4000000"), Decimal("6000000")),
    BLPSpec("blp-b", Decimal("2000000"), Decimal("250000"), Decimal("2500000"), Decimal("4000000")),
    BLPSpec("blp-c", Decimal("1000000"), Decimal("150000"), Decimal("1500000"), Decimal("2000000")),
)


@dataclass
class Scenario:
    """Drives an exchange through a market: call `step(now_ms)` once per engine second,
    before `exchange.advance(now_ms)`."""

    exchange: Exchange
    paths: dict[str, PricePath]
    makers: list[MarketMaker]
    seconds: int
    traders: list[int]
    blps: dict[str, int]
    house: int
    start_ms: int = 0

    def index_at(self, symbol: str, now_ms: int) -> Decimal:
        t = (now_ms - self.start_ms) // 1000
        return to_tick(self.paths[symbol](t), self.exchange.instruments[symbol])

    def step(self, now_ms: int) -> None:
        """The market at `now_ms`: the index moves and the makers requote (their events are
        stamped `now_ms`); the caller then runs `exchange.advance(now_ms)`."""
        x = self.exchange
        x.set_time(now_ms)
        for mm in self.makers:
            index = self.index_at(mm.symbol, now_ms)
            mm.requote(x, float(index))
            x.set_index(mm.symbol, index)

    def done(self, now_ms: int) -> bool:
        return now_ms - self.start_ms >= self.seconds * 1000


SCENARIOS = ("crash", "walk", "calm", "csv", *PRESETS)


def build_scenario(
    name: str,
    exchange: Exchange,
    *,
    seed: int,
    accounts: int,
    blps: Sequence[BLPSpec] = DEFAULT_BLPS,
    seconds: int = 3600,
    drop: float = 0.20,
    bottom_at: float = 0.7,
    gaps: int = 3,
    gap_size: float = 0.03,
    csv_path: str | None = None,
    population: PopulationConfig | None = None,
    maker: MarketMakerConfig | None = None,
    perp_discount_bps: float = 0.0,
) -> Scenario:
    """Set up a population, market makers and BLPs on `exchange` and return the driver.

    `crash`: a `drop` fall over the first `bottom_at` of `seconds` with `gaps` flash drops of
    up to `gap_size`, partial rebound after; `walk`: a volatile random walk; `calm`: a quiet
    one; `csv`: BTC replayed from `csv_path` (ETH follows it with its own start price); a
    preset name (`presets.PRESETS`): that cascade's shape, gaps, thin books and crowded side
    (`drop`, `bottom_at`, `gaps` and `gap_size` are the preset's then).
    `perp_discount_bps`: the default makers quote the perp up to this far below a falling index
    (`MarketMakerConfig.max_discount_bps`).
    """
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    rng = random.Random(seed)
    x = exchange
    paths: dict[str, PricePath] = {}
    preset = PRESETS.get(name)
    if name == "csv":  # one replay for every symbol, each scaled to its own start price
        if csv_path is None:
            raise ValueError("the csv scenario needs a csv_path")
        base = csv_replay(csv_path)
        p0 = base(0)
    for symbol, start in START_PRICES.items():
        if symbol not in x.instruments:
            continue
        beta = 1.0 if symbol == "BTC-PERP" else 1.2
        if preset is not None:
            eth = symbol != "BTC-PERP"
            paths[symbol] = shaped(
                start,
                eth_waypoints(preset) if eth else preset.waypoints,
                seconds,
                rng,
                noise_bps=preset.noise_bps,
                gaps=preset.gaps,
                gap_size=preset.gap_size,
                gap_recovery_s=preset.gap_recovery_s,
            )
        elif name == "crash":
            paths[symbol] = crash(
                start,
                min(0.95, drop * beta),
                seconds,
                rng,
                bottom_at=bottom_at,
                gaps=gaps,
                gap_size=gap_size,
            )
        elif name == "walk":
            paths[symbol] = random_walk(start, 12.0 * beta, seconds, rng)
        elif name == "calm":
            paths[symbol] = random_walk(start, 2.0, seconds, rng)
        else:
            paths[symbol] = (lambda b, s, p: lambda t: b(t) / p * s)(base, start, p0)
    starts = {s: to_tick(p(0), x.instruments[s]) for s, p in paths.items()}
    house = x.open_account(AccountKind.MARKET_MAKER, Decimal("2000000000"))
    makers: list[MarketMaker] = []
    for symbol in paths:
        mm_id = x.open_account(AccountKind.MARKET_MAKER, Decimal("500000000"))
        # depth scales with open interest: the default ladder is sized for 5,000 traders
        calm = 60_000.0 * max(1.0, accounts / 5000)
        if maker is not None:
            cfg = maker
        elif preset is not None:
            cfg = MarketMakerConfig(
                level_notional=calm * preset.depth,
                thinning=preset.thinning,
                max_discount_bps=perp_discount_bps,
            )
        else:
            cfg = MarketMakerConfig(level_notional=calm, max_discount_bps=perp_discount_bps)
        makers.append(MarketMaker(mm_id, symbol, cfg))
        x.set_index(symbol, starts[symbol])
    pop = population or PopulationConfig(
        accounts=accounts, long_share=preset.long_share if preset else 0.6
    )
    if pop.accounts != accounts:
        pop = dataclasses.replace(pop, accounts=accounts)
    traders = seed_population(x, house, starts, pop, rng)
    blp_ids: dict[str, int] = {}
    for spec in blps:
        aid = x.open_account(AccountKind.TRADER, spec.collateral)
        x.register_blp(aid, spec.minute_rate, spec.hour_rate, {s: spec.threshold for s in paths})
        blp_ids[spec.name] = aid
    scenario = Scenario(x, paths, makers, seconds, traders, blp_ids, house, x.now_ms)
    scenario.step(x.now_ms)
    return scenario


__all__ = [
    "DEFAULT_BLPS",
    "SCENARIOS",
    "BLPSpec",
    "MarketMaker",
    "MarketMakerConfig",
    "PopulationConfig",
    "Scenario",
    "build_scenario",
    "crash",
    "csv_replay",
    "random_walk",
    "seed_population",
    "shaped",
]
