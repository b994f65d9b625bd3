"""Public market-data endpoints: ping, time, exchangeInfo, depth, tickers and premiumIndex.

Prices come straight from the engine's books, marks and index; the 24 h ticker from the trades
`VenueState` has seen. `premiumIndex` shows the engine's funding: `lastFundingRate` is the rate
the next funding time (`nextFundingTime`) pays so far, as on Binance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..core.book import Side
from ..core.instruments import Instrument
from ..core.num import ZERO, money, price_q
from .errors import BinanceApiError
from .funding import rate8
from .limits import VenueLimiter
from .params import Call
from .shapes import JSON, fmt, symbol_info
from .state import DAY_MS, QUOTE, VenueState

if TYPE_CHECKING:
    from .streams import BookFeeds


def ticker_24hr(st: VenueState, inst: Instrument) -> dict[str, Any]:
    """One symbol's `/fapi/v1/ticker/24hr` entry (the `@ticker` stream's numbers too)."""
    now = st.now_ms()
    stats = st.stats[inst.symbol]
    stats.trim(st.exchange.now_ms)
    trades = stats.trades
    ref = st.reference_price(inst.symbol) or ZERO
    if trades:
        last, last_qty = trades[-1][2], trades[-1][3]
        open_ = trades[0][2]
        high = max(t[2] for t in trades)
        low = min(t[2] for t in trades)
        volume = sum((t[3] for t in trades), ZERO)
        quote_volume = sum((t[2] * t[3] for t in trades), ZERO)
        wavg = price_q(quote_volume / volume)
        first_id, last_id, open_time = trades[0][1], trades[-1][1], trades[0][0]
    else:
        last = open_ = high = low = wavg = ref
        last_qty = volume = quote_volume = ZERO
        first_id = last_id = -1
        open_time = now - DAY_MS
    change = last - open_
    pct = (change / open_ * 100).quantize(Decimal("0.001")) if open_ else ZERO
    return {
        "symbol": st.to_venue[inst.symbol],
        "priceChange": fmt(change),
        "priceChangePercent": fmt(pct),
        "weightedAvgPrice": fmt(wavg),
        "lastPrice": fmt(last),
        "lastQty": fmt(last_qty),
        "openPrice": fmt(open_),
        "highPrice": fmt(high),
        "lowPrice": fmt(low),
        "volume": fmt(volume),
        "quoteVolume": fmt(money(quote_volume)),
        "openTime": open_time,
        "closeTime": now,
        "firstId": first_id,
        "lastId": last_id,
        "count": len(trades),
    }


class MarketData:
    """Handlers of the unsigned `/fapi` market-data endpoints. Books are read through
    `feeds` (the market streams' publication, `streams.BookFeeds`): `lastUpdateId` is the
    update id of the stream event that left the book as answered."""

    def __init__(self, state: VenueState, feeds: BookFeeds, limiter: VenueLimiter) -> None:
        self.state = state
        self.feeds = feeds
        self.limiter = limiter  # exchangeInfo reports its configured limits

    async def ping(self, call: Call) -> JSON:
        return {}

    async def time(self, call: Call) -> JSON:
        return {"serverTime": self.state.clock_ms()}

    async def exchange_info(self, call: Call) -> JSON:
        st = self.state
        symbols = [symbol_info(inst, st.to_venue[s]) for s, inst in st.exchange.instruments.items()]
        return {
            "timezone": "UTC",
            "serverTime": st.clock_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": self.limiter.config.rate_limits(),
            "exchangeFilters": [],
            "assets": [{"asset": QUOTE, "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": symbols,
        }

    async def depth(self, call: Call) -> JSON:
        st = self.state
        inst = st.inst(call.get("symbol"))
        limit = call.integer("limit") or 500
        if not 1 <= limit <= 1000:
            raise BinanceApiError(-4021, "Invalid depth limit.")
        feed = self.feeds.synced(st.to_venue[inst.symbol])
        return {
            "lastUpdateId": feed.update_id,
            "E": st.now_ms(),
            "T": feed.ts,
            "bids": [[fmt(p), fmt(q)] for p, q in feed.levels(Side.BUY, limit)],
            "asks": [[fmt(p), fmt(q)] for p, q in feed.levels(Side.SELL, limit)],
        }

    async def book_ticker(self, call: Call) -> JSON:
        st = self.state
        insts, many = st.insts(call.get("symbol"))
        out = []
        for inst in insts:
            feed = self.feeds.synced(st.to_venue[inst.symbol])
            bid, ask = feed.top
            out.append(
                {
                    "symbol": st.to_venue[inst.symbol],
                    "bidPrice": fmt(bid[0]) if bid else "0",
                    "bidQty": fmt(bid[1]) if bid else "0",
                    "askPrice": fmt(ask[0]) if ask else "0",
                    "askQty": fmt(ask[1]) if ask else "0",
                    "time": st.now_ms(),
                    "lastUpdateId": feed.update_id,
                }
            )
        return out if many else out[0]

    async def ticker_24hr(self, call: Call) -> JSON:
        st = self.state
        insts, many = st.insts(call.get("symbol"))
        out = [ticker_24hr(st, inst) for inst in insts]
        return out if many else out[0]

    async def ticker_price(self, call: Call) -> JSON:
        st = self.state
        insts, many = st.insts(call.get("symbol"))
        out = []
        for inst in insts:
            trades = st.stats[inst.symbol].trades
            price = trades[-1][2] if trades else (st.reference_price(inst.symbol) or ZERO)
            venue_symbol = st.to_venue[inst.symbol]
            out.append({"symbol": venue_symbol, "price": fmt(price), "time": st.now_ms()})
        return out if many else out[0]

    async def premium_index(self, call: Call) -> JSON:
        st = self.state
        insts, many = st.insts(call.get("symbol"))
        now = st.now_ms()
        x = st.exchange
        on = x.config.funding.enabled
        out = []
        for inst in insts:
            mark = x.marks.get(inst.symbol, ZERO)
            index = x.index.get(inst.symbol, ZERO)
            rate = x.predicted_funding_rate(inst.symbol) if on else ZERO
            out.append(
                {
                    "symbol": st.to_venue[inst.symbol],
                    "markPrice": fmt(mark),
                    "indexPrice": fmt(index),
                    "estimatedSettlePrice": fmt(index),
                    "lastFundingRate": rate8(rate),
                    "interestRate": rate8(x.config.funding.interval_interest if on else ZERO),
                    "nextFundingTime": x.next_funding_ms() if on else 0,
                    "time": now,
                }
            )
        return out if many else out[0]
