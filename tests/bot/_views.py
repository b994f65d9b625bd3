"""Hand-made views for strategy and risk tests (no I/O, exact Decimals)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from blp_client.bot.strategy import (
    EXCHANGE,
    FundingRate,
    Holding,
    Inventory,
    RiskState,
    VenueMargin,
    VenueMarket,
    View,
)
from blp_client.models import Account, Assignment, FeeTier, Profile, Remaining, Window

D = Decimal
SYM = "BTC-PERP"


def levels(*pairs: tuple[str, str]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((D(p), D(q)) for p, q in pairs)


def market(
    venue: str,
    *,
    symbol: str = SYM,
    bids: Sequence[tuple[str, str]] = (),
    asks: Sequence[tuple[str, str]] = (),
    mark: str | None = None,
    lot: str = "0.001",
    tick: str = "0.1",
    min_qty: str = "0",
    min_notional: str = "0",
    taker: str = "0",
) -> VenueMarket:
    return VenueMarket(
        venue,
        symbol,
        levels(*bids),
        levels(*asks),
        None if mark is None else D(mark),
        D(tick),
        D(lot),
        D(min_qty),
        D(min_notional),
        D(taker),
    )


def inventory(holdings: Mapping[tuple[str, str], str | tuple[str, str]]) -> Inventory:
    out = {}
    for key, value in holdings.items():
        pos, fly = (value, "0") if isinstance(value, str) else value
        out[key] = Holding(D(pos), D(fly))
    return Inventory(out)


def view(
    *,
    now_ms: int = 0,
    holdings: Mapping[tuple[str, str], str | tuple[str, str]] | None = None,
    markets: Iterable[VenueMarket] = (),
    profile: Profile | None = None,
    account: Account | None = None,
    venue_margins: Iterable[VenueMargin] = (),
    risk_state: RiskState = RiskState.ACTIVE,
    funding: Iterable[FundingRate] = (),
) -> View:
    return View(
        now_ms,
        inventory(holdings or {}),
        View.index(markets),
        profile,
        account,
        {m.venue: m for m in venue_margins},
        risk_state,
        {(f.symbol, f.venue): f for f in funding},
    )


def assignment(
    seq: int, side: str, qty: str, *, price: str = "100", symbol: str = SYM, ts: int = 0
) -> Assignment:
    return Assignment.model_validate(
        {
            "id": f"a{seq}",
            "seq": seq,
            "ts": ts,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "mark_price": price,
            "zero_price": price,
            "kind": "favorable",
            "discount_bps": "10",
            "liquidation_id": 1,
            "remaining": Remaining(minute=D(1), hour=D(1), threshold=D(1)).model_dump(),
        }
    )


def profile(thresholds: Mapping[str, str]) -> Profile:
    return Profile(
        account_id=1,
        minute_rate=D(100_000),
        hour_rate=D(300_000),
        used=Window(minute=D(0), hour=D(0)),
        remaining=Window(minute=D(0), hour=D(0)),
        max_position_notional={s: D(v) for s, v in thresholds.items()},
        threshold_headroom={s: D(v) for s, v in thresholds.items()},
        fee_tier=FeeTier(name="blp", taker=D("0.0002"), maker=D("-0.00005")),
        opted_in=True,
    )


def account(
    *,
    equity: str,
    notional: str,
    mmf: str = "0.01",
    imf: str = "0.02",
    margin_call: bool = False,
    liquidation_state: str = "none",
) -> Account:
    eq, no = D(equity), D(notional)
    mf = eq / no if no > 0 else None
    return Account(
        account_id=1,
        collateral=eq,
        equity=eq,
        upnl=D(0),
        notional=no,
        maintenance_margin=no * D(mmf),
        initial_margin=no * D(imf),
        mf=mf,
        mmf=D(mmf) if no > 0 else None,
        imf=D(imf) if no > 0 else None,
        tmf=None,
        leverage=no / eq if eq > 0 else None,
        liquidation_state=liquidation_state,
        margin_call=margin_call,
        positions=[],
    )


__all__ = [
    "EXCHANGE",
    "SYM",
    "D",
    "account",
    "assignment",
    "inventory",
    "levels",
    "market",
    "profile",
    "view",
]
