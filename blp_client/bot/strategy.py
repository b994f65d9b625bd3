"""The strategy interface: what a strategy sees (`View`), what happens (events) and what it may
ask for (intents).

A strategy is a decision function: `decide(view, event) -> intents`. It does no I/O, so it can
be unit-tested on hand-made views, and a replayed event after a crash gives the same intents
(the daemon restores any state the strategy keeps from the journal, see `dump_state`). The risk
gate then allows or denies each intent and the executor acts on the allowed ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from blp_client.bot.books import ZERO, Candidate, Level, sign
from blp_client.models import Account, Assignment, Profile

EXCHANGE = "exchange"
"""The venue name of the BLP's own account on the exchange (assignments land there)."""


class RiskState(StrEnum):
    ACTIVE = "active"  # everything the limits allow
    REDUCING = "reducing"  # only orders that reduce net exposure
    HALTED = "halted"  # nothing (kill switch); only lowering the threshold


# ---- intents ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hedge:
    """Trade `qty` (signed: > 0 buys) of `symbol` on hedge venue `venue`.

    `limit_price` None is a market order; otherwise a limit (IOC by default: a marketable limit
    whose price already includes `slippage_bps` through the reference price)."""

    symbol: str
    venue: str
    qty: Decimal
    limit_price: Decimal | None = None
    tif: Literal["IOC", "GTC"] = "IOC"
    slippage_bps: Decimal | None = None
    reason: str = ""

    @property
    def side(self) -> int:
        return sign(self.qty)


@dataclass(frozen=True, slots=True)
class FlipOnExchange:
    """Trade `qty` (signed) on the exchange's own book from the BLP account (offload the flow)."""

    symbol: str
    qty: Decimal
    limit_price: Decimal | None = None
    tif: Literal["IOC", "GTC"] = "IOC"
    slippage_bps: Decimal | None = None
    reduce_only: bool = True
    reason: str = ""

    @property
    def venue(self) -> str:
        return EXCHANGE

    @property
    def side(self) -> int:
        return sign(self.qty)


@dataclass(frozen=True, slots=True)
class SetThreshold:
    """Set the BLP's Max Position Notional Threshold for `symbol` (quote notional)."""

    symbol: str
    value: Decimal
    reason: str = ""


OrderIntent = Hedge | FlipOnExchange
Intent = Hedge | FlipOnExchange | SetThreshold


# ---- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssignmentReceived:
    """An assignment, already applied to the exchange position in the view's inventory."""

    assignment: Assignment

    @property
    def symbol(self) -> str:
        return self.assignment.symbol

    @property
    def signed_qty(self) -> Decimal:
        q = self.assignment.qty
        return q if self.assignment.side == "buy" else -q


@dataclass(frozen=True, slots=True)
class FillReceived:
    """A fill of one of the bot's orders, already applied to the view's inventory."""

    venue: str
    symbol: str
    trade_id: str
    client_order_id: str | None
    qty: Decimal  # signed
    price: Decimal
    fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Timer:
    """A periodic tick, at the cadence the strategy asks for with `timer_ms()`."""

    now_ms: int
    name: str = "tick"


@dataclass(frozen=True, slots=True)
class RiskChanged:
    old: RiskState
    new: RiskState
    reason: str = ""


StrategyEvent = AssignmentReceived | FillReceived | Timer | RiskChanged


# ---- the view --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holding:
    """Position on one venue in one contract, and the signed open quantity of orders in flight."""

    position: Decimal = ZERO
    in_flight: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.position + self.in_flight


@dataclass(frozen=True)
class Inventory:
    """Holdings per (contract, venue). Net exposure counts in-flight orders by default: an order
    already sent will (probably) fill, and ignoring it is how bots over-hedge."""

    holdings: Mapping[tuple[str, str], Holding] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holdings", MappingProxyType(dict(self.holdings)))

    def get(self, symbol: str, venue: str) -> Holding:
        return self.holdings.get((symbol, venue), Holding())

    def net(self, symbol: str, *, in_flight: bool = True) -> Decimal:
        return sum(
            (
                h.total if in_flight else h.position
                for (s, _v), h in self.holdings.items()
                if s == symbol
            ),
            ZERO,
        )

    def symbols(self) -> list[str]:
        return sorted({s for s, _v in self.holdings})

    def venues(self, symbol: str) -> list[str]:
        return sorted(v for s, v in self.holdings if s == symbol)

    def changed(
        self, symbol: str, venue: str, *, position: Decimal = ZERO, in_flight: Decimal = ZERO
    ) -> Inventory:
        """A copy with deltas applied (pure: used to project the effect of events and orders)."""
        h = self.get(symbol, venue)
        new = dict(self.holdings)
        new[(symbol, venue)] = Holding(h.position + position, h.in_flight + in_flight)
        return Inventory(new)


@dataclass(frozen=True, slots=True)
class VenueMarket:
    """One contract on one venue: book (best first), mark, size rules and fees.

    Quantities are in the contract's base units whatever the venue's own contract size; the
    executor converts."""

    venue: str
    symbol: str
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    mark: Decimal | None = None
    tick: Decimal = ZERO
    lot: Decimal = ZERO
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    taker_fee: Decimal = ZERO
    maker_fee: Decimal = ZERO
    ts: int = 0

    def levels(self, side: int) -> tuple[Level, ...]:
        """What an order of `side` takes: asks for a buy, bids for a sell."""
        return self.asks if side > 0 else self.bids

    def touch(self, side: int) -> Decimal | None:
        levels = self.levels(side)
        return levels[0][0] if levels else None

    def mid(self) -> Decimal | None:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2
        return None

    def candidate(self, side: int) -> Candidate:
        return Candidate(
            self.venue,
            self.levels(side),
            self.taker_fee,
            self.lot,
            self.min_qty,
            self.min_notional,
            self.mark if self.mark is not None else self.mid(),
        )


@dataclass(frozen=True, slots=True)
class VenueMargin:
    """A hedge venue's account summary in quote currency (from its balance/positions)."""

    venue: str
    equity: Decimal
    notional: Decimal = ZERO
    maintenance_margin: Decimal = ZERO

    @property
    def leverage(self) -> Decimal | None:
        """Notional over equity; None (unbounded) with positions and no equity."""
        if self.notional == 0:
            return ZERO
        return self.notional / self.equity if self.equity > 0 else None

    @property
    def margin_ratio(self) -> Decimal | None:
        """Maintenance margin over equity: 1 means liquidation; None when unbounded."""
        if self.maintenance_margin == 0:
            return ZERO
        return self.maintenance_margin / self.equity if self.equity > 0 else None


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A contract's perpetual funding on one venue (rates per funding interval; > 0: longs
    pay shorts). `current` is the rate charged at the last funding time, `predicted` the
    venue's estimate for the next one (`next_ms`); None where the venue does not say."""

    venue: str
    symbol: str
    current: Decimal | None = None
    predicted: Decimal | None = None
    next_ms: int | None = None
    interval_ms: int | None = None
    ts: int = 0  # when it was read (ms)

    @property
    def expected(self) -> Decimal | None:
        """The rate to plan with: the prediction, else the last rate."""
        return self.predicted if self.predicted is not None else self.current


@dataclass(frozen=True)
class View:
    """Everything a strategy may look at, read-only, at one moment (`now_ms`)."""

    now_ms: int
    inventory: Inventory = field(default_factory=Inventory)
    markets: Mapping[tuple[str, str], VenueMarket] = field(default_factory=dict)
    profile: Profile | None = None
    account: Account | None = None
    venue_margins: Mapping[str, VenueMargin] = field(default_factory=dict)
    risk_state: RiskState = RiskState.ACTIVE
    funding_rates: Mapping[tuple[str, str], FundingRate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "markets", MappingProxyType(dict(self.markets)))
        object.__setattr__(self, "venue_margins", MappingProxyType(dict(self.venue_margins)))
        object.__setattr__(self, "funding_rates", MappingProxyType(dict(self.funding_rates)))

    @staticmethod
    def index(markets: Iterable[VenueMarket]) -> dict[tuple[str, str], VenueMarket]:
        return {(m.symbol, m.venue): m for m in markets}

    def market(self, symbol: str, venue: str) -> VenueMarket | None:
        return self.markets.get((symbol, venue))

    def funding(self, symbol: str, venue: str) -> FundingRate | None:
        """The contract's funding on `venue` (None: unknown, or the venue has none)."""
        return self.funding_rates.get((symbol, venue))

    def markets_for(self, symbol: str) -> list[VenueMarket]:
        return sorted(
            (m for (s, _v), m in self.markets.items() if s == symbol), key=lambda m: m.venue
        )

    def symbols(self) -> list[str]:
        return sorted({s for s, _v in self.markets} | set(self.inventory.symbols()))

    def mark(self, symbol: str) -> Decimal | None:
        """The exchange's mark; failing that the first venue mark or mid (by venue name)."""
        ex = self.market(symbol, EXCHANGE)
        if ex is not None and ex.mark is not None:
            return ex.mark
        for m in self.markets_for(symbol):
            price = m.mark if m.mark is not None else m.mid()
            if price is not None:
                return price
        return None

    def threshold(self, symbol: str) -> Decimal | None:
        if self.profile is None:
            return None
        return self.profile.max_position_notional.get(symbol)

    def with_risk_state(self, state: RiskState) -> View:
        return replace(self, risk_state=state)


# ---- the interface ---------------------------------------------------------------------


class StrategyParams(BaseModel):
    """Base of strategy parameters: unknown keys are errors, so TOML typos are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(StrategyParams):
    pass


P = TypeVar("P", bound=StrategyParams)


class Strategy(Generic[P]):
    """Subclass this, set `Params` to your pydantic parameters, override the `on_*` you need.

    Strategies may keep state between events (e.g. a TWAP schedule); if they do, they must
    return it from `dump_state` as JSON-able data and accept it back in `load_state`, which
    the daemon journals atomically with each processed event so a restart resumes exactly.
    """

    Params: ClassVar[type[StrategyParams]] = NoParams
    name: ClassVar[str] = ""

    def __init__(self, params: P | None = None) -> None:
        self.params: P = params if params is not None else cast(P, type(self).Params())

    @classmethod
    def from_params(cls, raw: Mapping[str, Any] | None = None) -> Strategy[P]:
        return cls(cast(P, cls.Params.model_validate(dict(raw or {}))))

    def timer_ms(self) -> int | None:
        """How often the daemon should send `Timer` events (None: never)."""
        return None

    def decide(self, view: View, event: StrategyEvent) -> list[Intent]:
        if isinstance(event, AssignmentReceived):
            return list(self.on_assignment(view, event))
        if isinstance(event, FillReceived):
            return list(self.on_fill(view, event))
        if isinstance(event, Timer):
            return list(self.on_timer(view, event))
        return list(self.on_risk(view, event))

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        return ()

    def on_fill(self, view: View, event: FillReceived) -> Sequence[Intent]:
        return ()

    def on_timer(self, view: View, event: Timer) -> Sequence[Intent]:
        return ()

    def on_risk(self, view: View, event: RiskChanged) -> Sequence[Intent]:
        return ()

    def dump_state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        return None
