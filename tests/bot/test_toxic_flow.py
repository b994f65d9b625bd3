"""Forcing toxic flow for a test (admin `liquidations/force` with `bankrupt_bps`): bankrupt
accounts are taken over at a zero price worse than mark, so the BLP's assignments are `toxic`
with a negative discount, collared at 1 % off mark. Through the real engine over HTTP."""

from __future__ import annotations

from decimal import Decimal

import aiohttp

from blp_client.client import BLPClient

from .e2e_harness import INDEX, KEY, SECRET, SYM, Stack

D = Decimal


async def test_bankrupt_accounts_give_toxic_assignments_with_negative_discount(
    stack: Stack,
) -> None:
    body = {"symbol": SYM, "count": 2, "qty": "0.01", "side": "alternate", "bankrupt_bps": "50"}
    assert (await stack.admin("POST", "/liquidations/force", body))["assignments"] == 2
    body = {**body, "count": 1, "side": "long", "bankrupt_bps": "300"}  # past the collar
    assert (await stack.admin("POST", "/liquidations/force", body))["assignments"] == 1
    async with BLPClient(stack.url, KEY, SECRET) as client:
        page = await client.assignment_history(0, 10)
    got = [(a.side, a.kind, a.price, a.zero_price, a.discount_bps) for a in page.assignments]
    assert got == [
        # a long bought 0.5 % above mark: the BLP takes it at that zero price, 50 bps worse
        ("buy", "toxic", D("50250"), D("50250"), D(-50)),
        # a short sold 0.5 % below mark: the BLP sells to it at 49,750
        ("sell", "toxic", D("49750"), D("49750"), D(-50)),
        # 3 % worse than mark: the BLP's price is collared at 1 % off mark
        ("buy", "toxic", INDEX * D("1.01"), D("51500"), D(-100)),
    ]
    assert all(a.mark_price == INDEX for a in page.assignments)


async def test_bankrupt_bps_is_bounded_and_named(stack: Stack) -> None:
    url = stack.url + "/admin/v1/liquidations/force"
    headers = {"X-ADMIN-TOKEN": stack.engine.admin_token}
    for bad in ("0", "1001", "-5", "1e9", "NaN"):
        body = {"symbol": SYM, "count": 1, "bankrupt_bps": bad}
        async with stack.session.post(url, json=body, headers=headers) as r:
            assert r.status == 400, bad
            err = await r.json()
            assert "bankrupt_bps" in err["message"], err
    async with aiohttp.ClientSession() as s, s.post(url, json={"symbol": SYM}) as r:
        assert r.status == 401  # the admin token guards it
