"""The plan's grids, seeds and summary: validation naming the key, seeds that do not depend
on the commitments or the order, and hand-computed per-commitment figures."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blp_client.cli import main
from blp_client.plan import PlanConfigError, parse_plan
from blp_client.plan.summary import frontier, percentile, recommend, summarize, table
from blp_client.plan.tasks import build_tasks, markets, spawn_seed

D = Decimal


def test_spawned_seed_is_the_hash_of_plan_seed_and_index() -> None:
    digest = hashlib.sha256(b"blp-plan/7/2").digest()
    assert spawn_seed(7, 2) == int.from_bytes(digest[:8], "big") >> 1
    assert spawn_seed(7, 2) != spawn_seed(7, 3) != spawn_seed(8, 2)
    assert 0 <= spawn_seed(2**63 - 1, 10**6) < 2**63


def test_every_commitment_meets_the_same_markets() -> None:
    small = parse_plan({"scenarios": {"names": ["crash", "march-2020"], "seeds": 3}})
    big = parse_plan(
        {
            "commitments": {
                "minute_rate": ["150000", "250000"],
                "collateral": ["1000000", "2000000"],
            },
            "scenarios": {"names": ["crash", "march-2020"], "seeds": 3},
        }
    )
    assert markets(small) == markets(big)
    tasks = build_tasks(big)
    assert len(tasks) == 4 * 6
    by_commitment = {}
    for t in tasks:
        by_commitment.setdefault(t.commitment_index, []).append(t.market.seed)
    assert len({tuple(v) for v in by_commitment.values()}) == 1  # same seeds for each
    assert [t.index for t in tasks] == list(range(24))
    assert len({t.key("r/1") for t in tasks}) == 24
    assert tasks[0].key("r/1") != tasks[0].key("r/2")  # a new runner never reuses results


def test_crash_shapes_multiply_presets_do_not() -> None:
    plan = parse_plan(
        {
            "scenarios": {
                "names": ["crash", "oct-2025"],
                "drop": [0.2, 0.4],
                "speed": [0.3, 0.7],
                "insurance_fund": ["0", "1000000"],
                "seeds": 2,
            }
        }
    )
    ms = markets(plan)
    assert len(ms) == (2 * 2 + 1) * 2 * 2
    assert {m.drop for m in ms if m.scenario == "oct-2025"} == {0.0}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"commitments": {"minute_rate": ["50000"]}},
            "commitments.minute_rate.0: the program's minimum is 100,000",
        ),
        (
            {"commitments": {"hour_rate": ["1e6"]}},
            "commitments.hour_rate.0: must be a decimal string",
        ),
        (
            {"commitments": {"threshold": ["1000000", "1000000"]}},
            "commitments.threshold: values must be distinct",
        ),
        (
            {"scenarios": {"names": ["crash", "nope"]}},
            "scenarios.names.1: unknown scenario 'nope'",
        ),
        ({"scenarios": {"drop": [1.5]}}, "scenarios.drop.0: Input should be less than 1"),
        (
            {"scenarios": {"insurance_fund": ["-1"]}},
            "scenarios.insurance_fund.0: must be between 0",
        ),
        (
            {"scenarios": {"seeds": 0}},
            "scenarios.seeds: Input should be greater than or equal to 1",
        ),
        ({"sede": 1}, "sede: Extra inputs are not permitted"),
    ],
)
def test_plan_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(PlanConfigError) as exc:
        parse_plan(data)
    assert str(exc.value).startswith(message)


def test_too_big_a_plan_is_refused_before_it_runs() -> None:
    axis = [str(100_000 + i) for i in range(50)]
    plan = parse_plan(
        {"commitments": {"minute_rate": axis, "threshold": axis}, "scenarios": {"seeds": 1000}}
    )
    with pytest.raises(PlanConfigError, match="at most 100,000"):
        build_tasks(plan)


def test_cli_error_is_one_line_per_problem_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    assert main(["plan", "--minute-rate", "150000,abc", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "blp plan: commitments.minute_rate.1: must be a decimal string of ASCII"
        " digits such as \"0.01\" (optional leading '-', no exponent, spaces, '_' or '+')"
        " (from --minute-rate)"
    ]


def _result(pnl: str, dd: str, liq: bool = False, prog: str = "1.0000") -> dict[str, object]:
    return {
        "pnl": pnl,
        "max_drawdown": dd,
        "liquidated": liq,
        "in_program_fraction": prog,
        "assignments": 10,
        "assigned_notional": "1000.00",
        "discount_value": "1.00",
    }


def test_summary_by_hand() -> None:
    plan = parse_plan(
        {
            "commitments": {"minute_rate": ["150000", "250000", "300000"]},
            "scenarios": {"seeds": 4},
            "max_drawdown": "500",
        }
    )
    tasks = build_tasks(plan)
    results = [
        # 150k: safe, mean (100 + 50 − 30 + 80) / 4 = 50, worst drawdown 400
        _result("100", "10"),
        _result("50", "400"),
        _result("-30", "60"),
        _result("80", "0"),
        # 250k: better mean (90) but a drawdown of 900 breaks the 500 limit
        _result("200", "900"),
        _result("100", "20"),
        _result("40", "30"),
        _result("20", "5"),
        # 300k: best mean (250) but liquidated once
        _result("900", "0", liq=True, prog="0.2500"),
        _result("50", "1"),
        _result("30", "1"),
        _result("20", "1"),
    ]
    doc = summarize(tasks, results, runner="r/1", plan_seed=1, max_drawdown=plan.max_drawdown)
    a, b, c = doc["commitments"]
    assert (a["mean_pnl"], a["p5_pnl"], a["worst_pnl"], a["worst_drawdown"]) == (
        D("50.00"),
        D("-30"),
        D("-30"),
        D("400"),
    )
    assert (b["mean_pnl"], b["worst_drawdown"]) == (D("90.00"), D("900"))
    assert (c["mean_pnl"], c["p_liquidated"], c["in_program_fraction"]) == (
        D("250.00"),
        D("0.2500"),
        D("0.8125"),
    )
    assert doc["recommended"]["index"] == 0
    assert table(doc).splitlines()[2].startswith("* min 150k")
    # without a drawdown limit the 250k commitment wins; liquidated ones never do
    assert recommend(doc["commitments"], None) == 1


@given(st.lists(st.decimals(-(10**6), 10**6, places=2), min_size=1, max_size=60))
def test_percentile_is_a_member_at_or_below_the_quantile(values: list[Decimal]) -> None:
    p5 = percentile(values, 0.05)
    assert p5 in values
    below = sum(1 for v in values if v <= p5)
    assert below >= 0.05 * len(values)
    assert sum(1 for v in values if v < p5) < max(1, 0.05 * len(values))
    assert percentile(values, 1.0) == max(values)


def test_frontier_is_the_safe_undominated_edge() -> None:
    def row(mean: str, dd: str, liq: int = 0) -> dict[str, object]:
        return {"mean_pnl": D(mean), "worst_drawdown": D(dd), "liquidated_markets": liq}

    rows = [
        row("10", "5"),  # on the edge: the safest
        row("20", "8"),  # on the edge
        row("15", "9"),  # dominated by the second
        row("99", "1", liq=1),  # better on both, but liquidated: never on the edge
        row("20", "8"),  # a tie with the second is not dominated
    ]
    assert frontier(rows) == [True, True, False, False, True]
