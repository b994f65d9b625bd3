"""Engine time for the bot's side of a backtest: an agenda of timed actions, and the latency
and rate-limit models that decide when things happen on it.

Live, the daemon's loops wake on sockets and timers; here every wake-up is an entry on one
agenda, ordered by (time, order of scheduling), so a run is a deterministic function of its
inputs. Nothing reads the wall clock.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from blp_client.bot.venues.ccxt_venue import lane_rate_limits

Action = Callable[[int], None]  # called with the time it was due (engine ms)


@dataclass
class Agenda:
    """Timed actions; ties run in the order they were scheduled."""

    now_ms: int = 0
    _heap: list[tuple[int, int, Action]] = field(default_factory=list)
    _n: int = 0

    def at(self, due_ms: int, action: Action) -> None:
        """Run `action` at `due_ms` (never earlier than now)."""
        self._n += 1
        heapq.heappush(self._heap, (max(due_ms, self.now_ms), self._n, action))

    def run_until(self, end_ms: int) -> None:
        """Run everything due before `end_ms` (what it schedules too), in order."""
        while self._heap and self._heap[0][0] < end_ms:
            due, _n, action = heapq.heappop(self._heap)
            self.now_ms = due
            action(due)
        self.now_ms = max(self.now_ms, end_ms)


@dataclass
class RateBudget:
    """A venue's order lane: one order per `spacing_ms` (ccxt's client-side throttle, within
    the venue's request weight). `slot(now)` is when the next order may leave."""

    spacing_ms: int
    next_ms: int = 0

    def slot(self, now_ms: int) -> int:
        return max(now_ms, self.next_ms)

    def take(self, now_ms: int) -> None:
        self.next_ms = max(now_ms, self.next_ms) + self.spacing_ms


ORDER_COST = 4
"""ccxt's cost of a binanceusdm order (`fapiPrivatePostOrder`: 4 units of `rateLimit`)."""


def order_spacing_ms(
    rate_limit: bool,
    rate_limit_ms: int | None,
    weight_per_minute: int,
    reserved_share: float,
    default_ms: int,
) -> int:
    """The order lane's spacing, as the live venue client throttles itself
    (`ccxt_venue.lane_rate_limits`): the order lane's ccxt `rateLimit` (ms per cost unit: the
    configured one, else `default_ms / ORDER_COST`) times an order's cost."""
    if not rate_limit:
        return 0
    per_unit = rate_limit_ms if rate_limit_ms else default_ms / ORDER_COST
    order_ms, _control = lane_rate_limits(weight_per_minute, reserved_share, per_unit)
    return math.ceil(order_ms * ORDER_COST)
