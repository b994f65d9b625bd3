"""The BLP API's wire messages (protocol v1), one definition for the engine and the SDK.

Money, prices and quantities are `Decimal` and travel as JSON strings ("49033.3"): floats are
refused on input because they are not exact. Requests forbid unknown fields so a typo is a 400
naming the field; responses ignore unknown fields so old clients keep working with new servers.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    model_validator,
)

from .vocabulary import AssignmentKind, Side

MAX_DECIMAL_DIGITS = 28
"""Most significant digits a decimal input may carry (Decimal's default precision: a longer
one would be rounded silently by the first arithmetic)."""
MAX_DECIMAL_PLACES = 18
"""Most digits after the point a decimal input may carry."""
_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_decimal(value: Any) -> Decimal:
    """The one strict decimal parser of every input (BLP API, admin API, venue params).

    A string must be ASCII digits with an optional leading `-` and an optional point: no
    spaces, `_`, `+`, exponent or non-ASCII digits. At most `MAX_DECIMAL_DIGITS` digits and
    `MAX_DECIMAL_PLACES` after the point. A JSON integer (or a Python `Decimal`/`int` given to
    the SDK) passes under the same bounds; a float is refused because it is not exact."""
    if isinstance(value, (bool, float)):
        raise ValueError('must be a decimal string such as "0.01", not a JSON float')
    if isinstance(value, str):
        if len(value) > 64:
            raise ValueError(f"must have at most {MAX_DECIMAL_DIGITS} digits")
        if not _DECIMAL_RE.fullmatch(value):
            raise ValueError(
                'must be a decimal string of ASCII digits such as "0.01" '
                "(optional leading '-', no exponent, spaces, '_' or '+')"
            )
        try:
            dec = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid ones
            raise ValueError("not a decimal") from None
    elif isinstance(value, int):
        if abs(value) >= 10**MAX_DECIMAL_DIGITS:
            raise ValueError(f"must have at most {MAX_DECIMAL_DIGITS} digits")
        dec = Decimal(value)
    elif isinstance(value, Decimal):
        dec = value
    else:
        raise ValueError('must be a decimal string such as "0.01"')
    if not dec.is_finite():
        raise ValueError("must be a finite decimal")
    digits = dec.as_tuple()
    exp = int(digits.exponent)
    places = max(0, -exp)
    ndigits = len(digits.digits) + exp if exp >= 0 else max(len(digits.digits), places)
    if places > MAX_DECIMAL_PLACES:
        raise ValueError(f"must have at most {MAX_DECIMAL_PLACES} digits after the point")
    if ndigits > MAX_DECIMAL_DIGITS:
        raise ValueError(f"must have at most {MAX_DECIMAL_DIGITS} digits")
    return dec


def _dec_str(value: Decimal) -> str:
    return format(value, "f")


Dec = Annotated[Decimal, PlainSerializer(_dec_str, return_type=str, when_used="json")]
"""A decimal in a response: the server sends strings, so no extra validation per field (this
runs on every streamed event)."""
DecIn = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    PlainSerializer(_dec_str, return_type=str, when_used="json"),
]
"""A decimal in a request, through `parse_decimal`: strict syntax, bounded digits, no float."""
Symbol = Annotated[str, Field(min_length=1, max_length=32)]


class Response(BaseModel):
    """Server → client: unknown fields are ignored (forward compatible)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Request(BaseModel):
    """Client → server: unknown fields are an error naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- profile ---------------------------------------------------------------------------


class Window(Response):
    minute: Dec
    hour: Dec


class FeeTier(Response):
    name: str
    taker: Dec
    maker: Dec


class Profile(Response):
    account_id: int
    minute_rate: Dec
    hour_rate: Dec
    used: Window  # notional assigned in the rolling 60 s / 3600 s windows
    remaining: Window
    max_position_notional: dict[str, Dec]
    threshold_headroom: dict[str, Dec]  # notional still assignable per contract at mark
    fee_tier: FeeTier
    opted_in: bool


class ProfileUpdate(Request):
    max_position_notional: dict[str, DecIn] | None = None
    opted_in: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ProfileUpdate:
        if self.max_position_notional is None and self.opted_in is None:
            raise ValueError("give max_position_notional and/or opted_in")
        return self


# ---- account ---------------------------------------------------------------------------


class Position(Response):
    symbol: str
    qty: Dec  # signed: long > 0
    entry_price: Dec | None
    mark_price: Dec | None
    notional: Dec
    upnl: Dec


class Account(Response):
    account_id: int
    collateral: Dec
    equity: Dec
    upnl: Dec
    notional: Dec
    maintenance_margin: Dec
    initial_margin: Dec
    mf: Dec | None  # None while flat
    mmf: Dec | None
    imf: Dec | None
    tmf: Dec | None
    leverage: Dec | None  # None when equity <= 0 with positions (unbounded)
    liquidation_state: str  # none | reducing
    margin_call: bool
    positions: list[Position]
    funding_paid: Dec = Decimal(0)  # Σ perpetual funding paid since the account opened (>= 0)
    funding_received: Dec = Decimal(0)  # Σ funding received (>= 0)


# ---- assignments and events ------------------------------------------------------------


class Remaining(Response):
    minute: Dec
    hour: Dec
    threshold: Dec


class Assignment(Response):
    id: str
    seq: int
    ts: int
    symbol: str
    side: Side  # the BLP's side: buy = it receives a long
    qty: Dec
    price: Dec
    mark_price: Dec
    zero_price: Dec
    kind: AssignmentKind
    discount_bps: Dec  # signed, positive = better than mark for the BLP
    liquidation_id: int
    remaining: Remaining


class ProfileData(Response):
    account_id: int
    minute_rate: Dec
    hour_rate: Dec
    max_position_notional: dict[str, Dec]
    opted_in: bool
    reason: str  # registered | threshold | rates | opt | taken_over


MarginKind = Literal[
    "margin_call",
    "margin_ok",
    "liquidation_started",
    "liquidation_returned",
    "taken_over",
    "adl",
    "clawback",
]


class MarginData(Response):
    kind: MarginKind
    account_id: int
    equity: Dec | None = None
    mf: Dec | None = None
    mmf: Dec | None = None
    imf: Dec | None = None
    liquidation_id: int | None = None
    symbol: str | None = None
    qty: Dec | None = None  # taken_over: the position taken; adl: the change to the position
    price: Dec | None = None
    zero_price: Dec | None = None
    mark_price: Dec | None = None
    amount: Dec | None = None  # clawback


class FillData(Response):
    trade_id: int
    order_id: int
    client_order_id: str | None
    symbol: str
    side: Side
    qty: Dec
    price: Dec
    fee: Dec  # negative = rebate
    liquidity: Literal["maker", "taker"]


class FundingData(Response):
    """One of the BLP's positions paid or received funding at a funding time."""

    payment_id: int  # unique across the exchange: dedupe by it
    symbol: str
    qty: Dec  # the signed position that paid or received
    mark_price: Dec
    rate: Dec  # > 0: longs pay shorts
    amount: Dec  # the account's cash change: > 0 received, < 0 paid (= −qty·mark·rate)
    funding_time: int  # ms


class _EventBase(Response):
    op: Literal["event"] = "event"
    seq: int
    id: str
    ts: int


class AssignmentEvent(_EventBase):
    type: Literal["assignment"] = "assignment"
    data: Assignment


class ProfileEvent(_EventBase):
    type: Literal["profile"] = "profile"
    data: ProfileData


class MarginEvent(_EventBase):
    type: Literal["margin"] = "margin"
    data: MarginData


class FillEvent(_EventBase):
    type: Literal["fill"] = "fill"
    data: FillData


class FundingEvent(_EventBase):
    type: Literal["funding"] = "funding"
    data: FundingData


EVENT_CLASSES = (AssignmentEvent, ProfileEvent, MarginEvent, FillEvent, FundingEvent)
Event = Annotated[
    AssignmentEvent | ProfileEvent | MarginEvent | FillEvent | FundingEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class AssignmentPage(Response):
    assignments: list[Assignment]
    next_from_seq: int | None  # pass as from_seq for the next page; None when this was the last
    last_seq: int  # the BLP's latest event seq


class EventPage(Response):
    events: list[Event]
    next_from_seq: int | None
    last_seq: int


# ---- markets ---------------------------------------------------------------------------


class Market(Response):
    symbol: str
    base: str
    tick: Dec
    lot: Dec
    min_notional: Dec
    index_price: Dec | None
    mark_price: Dec | None
    best_bid: Dec | None
    best_ask: Dec | None
    # perpetual funding (None while the engine runs without it)
    funding_rate: Dec | None = None  # the last funding time's rate (None before the first)
    predicted_funding_rate: Dec | None = None  # what the next funding time pays, so far
    next_funding_time: int | None = None  # ms
    funding_interval_ms: int | None = None


class MarketList(Response):
    markets: list[Market]


class Book(Response):
    symbol: str
    ts: int
    bids: list[tuple[Dec, Dec]]  # (price, qty), best first
    asks: list[tuple[Dec, Dec]]


# ---- orders ----------------------------------------------------------------------------


class OrderRequest(Request):
    symbol: Symbol
    side: Side
    type: Literal["limit", "market"] = "limit"
    qty: DecIn = Field(gt=0)
    price: DecIn | None = Field(default=None, gt=0)
    tif: Literal["GTC", "IOC"] = "GTC"
    reduce_only: bool = False
    client_order_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _price_matches_type(self) -> OrderRequest:
        if self.type == "limit" and self.price is None:
            raise ValueError("price is required for a limit order")
        if self.type == "market" and self.price is not None:
            raise ValueError("price must be omitted for a market order")
        return self


class Order(Response):
    id: int
    client_order_id: str | None
    symbol: str
    side: Side
    type: Literal["limit", "market"]
    qty: Dec
    price: Dec | None
    tif: str
    reduce_only: bool
    status: str  # new | partially_filled | filled | cancelled | rejected
    filled_qty: Dec
    avg_price: Dec | None
    fees: Dec
    created_ts: int


class OrderList(Response):
    orders: list[Order]


# ---- the stream's control messages -----------------------------------------------------


class AuthRequest(Request):
    op: Literal["auth"] = "auth"
    key: str
    timestamp: int
    signature: str


class Subscribe(Request):
    op: Literal["subscribe"] = "subscribe"
    from_seq: int = Field(default=0, ge=0)


class Ping(Response):
    op: Literal["ping"] = "ping"
    ts: int


class Pong(Response):
    op: Literal["pong"] = "pong"
    ts: int


class AuthResult(Response):
    op: Literal["auth"] = "auth"
    ok: bool


class Subscribed(Response):
    op: Literal["subscribed"] = "subscribed"
    from_seq: int
    last_seq: int  # the BLP's latest seq when the subscription started
    log_id: str | None = None  # identity of the event log the seqs belong to


class StreamError(Response):
    op: Literal["error"] = "error"
    code: str
    message: str


ServerMessage = Annotated[
    Event | Ping | Pong | AuthResult | Subscribed | StreamError, Field(discriminator="op")
]
SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


# ---- admin -----------------------------------------------------------------------------


class PositionSpec(Request):
    symbol: Symbol
    qty: DecIn  # signed: long > 0
    price: DecIn = Field(gt=0)


class CreateAccounts(Request):
    kind: Literal["trader", "market_maker"] = "trader"
    collateral: DecIn = Field(default=Decimal(0), ge=0)
    positions: list[PositionSpec] = []
    count: int = Field(default=1, ge=1, le=100_000)
    counterparty_id: int | None = None  # default: the engine's house account


class AccountIds(Response):
    account_ids: list[int]


class RegisterBLP(Request):
    account_id: int | None = None  # default: open a new account
    collateral: DecIn = Field(default=Decimal(0), ge=0)
    minute_rate: DecIn
    hour_rate: DecIn
    max_position_notional: dict[str, DecIn]
    name: str | None = None


class Credentials(Response):
    account_id: int
    api_key: str
    api_secret: str
    name: str | None = None


class CredentialsList(Response):
    blps: list[Credentials]


class SetIndex(Request):
    symbol: Symbol
    price: DecIn = Field(gt=0)


class Advance(Request):
    ms: int | None = Field(default=None, gt=0)
    to_ms: int | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Advance:
        if (self.ms is None) == (self.to_ms is None):
            raise ValueError("give exactly one of ms or to_ms")
        return self


class Clock(Response):
    now_ms: int
    clock: Literal["real", "manual"]


class ScenarioStart(Request):
    name: str
    seed: int = 0
    accounts: int = Field(default=1000, ge=0, le=1_000_000)


class ScenarioStatus(Response):
    name: str | None
    running: bool
    started_ms: int | None
    done: bool
    seconds: int | None = None  # the scenario's length in engine seconds
    engine_seconds: float | None = None  # engine time since its second 0 (later after a pause)
    now_ms: int | None = None  # the engine's time


class AdminBLP(Response):
    """Admin: one registered BLP as the engine sees it (its event log and liquidation)."""

    account_id: int
    name: str | None
    api_key: str
    opted_in: bool
    last_seq: int  # of its event log
    events: dict[str, int]  # logged events by type (assignment, profile, margin, fill, ...)
    liquidated: bool  # ever taken into liquidation
    liquidation_state: str  # its account's now: none | reducing


class AccountOrders(Response):
    """Admin: the orders an account placed on the engine's book (through the BLP API or the
    venue facade; the engine's own liquidation orders are not orders of the account)."""

    account_id: int
    count: int  # orders matching `status`
    open: int
    client_order_ids: int  # distinct client order ids among them
    duplicate_client_order_ids: int  # orders whose client id an earlier one already used
    orders: list[Order]  # the last `limit` of them, oldest first


class Deposit(Request):
    amount: DecIn = Field(gt=0)


class ForceLiquidations(Request):
    """Admin: liquidate `count` fresh zero-equity accounts at once (see docs/protocol.md)."""

    symbol: Symbol = "BTC-PERP"
    count: int = Field(default=1, ge=1, le=100_000)
    qty: DecIn | None = Field(default=None, gt=0)  # per account; default one lot
    side: Literal["long", "short", "alternate"] = "alternate"  # of the liquidated positions
    bankrupt_bps: DecIn | None = Field(default=None, gt=0, le=1000)
    """Toxic flow: each account's entry is this many bps worse than mark (longs above it,
    shorts below), so its equity is negative and its zero price worse than mark; the BLPs
    fill at the zero price, collared at 1 % off mark (discount_bps = −bankrupt_bps, at most
    −100). Default: zero equity, zero price = mark."""


class StreamFaults(Request):
    """Admin, test-only: the next `assignments` assignment events sent on the stream carry a
    price shifted by `assignment_price_bps` (a tampered wire: the ledger keeps the real price).
    `assignments` 0 turns it off."""

    assignment_price_bps: DecIn = Field(default=Decimal(0), ge=-1000, le=1000)
    assignments: int = Field(default=0, ge=0, le=100_000)


class StreamFaultState(Response):
    assignment_price_bps: Dec
    assignments_left: int
    assignments_shifted: int  # since the engine started


class ForceResult(Response):
    accounts: int
    first_account_id: int
    last_account_id: int
    assignments: int  # assignments the waterfall produced (all BLPs)
    events_logged: int


class EngineStats(Response):
    now_ms: int
    clock: Literal["real", "manual"]
    insurance_fund: Dec
    insurance_fund_positions: dict[str, Dec]
    liquidations: dict[str, Dec]  # the waterfall's counters (counts and notionals)
    blps: int
    accounts: int
    stream: dict[str, int]  # connections, slow_consumer_closes, events_logged
    pid: int | None = None  # the engine's process id
