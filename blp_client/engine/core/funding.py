"""Perpetual funding: the premium index, the funding rate and the payments at each funding time.

Binance USDⓈ-M's published rules, every number in `FundingConfig`:

* each engine second, the premium index `P = (max(0, impact bid − index) − max(0, index −
  impact ask)) / index`, where the impact bid (ask) is the average price of selling (buying)
  the impact notional on the book; a side too thin to fill it counts as at the index;
* the interval's premium is the time-weighted average `Σ k·P_k / Σ k` (k = the sample's second
  within the interval, so later seconds weigh more, and a skipped second weighs nothing);
* the rate `F = P + clamp(I − P, ±clamp)`, then capped to ±cap, with the interest `I` given per
  8 h and scaled to the interval;
* at each funding time (multiples of the interval since epoch), every position pays
  `qty × mark × F` (longs pay shorts when F > 0), each amount quantised to 1e-8; what the
  quantisation leaves (|residue| ≤ half a unit per payment) goes to the insurance fund, so
  the payments net to exactly zero.

Pure and synchronous like the rest of the core: time and the book are inputs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from . import events as ev
from .ledger import Ledger
from .num import ZERO, money

RATE_STEP = Decimal("0.00000001")  # rates and premiums: Binance publishes 8 decimals
EIGHT_HOURS_MS = 8 * 3_600_000
SECOND_MS = 1000


@dataclass(frozen=True, slots=True)
class FundingConfig:
    enabled: bool = True
    interval_ms: int = EIGHT_HOURS_MS  # funding times are multiples of this since epoch
    interest_rate: Decimal = Decimal("0.0001")  # per 8 h (0.03% a day), scaled to the interval
    clamp: Decimal = Decimal("0.0005")  # |F − P| ≤ this before the cap
    cap: Decimal = Decimal("0.0075")  # |F| ≤ this (Binance's default for USDⓈ-M)
    impact_notional: Decimal = Decimal("20000")  # USDT: 200 USDT / 1% IMR at max leverage
    caps: Mapping[str, Decimal] = field(default_factory=dict)  # per-contract cap
    impact_notionals: Mapping[str, Decimal] = field(default_factory=dict)  # per-contract
    history: int = 1000  # settled intervals kept per contract (Binance serves ≤ 1000)

    def __post_init__(self) -> None:
        if self.interval_ms < SECOND_MS or self.interval_ms % SECOND_MS:
            raise ValueError("funding interval_ms must be a positive multiple of 1000")
        if self.clamp < 0 or self.cap < 0:
            raise ValueError("funding clamp and cap must be >= 0")
        if any(v < 0 for v in self.caps.values()):
            raise ValueError("funding caps must be >= 0")
        if self.impact_notional <= 0 or any(v <= 0 for v in self.impact_notionals.values()):
            raise ValueError("funding impact notionals must be > 0")
        if self.history < 1:
            raise ValueError("funding history must be >= 1")

    @property
    def interval_interest(self) -> Decimal:
        """The interest per interval: `interest_rate` is per 8 h."""
        return rate_q(self.interest_rate * self.interval_ms / EIGHT_HOURS_MS)

    @property
    def shortened(self) -> bool:
        return self.interval_ms < EIGHT_HOURS_MS

    def cap_for(self, symbol: str) -> Decimal:
        return self.caps.get(symbol, self.cap)

    def impact_for(self, symbol: str) -> Decimal:
        return self.impact_notionals.get(symbol, self.impact_notional)

    def next_time(self, now_ms: int) -> int:
        """The first funding time strictly after `now_ms`."""
        return (now_ms // self.interval_ms + 1) * self.interval_ms


def rate_q(x: Decimal) -> Decimal:
    return x.quantize(RATE_STEP, ROUND_HALF_EVEN)


def impact_price(levels: Iterable[tuple[Decimal, Decimal]], notional: Decimal) -> Decimal | None:
    """The average price of trading `notional` against (price, qty) levels, best first; None
    when the levels hold less than that."""
    left, qty = notional, ZERO
    for price, level_qty in levels:
        level_notional = price * level_qty
        if level_notional >= left:
            return notional / (qty + left / price)
        left -= level_notional
        qty += level_qty
    return None


def premium_index(
    impact_bid: Decimal | None, impact_ask: Decimal | None, index: Decimal
) -> Decimal:
    """Binance's premium index; a missing impact price counts as the index (no premium)."""
    above = max(ZERO, impact_bid - index) if impact_bid is not None else ZERO
    below = max(ZERO, index - impact_ask) if impact_ask is not None else ZERO
    return (above - below) / index


def funding_rate(premium: Decimal, interest: Decimal, clamp: Decimal, cap: Decimal) -> Decimal:
    """F = P + clamp(I − P, −clamp, clamp), capped to [−cap, cap], to 8 decimals."""
    adjust = min(clamp, max(-clamp, interest - premium))
    return rate_q(min(cap, max(-cap, premium + adjust)))


@dataclass(slots=True)
class PremiumAverage:
    """The time-weighted premium of one contract over the current interval: O(1) per sample."""

    start_ms: int  # the interval's start (the previous funding time)
    weighted: Decimal = ZERO  # Σ k·P_k
    weights: int = 0  # Σ k
    last_second: int = -1  # the last sampled second (engine ms // 1000)

    def add(self, now_ms: int, premium: Decimal) -> None:
        k = (now_ms - self.start_ms) // SECOND_MS
        if k < 1 or now_ms // SECOND_MS <= self.last_second:
            return  # the interval's first instant, or this second is already in
        self.last_second = now_ms // SECOND_MS
        self.weighted += k * premium
        self.weights += k

    @property
    def value(self) -> Decimal:
        """The average premium so far (0 before the first sample), to 8 decimals."""
        return rate_q(self.weighted / self.weights) if self.weights else ZERO


@dataclass(frozen=True, slots=True)
class Settlement:
    """One contract's funding at one funding time, as computed before the payments."""

    symbol: str
    funding_time: int
    premium: Decimal
    interest: Decimal
    rate: Decimal
    mark_price: Decimal


def payment(qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """The cash change of a position at a funding time: −qty·mark·rate, to 1e-8 (> 0 received)."""
    return money(-qty * mark * rate)


def pay(ledger: Ledger, s: Settlement, now_ms: int, first_id: int) -> list[ev.Event]:
    """Book a settlement on every open position of its contract (account order): one
    `FundingPayment` per non-zero amount, numbered from `first_id`, then `FundingSettled`."""
    rows = []
    for acct in ledger.accounts.values():
        pos = acct.positions.get(s.symbol)
        if pos is not None and pos.qty:
            amount = payment(pos.qty, s.mark_price, s.rate)
            if amount:
                rows.append((acct, pos.qty, amount))
    residue = ledger.pay_funding([(acct, amount) for acct, _, amount in rows])
    out: list[ev.Event] = [
        ev.FundingPayment(
            now_ms,
            first_id + i,
            acct.id,
            acct.kind.value,
            s.symbol,
            qty,
            s.mark_price,
            s.rate,
            amount,
            s.funding_time,
        )
        for i, (acct, qty, amount) in enumerate(rows)
    ]
    paid = sum((-a for _, _, a in rows if a < ZERO), ZERO)
    received = sum((a for _, _, a in rows if a > ZERO), ZERO)
    out.append(
        ev.FundingSettled(
            now_ms,
            s.symbol,
            s.funding_time,
            s.premium,
            s.interest,
            s.rate,
            s.mark_price,
            paid,
            received,
            residue,
            len(rows),
        )
    )
    return out


class Funding:
    """Per-contract premium averages, the next funding time and the settled history."""

    def __init__(self, config: FundingConfig, symbols: Iterable[str], now_ms: int) -> None:
        self.config = config
        self.next_ms = config.next_time(now_ms)
        start = self.next_ms - config.interval_ms
        self.averages = {s: PremiumAverage(start) for s in symbols}
        self.history: dict[str, deque[Settlement]] = {
            s: deque(maxlen=config.history) for s in self.averages
        }

    def sample(
        self,
        symbol: str,
        now_ms: int,
        bids: Iterable[tuple[Decimal, Decimal]],
        asks: Iterable[tuple[Decimal, Decimal]],
        index: Decimal,
    ) -> None:
        """One premium sample for `symbol` at `now_ms` (at most one per engine second)."""
        avg = self.averages[symbol]
        if now_ms // SECOND_MS <= avg.last_second or now_ms - avg.start_ms < SECOND_MS:
            return  # cheap exit before walking the book
        notional = self.config.impact_for(symbol)
        p = premium_index(impact_price(bids, notional), impact_price(asks, notional), index)
        avg.add(now_ms, p)

    def predicted(self, symbol: str) -> Decimal:
        """The rate the next funding time would pay with the samples so far."""
        cfg = self.config
        avg = self.averages[symbol].value
        return funding_rate(avg, cfg.interval_interest, cfg.clamp, cfg.cap_for(symbol))

    def last(self, symbol: str) -> Settlement | None:
        h = self.history[symbol]
        return h[-1] if h else None

    def settle(self, symbol: str, mark: Decimal | None) -> Settlement | None:
        """Close `symbol`'s interval at the funding time `next_ms`: the settlement to pay
        (None without a mark: nothing can be valued) and a fresh average."""
        cfg = self.config
        avg = self.averages[symbol]
        self.averages[symbol] = PremiumAverage(self.next_ms)
        if mark is None:
            return None
        premium, interest = avg.value, cfg.interval_interest
        rate = funding_rate(premium, interest, cfg.clamp, cfg.cap_for(symbol))
        s = Settlement(symbol, self.next_ms, premium, interest, rate, mark)
        self.history[symbol].append(s)
        return s

    def roll(self) -> None:
        """Every contract is settled for `next_ms`: move on to the next funding time."""
        self.next_ms += self.config.interval_ms
