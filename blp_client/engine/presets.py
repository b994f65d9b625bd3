"""Historical cascades as named scenarios, shaped by their published figures.

Each preset is BTC's path as waypoints (fraction of the scenario hour, price / start price)
read off the public record and compressed into one engine hour, ETH following with its own
beta, flash gaps sized like the worst dislocations reported, and market-maker depth thinned
like the reported order books. The figures, their sources and how each was scaled are in
docs/scenarios.md; the numbers here are that page's, rounded.
"""

from __future__ import annotations

from dataclasses import dataclass

Waypoint = tuple[float, float]  # (fraction of the scenario's time, price / start price)


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    waypoints: tuple[Waypoint, ...]  # BTC, start = 1.0
    eth_beta: float  # ETH's fall = eth_beta × BTC's fall, at every point
    gaps: int  # flash drops on the falling legs
    gap_size: float  # the largest flash drop, as a fraction
    gap_recovery_s: float
    noise_bps: float  # per-second noise around the shape
    depth: float  # makers' calm ladder size × this (thinner books)
    thinning: float  # makers' size /= 1 + thinning · realised vol (bps/s)
    long_share: float  # the crowded side of the population

    @property
    def drop(self) -> float:
        """BTC's peak-to-trough fall of the shape (before noise and gaps)."""
        return 1.0 - min(level for _, level in self.waypoints)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # 12-13 March 2020: 7,353 -> 5,678 in 45 min, a 12 h plateau near 5,800, then the night
        # leg to 3,596 (BitMEX XBTUSD), back above 5,500 by the next afternoon.
        Preset(
            name="march-2020",
            title="Black Thursday, 12-13 March 2020",
            waypoints=((0.0, 1.0), (0.12, 0.772), (0.45, 0.79), (0.70, 0.489), (1.0, 0.75)),
            eth_beta=1.05,
            gaps=4,
            gap_size=0.08,
            gap_recovery_s=30.0,
            noise_bps=12.0,
            depth=0.5,
            thinning=1.0,
            long_share=0.7,
        ),
        # 19 May 2021: ~43,000 -> ~40,000 through the morning, freefall to ~30,000 in the
        # afternoon (UTC), back near 38,000 within hours; ETH fell ~45%.
        Preset(
            name="may-2021",
            title="19 May 2021",
            waypoints=((0.0, 1.0), (0.25, 0.93), (0.55, 0.70), (1.0, 0.88)),
            eth_beta=1.5,
            gaps=3,
            gap_size=0.05,
            gap_recovery_s=25.0,
            noise_bps=10.0,
            depth=0.6,
            thinning=0.6,
            long_share=0.7,
        ),
        # 10 October 2025: ~122,000 before the tariff post, a slide to ~116,000, then the
        # 40-minute cascade from 20:50 UTC to a ~104,800 low (~102,000 on some venues),
        # ~113,000 by the evening; books "appeared empty" (Kaiko).
        Preset(
            name="oct-2025",
            title="10 October 2025",
            waypoints=((0.0, 1.0), (0.30, 0.95), (0.60, 0.945), (0.72, 0.84), (1.0, 0.925)),
            eth_beta=1.4,
            gaps=4,
            gap_size=0.06,
            gap_recovery_s=15.0,
            noise_bps=8.0,
            depth=0.3,
            thinning=2.0,
            long_share=0.8,
        ),
    )
}


def eth_waypoints(preset: Preset) -> tuple[Waypoint, ...]:
    """The ETH shape: each fall scaled by the preset's beta (never below 5% of the start)."""
    beta = preset.eth_beta
    return tuple((t, max(0.05, 1.0 - beta * (1.0 - level))) for t, level in preset.waypoints)


__all__ = ["PRESETS", "Preset", "Waypoint", "eth_waypoints"]
