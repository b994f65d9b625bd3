"""The executor against the real venue facade through the real ccxt class (engine on
127.0.0.1): resting orders' fills recorded by trade id, an order whose placement outcome is
unknown resolved by client id and resent with the same id, pending orders sent on reconcile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from blp_client.bot.config import load_config
from blp_client.bot.daemon_io import build_venues
from blp_client.bot.execution import Executor
from blp_client.bot.journal import Journal, OrderState
from blp_client.bot.metrics import BotMetrics
from blp_client.bot.strategy import EXCHANGE, FlipOnExchange, Hedge
from blp_client.bot.venues import CcxtVenue, local_binance
from blp_client.client import BLPClient

from .e2e_harness import INDEX, KEY, SECRET, SYM, Stack

D = Decimal


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def executor(stack: Stack, tmp_path: Path) -> AsyncIterator[Executor]:
    ex = local_binance(
        stack.url, stack.venue_key, stack.venue_secret, timeout_ms=2000, rate_limit_ms=1
    )
    venue = CcxtVenue(ex, name="binance", sleep=no_sleep, max_retries=1, resolve_attempts=2)
    journal = Journal(tmp_path / "ex.sqlite")

    async def no_threshold(_s: str, _v: Decimal) -> None:
        return None

    executor = Executor(journal, {"binance": venue}, BotMetrics(), no_threshold)
    try:
        yield executor
    finally:
        await venue.close()
        journal.close()


def quote_ask(stack: Stack, price: Decimal, size: str) -> None:
    svc = stack.engine.service
    bids = [(price - 20 - 5 * i, D(2)) for i in range(5)]
    asks = [(price, D(size))] + [(INDEX + 50 + 5 * i, D(2)) for i in range(5)]
    svc.exchange.replace_quotes(svc.house, SYM, bids, asks)
    svc.settle()


async def test_resting_order_fills_are_recorded(stack: Stack, executor: Executor) -> None:
    j = executor.journal
    c = j.record_decision(
        now_ms=executor.clock(), intents=[Hedge(SYM, "binance", D("0.05"), D("49990"), "GTC")]
    )
    [order] = c.orders
    await executor.send(order)
    o = j.order(order.client_order_id)
    assert o is not None and o.state is OrderState.ACKED and o.filled_qty == 0
    quote_ask(stack, D("49990"), "0.02")  # trades 0.02 against our resting bid
    await executor.reconcile_orders()
    o = j.order(order.client_order_id)
    assert o is not None and o.state is OrderState.ACKED and o.filled_qty == D("0.02")
    quote_ask(stack, D("49990"), "1")
    await executor.reconcile_orders()
    o = j.order(order.client_order_id)
    assert o is not None and o.state is OrderState.FILLED and o.filled_qty == D("0.05")
    fills = j.fills("binance")
    assert sum(f.qty for f in fills) == D("0.05") and len({f.trade_id for f in fills}) == 2
    await executor.reconcile_orders()  # seeing the trades again changes nothing
    assert len(j.fills("binance")) == 2
    assert j.positions()[(SYM, "binance")][0] == stack.position(stack.venue_account)


async def test_unknown_outcome_is_resolved_by_client_id(stack: Stack, executor: Executor) -> None:
    j = executor.journal
    await stack.admin("PUT", "/venue/faults", {"error_5xx_rate": 1.0})
    c = j.record_decision(
        now_ms=executor.clock(), intents=[Hedge(SYM, "binance", D("-0.01"), D("49000"))]
    )
    [order] = c.orders
    await executor.send(order)  # every request fails: the outcome is unknown
    o = j.order(order.client_order_id)
    assert o is not None and o.state is OrderState.UNKNOWN
    await executor.reconcile_orders()  # still failing: stays unknown, nothing resent
    assert j.order(order.client_order_id).state is OrderState.UNKNOWN  # type: ignore[union-attr]
    await stack.admin("DELETE", "/venue/faults")
    await executor.reconcile_orders()  # looked up (not found), then sent with the same id
    o = j.order(order.client_order_id)
    assert o is not None and o.state is OrderState.FILLED
    assert [x.client_order_id for x in stack.venue_orders()] == [order.client_order_id]
    assert executor.metrics.reconcile.get(kind="resend") == 1


async def test_lost_answer_is_not_sent_twice(stack: Stack, executor: Executor) -> None:
    j = executor.journal
    await stack.admin("PUT", "/venue/faults", {"lost_response_rate": 1.0})
    c = j.record_decision(
        now_ms=executor.clock(), intents=[Hedge(SYM, "binance", D("0.01"), D("51000"))]
    )
    [order] = c.orders
    await executor.send(order)  # executed at the venue, answer lost, found by client id
    await stack.admin("DELETE", "/venue/faults")
    await executor.reconcile_orders()
    o = j.order(order.client_order_id)
    assert o is not None and o.state is OrderState.FILLED
    assert len(stack.venue_orders()) == 1
    assert j.positions()[(SYM, "binance")][0] == D("0.01") == stack.position(stack.venue_account)


async def test_pending_orders_are_sent_on_reconcile(stack: Stack, executor: Executor) -> None:
    j = executor.journal
    j.record_decision(
        now_ms=executor.clock(),
        intents=[
            Hedge(SYM, "binance", D("0.01"), D("51000")),
            Hedge(SYM, "binance", D("0.02"), D("51000")),
        ],
    )
    assert await executor.reconcile_orders() == 0  # netted into one order, sent and done
    queued, netted = j.orders()[:2], j.orders()[2]
    assert {o.state for o in queued} == {OrderState.CANCELLED}
    assert {o.error for o in queued} == {f"netted into {netted.client_order_id}"}
    assert (netted.state, netted.qty, netted.filled_qty) == (
        OrderState.FILLED,
        D("0.03"),
        D("0.03"),
    )
    assert stack.position(stack.venue_account) == D("0.03")
    assert [o.client_order_id for o in stack.venue_orders()] == [netted.client_order_id]


async def test_queued_orders_that_cancel_out_send_nothing(stack: Stack, executor: Executor) -> None:
    j = executor.journal
    j.record_decision(
        now_ms=executor.clock(),
        intents=[
            Hedge(SYM, "binance", D("0.01"), D("51000")),
            Hedge(SYM, "binance", D("-0.01"), D("49000")),
        ],
    )
    assert await executor.reconcile_orders() == 0
    assert {o.state for o in j.orders()} == {OrderState.CANCELLED}
    assert stack.venue_orders() == []


async def test_paper_exchange_takes_a_reduce_only_flip(stack: Stack, tmp_path: Path) -> None:
    """In paper mode the exchange position is the real one (assignments), which the paper
    exchange's account does not hold: it fills a reduce-only flip as a plain order, and the
    journal keeps the order as the strategy asked for it."""
    stack.requote()
    config = load_config(stack.write_config("paper-flip", paper=True))
    metrics = BotMetrics()

    async def no_threshold(_s: str, _v: Decimal) -> None:
        return None

    async with BLPClient(stack.url, KEY, SECRET) as client:
        venues = await build_venues(config, client, paper=True, env={}, metrics=metrics)
        journal = Journal(tmp_path / "paper.sqlite")
        executor = Executor(journal, venues, metrics, no_threshold)
        try:
            [order] = journal.record_decision(
                now_ms=executor.clock(), intents=[FlipOnExchange(SYM, D("-0.01"))]
            ).orders
            await executor.send(order)
            o = journal.order(order.client_order_id)
        finally:
            for v in venues.values():
                await v.close()
            journal.close()
    assert o is not None and o.venue == EXCHANGE and o.reduce_only
    assert o.state is OrderState.FILLED and o.filled_qty == D("-0.01")
    assert stack.position(stack.blp_account) == 0  # simulated, not sent
