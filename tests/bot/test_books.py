"""Book arithmetic, worked by hand."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from blp_client.bot.books import (
    Candidate,
    allocate,
    capped_limit,
    ceil_to_step,
    floor_to_step,
    is_tradable,
    round_to_lot,
    vwap,
    walk,
)

from ._views import levels

D = Decimal


def test_rounding_to_lots_never_trades_more_than_asked() -> None:
    assert floor_to_step(D("1.2345"), D("0.001")) == D("1.234")
    assert ceil_to_step(D("1.2341"), D("0.001")) == D("1.235")
    assert round_to_lot(D("-1.2345"), D("0.001")) == D("-1.234")  # toward zero
    assert round_to_lot(D("0.0004"), D("0.001")) == 0
    assert floor_to_step(D("1.5"), D(0)) == D("1.5")  # no lot: exact


def test_tradable_needs_whole_lots_min_qty_and_min_notional() -> None:
    assert is_tradable(D("0.002"), D(100), D("0.001"), D("0.001"), D("0.1"))
    assert not is_tradable(D("0.0015"), D(100), D("0.001"), D(0), D(0))  # not whole lots
    assert not is_tradable(D("0.001"), D(100), D("0.001"), D("0.002"), D(0))  # below min qty
    # 0.001 × 100 = 0.1 < 5 min notional
    assert not is_tradable(D("0.001"), D(100), D("0.001"), D(0), D(5))


def test_walk_and_vwap() -> None:
    asks = levels(("100", "1"), ("101", "2"))
    # 2 = 1 @ 100 + 1 @ 101 -> 201 / 2 = 100.5
    assert vwap(asks, D(2)) == D("100.5")
    w = walk(asks, D(4))  # only 3 available
    assert (w.filled, w.notional, w.worst) == (D(3), D(302), D(101))
    assert vwap(asks, D(4)) is None


def test_capped_limit_rounds_towards_the_reference() -> None:
    # buy: 100 × (1 + 20/10000) = 100.2 ; sell: 99.8
    assert capped_limit(D(100), 1, D(20), D("0.1")) == D("100.2")
    assert capped_limit(D(100), -1, D(20), D("0.1")) == D("99.8")
    # 100.3 floors to the 0.5 tick at 100.0: the cap is never exceeded
    assert capped_limit(D(100), 1, D(30), D("0.5")) == D("100.0")
    # but never less aggressive than the touch itself
    assert capped_limit(D("100.25"), 1, D(0), D("0.5")) == D("100.5")


def _cand(
    venue: str,
    asks: tuple[tuple[str, str], ...],
    fee: str = "0",
    lot: str = "0.001",
    min_qty: str = "0",
    min_notional: str = "0",
) -> Candidate:
    return Candidate(venue, levels(*asks), D(fee), D(lot), D(min_qty), D(min_notional))


def test_allocate_merges_books_by_fee_adjusted_price() -> None:
    a = _cand("a", (("100", "1"), ("101", "2")))
    b = _cand("b", (("100.5", "5"),), fee="0.001")  # effective 100.5 × 1.001 = 100.6005
    # buy 2.5: a@100 (1), then b@100.6005 beats a@101 -> b 1.5
    assert allocate(D("2.5"), 1, [a, b]).qty == {"a": D(1), "b": D("1.5")}
    b_dear = _cand("b", (("100.5", "5"),), fee="0.01")  # effective 101.505 > 101
    # a@100 (1) then a@101 (1.5)
    assert allocate(D("2.5"), 1, [a, b_dear]).qty == {"a": D("2.5")}


def test_allocate_sell_side_prefers_highest_bid() -> None:
    a = _cand("a", (("99", "1"),))
    b = _cand("b", (("99.5", "1"), ("98", "5")))
    # sell 1.5: b@99.5 (1), a@99 (0.5)
    assert allocate(D("1.5"), -1, [a, b]).qty == {"a": D("0.5"), "b": D(1)}


def test_allocate_overflow_beyond_depth_goes_to_best_venue() -> None:
    a = _cand("a", (("100", "1"),))
    b = _cand("b", (("100.1", "1"),))
    # 3 wanted, 2 visible: the extra 1 goes to a (best touch)
    assert allocate(D(3), 1, [a, b]).qty == {"a": D(2), "b": D(1)}


def test_allocate_moves_sub_minimum_shares_and_keeps_the_residual() -> None:
    a = _cand("a", (("100", "1"),), lot="0.01", min_qty="0.01")
    b = _cand("b", (("100.1", "5"),), lot="0.1", min_qty="0.1")
    # 1.056: a takes 1 (its depth), b 0.056 -> floors to 0 on its 0.1 lot;
    # leftover 0.056 -> a can take 0.05 more (lot 0.01) -> a 1.05, residual 0.006
    alloc = allocate(D("1.056"), 1, [a, b])
    assert alloc.qty == {"a": D("1.05")}
    assert alloc.residual == D("0.006")


def test_allocate_below_every_minimum_is_all_residual() -> None:
    a = _cand("a", (("100", "1"),), lot="0.001", min_notional="5")
    # 0.004 × 100 = 0.4 < 5 min notional
    alloc = allocate(D("0.004"), 1, [a])
    assert alloc.qty == {}
    assert alloc.residual == D("0.004")


def test_allocate_with_no_priced_venue_is_all_residual() -> None:
    assert allocate(D(1), 1, [_cand("a", ())]).residual == D(1)


_dec = st.decimals(min_value=D("0.001"), max_value=D(50), places=3)
_level = st.tuples(st.decimals(min_value=D(90), max_value=D(110), places=1), _dec)


@given(
    qty=_dec,
    side=st.sampled_from([1, -1]),
    books=st.lists(st.lists(_level, max_size=4), min_size=1, max_size=3),
    lots=st.lists(st.sampled_from([D("0.001"), D("0.01"), D("0.1"), D(1)]), min_size=3, max_size=3),
    min_notional=st.sampled_from([D(0), D(5), D(100)]),
)
def test_allocate_conserves_quantity_in_whole_tradable_lots(
    qty: Decimal,
    side: int,
    books: list[list[tuple[Decimal, Decimal]]],
    lots: list[Decimal],
    min_notional: Decimal,
) -> None:
    cands = [
        Candidate(
            f"v{i}",
            tuple(sorted(levels_, key=lambda lv: side * lv[0])),
            D("0.0004"),
            lots[i],
            lots[i],
            min_notional,
        )
        for i, levels_ in enumerate(books)
    ]
    alloc = allocate(qty, side, cands)
    # nothing lost or invented: placed + residual = asked
    assert sum(alloc.qty.values(), D(0)) + alloc.residual == qty
    assert alloc.residual >= 0
    by_name = {c.venue: c for c in cands}
    for venue, q in alloc.qty.items():
        c = by_name[venue]
        assert is_tradable(q, c.top(), c.lot, c.min_qty, c.min_notional)
    # something tradable on the best venue is never left entirely unplaced
    if alloc.qty == {} and any(c.levels for c in cands):
        assert all(
            not is_tradable(floor_to_step(qty, c.lot), c.top(), c.lot, c.min_qty, c.min_notional)
            for c in cands
            if c.levels
        )
