"""The rounding helpers: a power-of-ten step takes the one-`quantize` path, any other step
divides, rounds and multiplies; both must give the same multiples."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blp_client.engine.core.num import ceil_to, floor_to, round_to

D = Decimal
STEPS = ["0.00000001", "0.001", "0.01", "0.1", "0.10", "1", "0.5", "0.25", "2", "10", "1E+2"]


def reference(x: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (x / step).to_integral_value(rounding=rounding) * step


@settings(max_examples=300, deadline=None)
@given(
    units=st.integers(min_value=-(10**15), max_value=10**15),
    places=st.integers(min_value=0, max_value=10),
    step=st.sampled_from(STEPS),
)
def test_every_step_rounds_like_divide_round_multiply(units: int, places: int, step: str) -> None:
    x, s = D(units).scaleb(-places), D(step)
    assert floor_to(x, s) == reference(x, s, ROUND_FLOOR)
    assert ceil_to(x, s) == reference(x, s, ROUND_CEILING)
    assert round_to(x, s) == reference(x, s, ROUND_HALF_EVEN)


def test_hand_examples() -> None:
    # a step written with a trailing zero is still one tenth, not a hundredth
    assert floor_to(D("1.239"), D("0.10")) == D("1.2")
    assert ceil_to(D("1.201"), D("0.1")) == D("1.3")
    assert floor_to(D("-1.201"), D("0.1")) == D("-1.3")  # floor goes down, below zero too
    assert round_to(D("0.125"), D("0.01")) == D("0.12")  # half-even
    assert floor_to(D("7.9"), D("0.5")) == D("7.5")
    assert ceil_to(D("123"), D("10")) == D("130")


@pytest.mark.parametrize("step", ["0", "-0.1"])
def test_a_step_that_is_not_positive_is_refused(step: str) -> None:
    with pytest.raises(ValueError, match="step must be > 0"):
        floor_to(D("1"), D(step))
