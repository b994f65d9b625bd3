"""The threshold controller, by hand: room = (L·E − N) / (1 + L·collar)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from blp_client.bot.core.threshold import Exposure, changes, room, targets

D = Decimal
L = D(5)


def test_room_counts_toxic_flow_at_the_collar() -> None:
    # E 20,000 at 5x carries 100,000; 25,000 held; toxic flow costs 1% of what it adds
    e = Exposure(D(20_000), {"BTC-PERP": D(25_000)})
    assert room(e, L) == D(75_000) / D("1.05")
    assert room(Exposure(D(20_000), {"BTC-PERP": D(120_000)}), L) == 0  # past the level
    assert room(Exposure(D(-1), {}), L) == 0  # no equity, no room


def test_targets_bind_only_when_capacity_exceeds_the_room() -> None:
    ceilings = {"BTC-PERP": D(1_000_000)}
    tight = Exposure(D(20_000), {"BTC-PERP": D(25_000)}, capacity=D(300_000))
    # 25,000 + 71,428.57… rounded down to whole USDT
    assert targets(tight, ceilings, L) == {"BTC-PERP": D(96_428)}
    loose = Exposure(D(20_000), {"BTC-PERP": D(25_000)}, capacity=D(50_000))
    assert targets(loose, ceilings, L) == {"BTC-PERP": D(1_000_000)}
    unknown = Exposure(D(20_000), {"BTC-PERP": D(25_000)}, capacity=None)  # worst case
    assert targets(unknown, ceilings, L) == {"BTC-PERP": D(96_428)}


def test_room_is_shared_by_ceiling() -> None:
    e = Exposure(D(20_000), {"BTC-PERP": D(25_000)}, capacity=D(1_000_000))
    got = targets(e, {"BTC-PERP": D(600_000), "ETH-PERP": D(400_000)}, L)
    # room 71,428.57: BTC 60% → 25,000 + 42,857.14; ETH 40% → 28,571.43
    assert got == {"BTC-PERP": D(67_857), "ETH-PERP": D(28_571)}


def test_worst_case_flow_leaves_leverage_at_most_the_level() -> None:
    e = Exposure(D(20_000), {"BTC-PERP": D(25_000)}, capacity=None)
    t = targets(e, {"BTC-PERP": D(1_000_000)}, L)["BTC-PERP"]
    added = t - D(25_000)
    equity_after = D(20_000) - D("0.01") * added  # all of it toxic, at the collar
    assert t / equity_after <= L


@given(
    equity=st.decimals(min_value=1, max_value=10**7, places=2),
    held=st.decimals(min_value=0, max_value=10**8, places=2),
    ceiling=st.decimals(min_value=1, max_value=10**8, places=0),
    capacity=st.none() | st.decimals(min_value=0, max_value=10**8, places=2),
)
def test_targets_stay_within_zero_and_the_ceiling(
    equity: Decimal, held: Decimal, ceiling: Decimal, capacity: Decimal | None
) -> None:
    e = Exposure(equity, {"BTC-PERP": held}, capacity)
    t = targets(e, {"BTC-PERP": ceiling}, L)["BTC-PERP"]
    assert 0 <= t <= ceiling
    if t < ceiling:  # binding: no room past the level, and the worst case stays within it
        added = max(t - held, D(0))
        assert added == 0 or held + added <= L * (equity - D("0.01") * added) + 1  # rounding
        if held >= L * equity:
            assert added == 0


def test_changes_skip_small_moves_and_raises_when_not_allowed() -> None:
    ceilings = {"BTC-PERP": D(1_000_000)}
    step = D("0.05")  # 50,000
    assert changes({"BTC-PERP": D(1_000_000)}, {"BTC-PERP": D(96_428)}, ceilings, step) == {
        "BTC-PERP": D(96_428)
    }
    assert changes({"BTC-PERP": D(96_428)}, {"BTC-PERP": D(97_619)}, ceilings, step) == {}
    # back to the ceiling is always sent (an edge), unless raising is not allowed
    assert changes({"BTC-PERP": D(96_428)}, {"BTC-PERP": D(1_000_000)}, ceilings, step) == {
        "BTC-PERP": D(1_000_000)
    }
    assert (
        changes(
            {"BTC-PERP": D(96_428)}, {"BTC-PERP": D(1_000_000)}, ceilings, step, may_raise=False
        )
        == {}
    )
    assert changes({"BTC-PERP": D(96_428)}, {"BTC-PERP": D(0)}, ceilings, step) == {
        "BTC-PERP": D(0)
    }
