"""The stream's ordering rules on their own (no I/O): `SeqTracker` and `Backoff`."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blp_client.errors import StreamError
from blp_client.sequencing import Backoff, SeqTracker


def test_in_order_delivery_is_immediate() -> None:
    t: SeqTracker[str] = SeqTracker()
    assert t.push(1, "a") == ["a"]
    assert t.push(2, "b") == ["b"]
    assert t.last == 2 and t.gap() is None


def test_duplicates_are_dropped() -> None:
    t: SeqTracker[str] = SeqTracker()
    t.push(1, "a")
    assert t.push(1, "a") == []
    t.push(3, "c")
    assert t.push(3, "c") == []
    assert t.duplicates == 2


def test_resume_point_drops_everything_up_to_it() -> None:
    t: SeqTracker[int] = SeqTracker(last=10)
    assert t.push(5, 5) == []
    assert t.push(10, 10) == []
    assert t.push(11, 11) == [11]


def test_hole_is_reported_and_filled_in_order() -> None:
    t: SeqTracker[int] = SeqTracker()
    t.push(1, 1)
    assert t.push(5, 5) == []
    assert t.push(4, 4) == []
    assert t.gap() == (2, 3)
    assert t.push(3, 3) == []
    assert t.gap() == (2, 2)
    assert t.push(2, 2) == [2, 3, 4, 5]
    assert t.gap() is None and t.pending == 0 and t.last == 5


def test_clear_pending_forgets_held_items() -> None:
    t: SeqTracker[int] = SeqTracker()
    t.push(3, 3)
    assert t.clear_pending() == 1
    assert t.gap() is None and t.last == 0
    assert t.push(1, 1) == [1]


def test_too_many_held_items_is_an_error() -> None:
    t: SeqTracker[int] = SeqTracker(max_pending=2)
    t.push(3, 3)
    t.push(4, 4)
    with pytest.raises(StreamError) as err:
        t.push(5, 5)
    assert err.value.code == "gap_too_large"


def test_negative_start_is_refused() -> None:
    with pytest.raises(ValueError):
        SeqTracker(last=-1)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 60),
    start=st.integers(0, 5),
    seed=st.integers(0, 2**32),
    dup_rate=st.floats(0, 1),
)
def test_any_arrival_order_with_duplicates_delivers_each_seq_once_in_order(
    n: int, start: int, seed: int, dup_rate: float
) -> None:
    rng = random.Random(seed)
    arrivals = list(range(1, n + 1))
    rng.shuffle(arrivals)
    arrivals += [rng.randint(1, n) for _ in range(int(n * dup_rate))]
    rng.shuffle(arrivals)
    t: SeqTracker[int] = SeqTracker(last=start)
    out: list[int] = []
    for s in arrivals:
        out += t.push(s, s)
        gap = t.gap()
        if gap is not None:
            assert gap[0] == t.last + 1 and gap[0] <= gap[1]
    assert out == list(range(start + 1, n + 1))
    assert t.pending == 0


class _Top(random.Random):
    """uniform(a, b) → b: the backoff's ceiling itself."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_grows_exponentially_with_full_jitter_and_resets() -> None:
    b = Backoff(base=0.1, cap=1.0, rng=_Top())
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert [b.next_delay() for _ in ceilings] == ceilings  # doubling, then capped
    assert b.attempt == len(ceilings)
    b.reset()
    assert b.attempt == 0 and b.next_delay() == 0.1
    jittered = Backoff(base=0.1, cap=1.0, rng=random.Random(7))
    assert all(0 <= jittered.next_delay() <= c for c in ceilings)


def test_backoff_is_jittered() -> None:
    b = Backoff(base=1.0, cap=1.0, rng=random.Random(1))
    delays = {b.next_delay() for _ in range(20)}
    assert len(delays) == 20


def test_backoff_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0, cap=1)
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


def test_is_next_only_for_the_following_seq_with_nothing_held() -> None:
    t: SeqTracker[str] = SeqTracker(last=4)
    assert t.is_next(5)
    assert not t.is_next(4) and not t.is_next(6)
    t.push(7, "g")  # a hole at 5–6: even 5 must go through push, to release what is held
    assert not t.is_next(5)
    assert t.push(5, "e") == ["e"] and t.push(6, "f") == ["f", "g"]
    assert t.is_next(8)


def test_advance_takes_only_the_following_seq_with_nothing_held() -> None:
    t: SeqTracker[str] = SeqTracker(last=4)
    assert t.advance(5) and t.last == 5
    assert not t.advance(5) and not t.advance(7) and t.last == 5
    t.push(7, "g")  # a hole at 6: even 6 must go through push, to release what is held
    assert not t.advance(6)
    assert t.push(6, "f") == ["f", "g"] and t.advance(8)
