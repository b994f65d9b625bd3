"""Account endpoints: positions (positionRisk), balance, account, leverage and commission.

Cross margin, one-way mode. Margin figures are the engine's tiered IMR/MMR; open orders add
the initial margin of the worse side, as Binance reports `openOrderInitialMargin`. Leverage is
only a per-symbol notional cap (Binance's brackets), not a margin rate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..core.book import Side
from ..core.ledger import Account
from ..core.margin import liquidation_price
from ..core.num import ZERO, money, price_q
from .errors import BinanceApiError, leverage_cap, missing
from .params import Call
from .shapes import JSON, POSITION_V2_KEYS, POSITION_V3_DROP, account_position, fmt
from .state import BIG, QUOTE, VenueState, max_notional


class AccountRisk:
    """Position and margin figures of one account, the way Binance reports them."""

    def __init__(self, state: VenueState) -> None:
        self.state = state

    def liq_price(self, acct: Account, symbol: str) -> Decimal:
        """Mark price at which the account becomes liquidatable, other marks held."""
        x = self.state.exchange
        pos = acct.positions.get(symbol)
        if pos is None or pos.qty == 0:
            return ZERO
        cash = acct.cash
        for s, p in acct.positions.items():
            if s == symbol or p.qty == 0:
                continue
            mark = x.marks.get(s)
            if mark is None:
                return ZERO
            n = abs(p.qty) * mark
            cash += p.upnl(mark) - x.instruments[s].maintenance_margin(n)
        lp = liquidation_price(cash, pos, x.instruments[symbol])
        if not lp.is_finite() or lp <= 0:
            return ZERO
        return price_q(lp)

    def open_order_im(self, acct: Account, symbol: str) -> Decimal:
        """Extra initial margin if the worse side of the open orders filled."""
        x = self.state.exchange
        mark = self.state.reference_price(symbol)
        if mark is None:
            return ZERO
        buys = sells = ZERO
        for oid in x.open_orders.get(acct.id, ()):
            o = x.orders[oid]
            if o.symbol == symbol and not o.reduce_only:
                if o.side is Side.BUY:
                    buys += o.remaining
                else:
                    sells += o.remaining
        inst = x.instruments[symbol]
        q = acct.qty(symbol)
        cur = inst.initial_margin(abs(q) * mark)
        worst = max(
            inst.initial_margin(abs(q + buys) * mark), inst.initial_margin(abs(q - sells) * mark)
        )
        return max(ZERO, worst - cur)

    def position_row(self, acct: Account, symbol: str) -> dict[str, Any]:
        """Every field any position endpoint answers; each endpoint picks its own."""
        st = self.state
        inst = st.exchange.instruments[symbol]
        pos = acct.positions.get(symbol)
        qty = pos.qty if pos is not None else ZERO
        mark = st.reference_price(symbol) or ZERO
        entry = price_q(pos.cost / qty) if pos is not None and qty else ZERO
        upnl = pos.upnl(mark) if pos is not None and qty else ZERO
        notional = qty * mark
        lev = st.leverage_of(acct.id, symbol)
        im = fmt(money(inst.initial_margin(abs(notional))))
        return {
            "symbol": st.to_venue[symbol],
            "positionSide": "BOTH",
            "positionAmt": fmt(qty),
            "entryPrice": fmt(entry),
            "breakEvenPrice": fmt(entry),
            "markPrice": fmt(mark),
            "unRealizedProfit": fmt(money(upnl)),
            "liquidationPrice": fmt(self.liq_price(acct, symbol)),
            "notional": fmt(money(notional)),
            "leverage": str(lev),
            "maxNotionalValue": fmt(max_notional(inst, lev)),
            "marginType": "cross",
            "isolatedMargin": "0",
            "isAutoAddMargin": "false",
            "isolatedWallet": "0",
            "marginAsset": QUOTE,
            "initialMargin": im,
            "maintMargin": fmt(money(inst.maintenance_margin(abs(notional)))),
            "positionInitialMargin": im,
            "openOrderInitialMargin": fmt(money(self.open_order_im(acct, symbol))),
            "adl": 0,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": st.position_updated.get((acct.id, symbol), 0),
        }

    def totals(self, account_id: int) -> dict[str, Decimal]:
        x = self.state.exchange
        acct = x.account(account_id)
        snap = x.margin(account_id)
        order_im = sum((self.open_order_im(acct, s) for s in x.instruments), ZERO)
        available = snap.equity - snap.im - order_im
        return {
            "wallet": acct.cash,
            "upnl": snap.upnl,
            "margin_balance": snap.equity,
            "mm": snap.mm,
            "position_im": snap.im,
            "order_im": order_im,
            "im": snap.im + order_im,
            "available": max(ZERO, available),
            "max_withdraw": max(ZERO, min(acct.cash, available)),
        }


class AccountHandlers:
    """Handlers of the signed account endpoints."""

    def __init__(self, state: VenueState) -> None:
        self.state = state
        self.risk = AccountRisk(state)

    def _position_symbols(self, call: Call, all_symbols: bool) -> list[str]:
        x = self.state.exchange
        sym = call.get("symbol")
        if sym is not None:
            return [self.state.inst(sym).symbol]
        if all_symbols:
            return list(x.instruments)
        acct = x.account(call.account)
        with_orders = {x.orders[o].symbol for o in x.open_orders.get(call.account, ())}
        return [s for s in x.instruments if acct.qty(s) != 0 or s in with_orders]

    async def position_risk_v2(self, call: Call) -> JSON:
        acct = self.state.exchange.account(call.account)
        rows = (self.risk.position_row(acct, s) for s in self._position_symbols(call, True))
        return [{k: row[k] for k in POSITION_V2_KEYS} for row in rows]

    async def position_risk_v3(self, call: Call) -> JSON:
        acct = self.state.exchange.account(call.account)
        return [
            {k: v for k, v in self.risk.position_row(acct, s).items() if k not in POSITION_V3_DROP}
            for s in self._position_symbols(call, False)
        ]

    def _update_time(self) -> int:
        # ccxt skips balance entries whose updateTime is 0 as stale: never report 0
        return max(1, self.state.exchange.now_ms)

    async def balance(self, call: Call) -> JSON:
        t = self.risk.totals(call.account)
        return [
            {
                "accountAlias": f"blp{call.account}",
                "asset": QUOTE,
                "balance": fmt(money(t["wallet"])),
                "crossWalletBalance": fmt(money(t["wallet"])),
                "crossUnPnl": fmt(money(t["upnl"])),
                "availableBalance": fmt(money(t["available"])),
                "maxWithdrawAmount": fmt(money(t["max_withdraw"])),
                "marginAvailable": True,
                "updateTime": self._update_time(),
            }
        ]

    async def account_v2(self, call: Call) -> JSON:
        return self._account(call, True)

    async def account_v3(self, call: Call) -> JSON:
        return self._account(call, False)

    def _account(self, call: Call, v2: bool) -> JSON:
        x = self.state.exchange
        m = {k: fmt(money(v)) for k, v in self.risk.totals(call.account).items()}
        asset = {
            "asset": QUOTE,
            "walletBalance": m["wallet"],
            "unrealizedProfit": m["upnl"],
            "marginBalance": m["margin_balance"],
            "maintMargin": m["mm"],
            "initialMargin": m["im"],
            "positionInitialMargin": m["position_im"],
            "openOrderInitialMargin": m["order_im"],
            "crossWalletBalance": m["wallet"],
            "crossUnPnl": m["upnl"],
            "availableBalance": m["available"],
            "maxWithdrawAmount": m["max_withdraw"],
            "marginAvailable": True,
            "updateTime": self._update_time(),
        }
        acct = x.account(call.account)
        positions = [
            account_position(self.risk.position_row(acct, s), v2)
            for s in self._position_symbols(call, v2)
        ]
        out: dict[str, Any] = {
            "totalInitialMargin": m["im"],
            "totalMaintMargin": m["mm"],
            "totalWalletBalance": m["wallet"],
            "totalUnrealizedProfit": m["upnl"],
            "totalMarginBalance": m["margin_balance"],
            "totalPositionInitialMargin": m["position_im"],
            "totalOpenOrderInitialMargin": m["order_im"],
            "totalCrossWalletBalance": m["wallet"],
            "totalCrossUnPnl": m["upnl"],
            "availableBalance": m["available"],
            "maxWithdrawAmount": m["max_withdraw"],
            "assets": [asset],
            "positions": positions,
        }
        if not v2:
            return out
        fee_taker, fee_maker = x.fee_tier(acct)
        return {
            "feeTier": 0,
            "feeBurn": False,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
            "takerCommissionRate": fmt(fee_taker),
            "makerCommissionRate": fmt(fee_maker),
            **out,
        }

    async def set_leverage(self, call: Call) -> JSON:
        st = self.state
        inst = st.inst(call.get("symbol"))
        lev = call.integer("leverage")
        if lev is None:
            raise missing("leverage")
        if not 1 <= lev <= int(1 / inst.tiers[0].imr):
            raise BinanceApiError(-4028, f"Leverage {lev} is not valid")
        acct = st.exchange.account(call.account)
        cap = max_notional(inst, lev)
        mark = st.reference_price(inst.symbol) or ZERO
        if abs(acct.qty(inst.symbol)) * mark > cap:
            raise leverage_cap()
        st.leverage[(call.account, inst.symbol)] = lev
        return {"leverage": lev, "maxNotionalValue": fmt(cap), "symbol": st.to_venue[inst.symbol]}

    async def leverage_bracket(self, call: Call) -> JSON:
        """All symbols' brackets as a list; one symbol's (`symbol` sent) as one object, as
        Binance documents it."""
        st = self.state
        insts, many = st.insts(call.get("symbol"))
        out = []
        for inst in insts:
            brackets = []
            for i, t in enumerate(inst.tiers):
                cap = inst.tiers[i + 1].floor if i + 1 < len(inst.tiers) else BIG
                brackets.append(
                    {
                        "bracket": i + 1,
                        "initialLeverage": int(1 / t.imr),
                        "notionalCap": int(cap),
                        "notionalFloor": int(t.floor),
                        "maintMarginRatio": float(t.mmr),
                        "cum": float(t.cum_mm),
                    }
                )
            venue_symbol = st.to_venue[inst.symbol]
            out.append({"symbol": venue_symbol, "notionalCoef": 1.0, "brackets": brackets})
        return out if many else out[0]

    async def commission_rate(self, call: Call) -> JSON:
        st = self.state
        inst = st.inst(call.get("symbol"))
        taker, maker = st.exchange.fee_tier(st.exchange.account(call.account))
        return {
            "symbol": st.to_venue[inst.symbol],
            "makerCommissionRate": fmt(maker),
            "takerCommissionRate": fmt(taker),
        }
