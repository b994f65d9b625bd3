"""Funding endpoints: `GET /fapi/v1/fundingRate` (history), `GET /fapi/v1/fundingInfo` and
`GET /fapi/v1/income` (its `FUNDING_FEE` rows), in Binance USDⓈ-M's shapes, from the engine's
own funding (`core/funding.py`). `premiumIndex` (market_data.py) shows the predicted rate.

Choices where Binance's docs are silent or differ: `fundingInfo` lists every contract (Binance
lists only contracts with adjusted caps or intervals; here every one is configurable), and an
interval of less than an hour shows as a fraction in `fundingIntervalHours`. `income` serves
only `FUNDING_FEE` rows (any other `incomeType` gets an empty list), the last 10,000 per account.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..core.funding import RATE_STEP
from .errors import BinanceApiError
from .params import Call
from .shapes import JSON
from .state import QUOTE, VenueState

HOUR_MS = 3_600_000
WEEK_MS = 7 * 86_400_000
INCOME_TYPES = frozenset(
    {
        "TRANSFER", "WELCOME_BONUS", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION",
        "INSURANCE_CLEAR", "REFERRAL_KICKBACK", "COMMISSION_REBATE", "API_REBATE",
        "CONTEST_REWARD", "CROSS_COLLATERAL_TRANSFER", "OPTIONS_PREMIUM_FEE",
        "OPTIONS_SETTLE_PROFIT", "INTERNAL_TRANSFER", "AUTO_EXCHANGE", "DELIVERED_SETTELMENT",
        "COIN_SWAP_DEPOSIT", "COIN_SWAP_WITHDRAW", "POSITION_LIMIT_INCREASE_FEE",
        "STRATEGY_UMFUTURES_TRANSFER", "FEE_RETURN", "BFUSD_REWARD",
    }
)  # fmt: skip


def rate8(x: Decimal) -> str:
    """Binance's 8-decimal rate and amount strings ("0.00010000")."""
    return format(x.quantize(RATE_STEP), "f")


def interval_hours(interval_ms: int) -> int | float:
    hours = Decimal(interval_ms) / HOUR_MS
    return int(hours) if hours == hours.to_integral_value() else float(round(hours, 6))


class FundingHandlers:
    def __init__(self, state: VenueState) -> None:
        self.state = state

    async def funding_rate(self, call: Call) -> JSON:
        """Settled funding, oldest first: the latest `limit` (default 100, at most 1000), or
        the first `limit` from `startTime` when one is given."""
        st = self.state
        insts, _ = st.insts(call.get("symbol"))
        start, end = call.integer("startTime"), call.integer("endTime")
        limit = call.limit(100, 1000)
        rows = sorted(
            (
                s
                for inst in insts
                for s in st.exchange.funding.history[inst.symbol]
                if (start is None or s.funding_time >= start)
                and (end is None or s.funding_time <= end)
            ),
            key=lambda s: (s.funding_time, s.symbol),
        )
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [
            {
                "symbol": st.to_venue[s.symbol],
                "fundingRate": rate8(s.rate),
                "fundingTime": s.funding_time,
                "markPrice": rate8(s.mark_price),
            }
            for s in rows
        ]

    async def funding_info(self, call: Call) -> JSON:
        st = self.state
        cfg = st.exchange.config.funding
        out: list[dict[str, Any]] = []
        for symbol in st.exchange.instruments:
            cap = cfg.cap_for(symbol)
            out.append(
                {
                    "symbol": st.to_venue[symbol],
                    "adjustedFundingRateCap": rate8(cap),
                    "adjustedFundingRateFloor": rate8(-cap),
                    "fundingIntervalHours": interval_hours(cfg.interval_ms),
                    "disclaimer": False,
                }
            )
        return out

    async def income(self, call: Call) -> JSON:
        """The account's `FUNDING_FEE` income, oldest first; without `startTime` and
        `endTime` the last 7 days (Binance's default), `limit` default 100, at most 1000."""
        st = self.state
        symbol = st.inst(call.get("symbol")).symbol if call.get("symbol") else None
        kind = call.get("incomeType")
        if kind is not None and kind not in INCOME_TYPES:
            raise BinanceApiError(-1130, "Invalid data sent for a parameter: 'incomeType'.")
        start, end = call.integer("startTime"), call.integer("endTime")
        if start is None and end is None:
            start = st.now_ms() - WEEK_MS
        page = call.integer("page") or 1
        limit = call.limit(100, 1000)
        if kind not in (None, "FUNDING_FEE"):
            return []
        rows = [
            p
            for p in st.funding_income.get(call.account, ())
            if (symbol is None or p.symbol == symbol)
            and (start is None or p.funding_time >= start)
            and (end is None or p.funding_time <= end)
        ]
        rows = rows[(page - 1) * limit : page * limit]
        return [
            {
                "symbol": st.to_venue[p.symbol],
                "incomeType": "FUNDING_FEE",
                "income": rate8(p.amount),
                "asset": QUOTE,
                "info": "FUNDING_FEE",
                "time": p.funding_time,
                "tranId": p.payment_id,
                "tradeId": "",
            }
            for p in rows
        ]
