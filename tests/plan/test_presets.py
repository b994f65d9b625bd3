"""Historical presets: their shape matches the published figures, they run in `blp simulate`,
and a small insurance fund makes socialised loss appear (less of it with BLPs)."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from blp_client.cli import main
from blp_client.engine.core import Exchange, ExchangeConfig
from blp_client.engine.market import SCENARIOS, START_PRICES, build_scenario, shaped
from blp_client.engine.presets import PRESETS, eth_waypoints


def test_three_cascades_are_scenarios() -> None:
    assert {"march-2020", "may-2021", "oct-2025"} <= set(PRESETS)
    assert set(PRESETS) <= set(SCENARIOS)


@pytest.mark.parametrize(
    ("name", "low", "low_at"),
    [  # the published low / start (docs/scenarios.md) and where the shape puts it
        ("march-2020", 3596 / 7353, 0.70),
        ("may-2021", 30_000 / 43_000, 0.55),
        ("oct-2025", 102_000 / 121_500, 0.72),
    ],
)
def test_preset_shape_reaches_the_published_low(name: str, low: float, low_at: float) -> None:
    p = PRESETS[name]
    assert p.drop == pytest.approx(1 - low, abs=0.01)
    assert min(p.waypoints, key=lambda w: w[1])[0] == low_at
    # the path itself, without noise or gaps, passes through the low at its time
    path = shaped(1.0, p.waypoints, 1000, random.Random(1), noise_bps=0.0, gaps=0)
    assert path(int(low_at * 1000)) == pytest.approx(1 - p.drop)
    assert min(path(t) for t in range(1001)) == pytest.approx(1 - p.drop)


def test_eth_falls_beta_times_btc() -> None:
    p = PRESETS["may-2021"]  # ETH fell ~45% while BTC fell ~30%
    eth_low = min(level for _, level in eth_waypoints(p))
    assert 1 - eth_low == pytest.approx(1.5 * p.drop)


def test_shaped_rejects_bad_waypoints() -> None:
    with pytest.raises(ValueError, match=r"from time fraction 0\.0 to 1\.0"):
        shaped(1.0, ((0.0, 1.0), (0.5, 0.8)), 10, random.Random(1))
    with pytest.raises(ValueError, match="must increase"):
        shaped(1.0, ((0.0, 1.0), (0.5, 0.8), (0.5, 0.7), (1.0, 0.9)), 10, random.Random(1))


def test_preset_thins_the_book_and_crowds_longs() -> None:
    x = Exchange(ExchangeConfig())
    sc = build_scenario("oct-2025", x, seed=3, accounts=200, blps=(), seconds=60)
    calm = Exchange(ExchangeConfig())
    base = build_scenario("crash", calm, seed=3, accounts=200, blps=(), seconds=60)
    assert sc.makers[0].cfg.level_notional == pytest.approx(0.3 * base.makers[0].cfg.level_notional)
    assert sc.makers[0].cfg.thinning == 2.0
    longs = sum(1 for a in sc.traders if sum(p.qty for p in x.account(a).positions.values()) > 0)
    assert longs / len(sc.traders) == pytest.approx(0.8, abs=0.07)
    start = Decimal(START_PRICES["BTC-PERP"])
    assert sc.index_at("BTC-PERP", 0) == pytest.approx(start, rel=Decimal("0.01"))


def test_small_insurance_fund_shows_socialised_loss_less_with_blps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "--scenario", "march-2020", "--accounts", "1000", "--seconds", "1200"]
    assert main([*argv, "--insurance-fund", "20000", "--compare", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    with_blp, without = out["with_blp"], out["without_blp"]
    assert with_blp["insurance_fund_start"] == without["insurance_fund_start"] == "20000"
    assert Decimal(without["socialized_loss"]) > 0
    assert Decimal(with_blp["socialized_loss"]) < Decimal(without["socialized_loss"])
    assert Decimal(with_blp["clawback_rate"]) < Decimal(without["clawback_rate"])
    # the default 1M fund absorbs the same crash: nothing is socialised
    assert main([*argv, "--compare", "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert Decimal(default["without_blp"]["socialized_loss"]) == 0


@pytest.mark.parametrize("bad", ["-1", "1e6", "1000000000001", "abc", "1_000"])
def test_insurance_fund_flag_is_bounded_and_strict(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--insurance-fund", bad])
    assert exc.value.code == 2
    assert "--insurance-fund" in capsys.readouterr().err
