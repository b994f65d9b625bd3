"""The BLP program: registry, rolling absorption windows, capacity, allocation and pricing.

Pure rules (DOMAIN.md, "The BLP program"): a BLP is never assigned more than its per-minute and
per-hour notional in any rolling 60 s / 3600 s window, nor past its Max Position Notional
Threshold (except assignments that reduce its position); flow is shared pro rata to remaining
capacity, lot-rounded, with the remainder water-filled; favorable flow is priced at
⅔·ZP + ⅓·MP, toxic flow at ZP collared at 1% off mark.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from .num import BPS, ZERO, ceil_to, floor_to

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
WEIGHT_NOISE_STEP = Decimal("1e-12")


@dataclass(frozen=True, slots=True)
class ProgramConfig:
    min_minute_rate: Decimal = Decimal("100000")
    min_hour_rate: Decimal = Decimal("300000")
    toxic_collar: Decimal = Decimal("0.01")
    zero_price_weight: Decimal = Decimal(2) / Decimal(3)  # favorable price = w·ZP + (1−w)·MP
    taker_fee: Decimal = Decimal("0.0002")
    maker_fee: Decimal = Decimal("-0.00005")


@dataclass(slots=True)
class BLP:
    account_id: int
    minute_rate: Decimal
    hour_rate: Decimal
    thresholds: dict[str, Decimal]  # Max Position Notional Threshold per contract
    opted_in: bool = True
    window: deque[tuple[int, Decimal]] = field(default_factory=deque)  # (ts, notional)
    # running sums over the live part of `window`: O(1) per query instead of a scan
    _sums: dict[int, Decimal] = field(default_factory=dict)
    _starts: dict[int, int] = field(default_factory=dict)  # first live index per span
    _base: int = 0  # index of window[0] since the BLP was created
    _seen_ms: int = 0

    def used(self, now_ms: int, span_ms: int) -> Decimal:
        """Notional assigned in the rolling window (now − span, now]: at t it still counts at
        t + span − 1 ms and no longer at t + span."""
        if span_ms not in (MINUTE_MS, HOUR_MS) or now_ms < self._seen_ms:
            return self._scan(now_ms, span_ms)  # past times and odd spans: the plain sum
        self._seen_ms = now_ms
        total = self._sums.get(span_ms, ZERO)
        i = self._starts.get(span_ms, self._base)
        end = self._base + len(self.window)
        while i < end:
            ts, notional = self.window[i - self._base]
            if now_ms - ts < span_ms:
                break
            total -= notional
            i += 1
        self._sums[span_ms], self._starts[span_ms] = total, i
        return total

    def _scan(self, now_ms: int, span_ms: int) -> Decimal:
        total = ZERO
        for ts, notional in reversed(self.window):
            if now_ms - ts >= span_ms:
                break
            if ts <= now_ms:
                total += notional
        return total

    def prune(self, now_ms: int) -> None:
        self.used(now_ms, HOUR_MS)
        self.used(now_ms, MINUTE_MS)
        live = min(self._starts.get(HOUR_MS, self._base), self._starts.get(MINUTE_MS, self._base))
        while self._base < live:
            self.window.popleft()
            self._base += 1

    def record(self, now_ms: int, notional: Decimal) -> None:
        """Count `notional` assigned at `now_ms`. Assignments of one millisecond share one
        entry (they leave the windows together): the window holds at most one entry per
        millisecond of the last hour that had assignments, however many there were."""
        window = self.window
        last = window[-1] if window else None
        if last is not None and last[0] == now_ms and self._live_at_end():
            window[-1] = (now_ms, last[1] + notional)
        else:
            window.append((now_ms, notional))
        for span in (MINUTE_MS, HOUR_MS):
            self._sums[span] = self._sums.get(span, ZERO) + notional
            self._starts.setdefault(span, self._base + len(window) - 1)

    def _live_at_end(self) -> bool:
        """Whether the last entry is still counted in both running sums (it can be merged
        into without the sums going wrong)."""
        end = self._base + len(self.window) - 1
        return all(self._starts.get(span, self._base) <= end for span in (MINUTE_MS, HOUR_MS))

    def minute_left(self, now_ms: int) -> Decimal:
        return max(ZERO, self.minute_rate - self.used(now_ms, MINUTE_MS))

    def hour_left(self, now_ms: int) -> Decimal:
        return max(ZERO, self.hour_rate - self.used(now_ms, HOUR_MS))


def threshold_headroom_qty(
    threshold: Decimal, position: Decimal, side: int, mark: Decimal
) -> Decimal:
    """How much the BLP can receive on `side` (+1 buy / −1 sell) without its position notional
    in the contract ending above the threshold. Reducing is always allowed: a BLP short 10
    can receive up to 10 longs whatever its threshold, plus threshold/mark beyond flat."""
    limit_qty = threshold / mark
    if position * side < ZERO:
        return abs(position) + limit_qty
    return max(ZERO, limit_qty - abs(position))


def capacity_qty(
    blp: BLP, symbol: str, position: Decimal, side: int, mark: Decimal, lot: Decimal, now_ms: int
) -> Decimal:
    """cap_j = min(minute_left, hour_left, threshold_headroom), in lots, at mark."""
    rate_qty = min(blp.minute_left(now_ms), blp.hour_left(now_ms)) / mark
    head = threshold_headroom_qty(blp.thresholds.get(symbol, ZERO), position, side, mark)
    return floor_to(min(rate_qty, head), lot)


def allocate(total: Decimal, caps: dict[int, Decimal], lot: Decimal) -> dict[int, Decimal]:
    """Share `total` pro rata to each BLP's capacity, in whole lots, never above a cap.

    Rounds each share down to lots; what rounding or a full BLP leaves is water-filled: shared
    again pro rata among those with room, and the last odd lots go one at a time by largest
    remaining room (ties by account id), as FTX published.
    """
    alloc = {k: ZERO for k in caps}
    left = min(total, sum(caps.values(), ZERO))
    left = floor_to(left, lot)
    while left >= lot:
        room = {k: caps[k] - alloc[k] for k in caps if caps[k] - alloc[k] >= lot}
        if not room:
            break
        room_total = sum(room.values(), ZERO)
        given = ZERO
        for k in sorted(room):
            share = min(floor_to(left * room[k] / room_total, lot), room[k])
            alloc[k] += share
            given += share
        left -= given
        if given == ZERO:
            # every share rounded to zero: one lot each, largest room first
            for k in sorted(room, key=lambda k: (-room[k], k)):
                if left < lot:
                    break
                alloc[k] += lot
                left -= lot
    return {k: v for k, v in alloc.items() if v > ZERO}


def assignment_price(
    taken_side: int,
    zero_price: Decimal,
    mark: Decimal,
    favorable: bool,
    tick: Decimal,
    cfg: ProgramConfig,
) -> Decimal:
    """The BLP's fill price for a taken-over position of side `taken_side` (+1 long).

    Favorable: w·ZP + (1−w)·MP. Toxic: ZP, never worse than MP·(1 + s·collar). Rounded to the
    tick in the BLP's favour (down when it buys, up when it sells), so the collar always holds.
    """
    if favorable:
        raw = cfg.zero_price_weight * zero_price + (1 - cfg.zero_price_weight) * mark
        # w = 2/3 has no finite decimal form: the 28-digit product carries ~1e-23 of noise
        # that can sit just below (or above) an exact tick multiple and move the price one
        # tick. Inputs have at most 8 decimals, so snapping to 1e-12 removes only the noise.
        raw = raw.quantize(WEIGHT_NOISE_STEP)
    elif taken_side > 0:
        raw = min(zero_price, mark * (1 + cfg.toxic_collar))
    else:
        raw = max(zero_price, mark * (1 - cfg.toxic_collar))
    return floor_to(raw, tick) if taken_side > 0 else ceil_to(raw, tick)


def discount_bps(taken_side: int, price: Decimal, mark: Decimal) -> Decimal:
    """Signed discount vs mark, positive = better than mark for the BLP, in 0.01 bps."""
    return (taken_side * (mark - price) / mark / BPS).quantize(Decimal("0.01"))
