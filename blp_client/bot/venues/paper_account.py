"""The money side of `PaperVenue`: cash, cost-basis positions, marks, and a simple
initial-margin check, all in `Decimal`.

Kept apart from the order simulation so each can be read on its own: orders ask this account
whether they fit and book their fills here; positions and balance are answered from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from .base import ZERO, Balance, InsufficientFunds, Side, VenueError, VenueOrder, VenuePosition

MONEY = Decimal("0.00000001")


@dataclass
class PaperPosition:
    qty: Decimal = ZERO
    cost: Decimal = ZERO  # Σ signed qty·price of the open quantity
    realised: Decimal = ZERO


class PaperAccount:
    """Cross-margined paper account: IM is `initial_margin_rate`·notional of positions and of
    the worse side of open orders; equity is cash plus unrealised PnL at the last marks."""

    def __init__(
        self,
        name: str,
        cash: Decimal,
        initial_margin_rate: Decimal,
        maintenance_margin_rate: Decimal,
    ) -> None:
        self.name = name
        self.cash = cash
        self.initial_margin_rate = initial_margin_rate
        self.maintenance_margin_rate = maintenance_margin_rate
        self.positions: dict[str, PaperPosition] = {}
        self.marks: dict[str, Decimal] = {}
        self.fees_paid = ZERO

    def qty(self, symbol: str) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else ZERO

    def pay_fee(self, fee: Decimal) -> None:
        self.cash -= fee
        self.fees_paid += fee

    def trade(self, symbol: str, qty: Decimal, price: Decimal) -> None:
        """Book a signed quantity; realised PnL goes to cash (cost-basis accounting)."""
        pos = self.positions.setdefault(symbol, PaperPosition())
        old = pos.qty
        new = old + qty
        new_cost = pos.cost + qty * price
        if old != 0 and (qty > 0) != (old > 0):
            if new == 0:
                kept = ZERO
            elif (new > 0) == (old > 0):
                kept = pos.cost * new / old
            else:
                kept = new * price
            realised = kept - new_cost
            self.cash += realised
            pos.realised += realised
            new_cost = kept
        pos.qty, pos.cost = new, new_cost

    def upnl(self) -> Decimal:
        total = ZERO
        for s, p in self.positions.items():
            mark = self.marks.get(s)
            if p.qty and mark is not None:
                total += p.qty * mark - p.cost
        return total

    def equity(self) -> Decimal:
        return self.cash + self.upnl()

    def im(self, open_orders: Iterable[VenueOrder], exclude: str | None = None) -> Decimal:
        """Initial margin of every symbol but `exclude`: position or worse side of its orders."""
        orders = list(open_orders)
        rate = self.initial_margin_rate
        total = ZERO
        for s in set(self.positions) | {o.symbol for o in orders}:
            if s == exclude:
                continue
            mark = self.marks.get(s)
            if mark is None:
                continue
            q = self.qty(s)
            buys = sum((o.remaining for o in orders if o.symbol == s and o.side is Side.BUY), ZERO)
            sells = sum(
                (o.remaining for o in orders if o.symbol == s and o.side is Side.SELL), ZERO
            )
            total += max(abs(q), abs(q + buys), abs(q - sells)) * mark * rate
        return total

    def check_margin(
        self,
        open_orders: Iterable[VenueOrder],
        symbol: str,
        side: Side,
        qty: Decimal,
        ref: Decimal | None,
        fee_rate: Decimal,
    ) -> None:
        """Refuse (`InsufficientFunds`) an order that would grow a position past equity."""
        if ref is None:
            raise VenueError(f"{self.name}: {symbol} has no price (empty book)")
        orders = list(open_orders)
        pending = sum(
            (
                o.remaining
                for o in orders
                if o.symbol == symbol and o.side is side and not o.reduce_only
            ),
            ZERO,
        )
        cur = self.qty(symbol)
        new = cur + side.sign * (pending + qty)
        if abs(new) <= abs(cur):
            return
        im_after = self.im(orders, exclude=symbol) + abs(new) * ref * self.initial_margin_rate
        fee = qty * ref * fee_rate
        equity = self.equity()
        if equity - fee < im_after:
            raise InsufficientFunds(
                f"{self.name}: initial margin {im_after.quantize(MONEY)} would exceed equity "
                f"{equity.quantize(MONEY)}"
            )

    def venue_positions(self) -> list[VenuePosition]:
        out = []
        for s, p in sorted(self.positions.items()):
            if not p.qty:
                continue
            mark = self.marks.get(s)
            out.append(
                VenuePosition(
                    symbol=s,
                    qty=p.qty,
                    entry_price=p.cost / p.qty,
                    mark_price=mark,
                    unrealized_pnl=(p.qty * mark - p.cost) if mark is not None else ZERO,
                    notional=abs(p.qty) * mark if mark is not None else ZERO,
                    maintenance_margin=(
                        abs(p.qty) * mark * self.maintenance_margin_rate
                        if mark is not None
                        else None
                    ),
                )
            )
        return out

    def balance(self, currency: str, open_orders: Iterable[VenueOrder]) -> Balance:
        equity = self.equity()
        used = self.im(open_orders)
        return Balance(currency, equity, max(ZERO, equity - used), used)
