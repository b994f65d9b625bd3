"""Config loading: defaults, errors naming the key, secrets only from the environment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from blp_client.bot.config import BotConfig, ConfigError, load_config, parse_config
from blp_client.bot.registry import StrategyLoadError, load_strategy, resolve
from blp_client.bot.strategy import Strategy
from strategies.immediate_hedge import ImmediateHedge
from strategies.twap_hedge import TwapHedge


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return path


def test_an_empty_file_gives_sensible_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert cfg.engine.url.startswith("http://127.0.0.1")
    assert cfg.strategy.class_ == "immediate_hedge"
    assert cfg.risk.max_leverage == Decimal(10)
    assert cfg.journal == tmp_path / "blp-bot.sqlite"  # relative to the config file
    assert not cfg.paper.enabled and cfg.venues == {}


FULL = """
paper = true
journal = "state/bot.sqlite"
metrics_port = 9200
status_port = 8080

[engine]
url = "http://127.0.0.1:8700"
api_key_env = "MY_BLP_KEY"
api_secret_env = "MY_BLP_SECRET"
symbols = ["BTC-PERP", "ETH-PERP"]

[venues.binance]
ccxt_id = "binanceusdm"
api_key_env = "BIN_KEY"
api_secret_env = "BIN_SECRET"
symbols = { "BTC-PERP" = "BTC/USDT:USDT" }
options = { defaultType = "future" }
taker_fee = "0.0004"

[strategy]
class = "twap_hedge"
params = { horizon_ms = 30000, slices = 3, slippage_bps = 15, venues = ["binance"] }

[risk]
max_leverage = 4
max_order_notional = "250000"
"""


def test_a_full_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    assert cfg.paper.enabled and cfg.metrics_port == 9200 and cfg.status_port == 8080
    assert cfg.journal == tmp_path / "state/bot.sqlite"
    v = cfg.venues["binance"]
    assert v.ccxt_id == "binanceusdm" and v.symbols == {"BTC-PERP": "BTC/USDT:USDT"}
    assert v.taker_fee == Decimal("0.0004")
    assert cfg.risk.max_leverage == 4 and cfg.risk.max_order_notional == Decimal(250_000)
    s = load_strategy(cfg.strategy.class_, cfg.strategy.params)
    assert isinstance(s, TwapHedge) and s.params.slices == 3 and s.timer_ms() == 10_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[risk]\nmax_leverage = 0", "risk.max_leverage: Input should be greater than 0"),
        ("[risk]\nmax_levrage = 3", "risk.max_levrage: Extra inputs are not permitted"),
        ("metrics_port = 70000", "metrics_port: Input should be less than or equal to 65535"),
        ("[venues.x]\noptions = {}", "venues.x.ccxt_id: Field required"),
        ("[venues.exchange]\nccxt_id = 'binanceusdm'", "reserved"),
        (
            "[strategy]\nparams = { slippage_bps = -1 }",
            "strategy.params.slippage_bps: Input should be greater than or equal to 0",
        ),
        (
            "[strategy]\nparams = { slipage_bps = 1 }",
            "strategy.params.slipage_bps: Extra inputs are not permitted",
        ),
        ("[strategy]\nclass = 'nope'", "strategy.class: 'nope': expected"),
        ("[strategy]\nclass = 'no_such_module:X'", "strategy.class: 'no_such_module:X': cannot"),
        ("[strategy]\nclass = 'decimal:Decimal'", "is not a Strategy subclass"),
        ("[risk]\nrestore_threshold_leverage = 9", "restore_threshold_leverage must be below"),
        ("paper = ", "bot.toml"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_false_turns_a_port_off(tmp_path: Path) -> None:
    # TOML has no null: `false` is how a file says "no metrics server"
    cfg = load_config(write(tmp_path, "metrics_port = false\nstatus_port = false"))
    assert cfg.metrics_port is None and cfg.status_port is None
    assert load_config(write(tmp_path, "metrics_port = 0")).metrics_port == 0  # any free port
    with pytest.raises(ConfigError, match=r"metrics_port: .*or false to turn it off"):
        load_config(write(tmp_path, "metrics_port = true"))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_config(tmp_path / "nope.toml")


def test_secrets_come_only_from_the_environment(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    env = {"MY_BLP_KEY": "k-123", "MY_BLP_SECRET": "s-456", "BIN_KEY": "bk", "BIN_SECRET": "bs"}
    key = cfg.engine.api_key(env)
    assert key.get_secret_value() == "k-123"
    assert "k-123" not in repr(key) and "k-123" not in str(key)
    creds = cfg.venues["binance"].credentials("binance", env)
    assert {k: v.get_secret_value() for k, v in creds.items()} == {"apiKey": "bk", "secret": "bs"}
    assert "bk" not in repr(creds)
    assert "s-456" not in repr(cfg) and "MY_BLP_SECRET" in repr(cfg)  # names only
    with pytest.raises(
        ConfigError,
        match=r"engine\.api_secret_env: environment variable "
        "MY_BLP_SECRET is not set",
    ):
        cfg.engine.api_secret({})
    # a venue's missing secret names the config key that points at the variable
    with pytest.raises(
        ConfigError,
        match=r"venues\.binance\.api_secret_env: environment variable BIN_SECRET is not set",
    ):
        cfg.venues["binance"].credentials("binance", {"BIN_KEY": "bk"})


CUSTOM = '''
from collections.abc import Sequence
from decimal import Decimal

from blp_client.bot.strategy import (
    AssignmentReceived, Hedge, Intent, Strategy, StrategyParams, View)


class HalfParams(StrategyParams):
    fraction: Decimal = Decimal("0.5")
    venue: str


class HedgeHalf(Strategy[HalfParams]):
    """Hedge a fraction of each assignment at market on one venue."""

    Params = HalfParams

    def on_assignment(self, view: View, event: AssignmentReceived) -> Sequence[Intent]:
        qty = -event.signed_qty * self.params.fraction
        return [Hedge(event.symbol, self.params.venue, qty, reason="half")]
'''


def test_a_user_strategy_from_a_file_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "custom.py").write_text(CUSTOM)
    text = "[strategy]\nclass = 'mine/custom.py:HedgeHalf'\nparams = { venue = 'b' }\n"
    cfg = load_config(write(tmp_path, text))
    s = load_strategy(cfg.strategy.class_, cfg.strategy.params)
    from blp_client.bot.strategy import AssignmentReceived, Hedge, View

    from ._views import assignment

    out = s.decide(View(0), AssignmentReceived(assignment(1, "sell", "3")))
    assert out == [Hedge("BTC-PERP", "b", Decimal("1.5"), reason="half")]
    with pytest.raises(ConfigError, match=r"strategy\.params\.venue: Field required"):
        load_config(write(tmp_path, "[strategy]\nclass = 'mine/custom.py:HedgeHalf'\n"))


def test_registry_resolves_builtins_and_module_paths() -> None:
    assert resolve("immediate_hedge") is ImmediateHedge
    assert resolve("strategies.twap_hedge:TwapHedge") is TwapHedge
    assert issubclass(resolve("internalize"), Strategy)
    with pytest.raises(StrategyLoadError, match=r"strategy\.params\.slices"):
        load_strategy("twap_hedge", {"slices": 0})


def test_parse_config_without_strategy_check() -> None:
    cfg = parse_config({"strategy": {"class": "not_loaded:Yet"}}, check_strategy=False)
    assert isinstance(cfg, BotConfig) and cfg.strategy.class_ == "not_loaded:Yet"


def test_paper_table_latency_and_partial_fills(tmp_path: Path) -> None:
    """Issue 13: paper fills had no latency (`latency_ms=0` hard-coded) and no partial fills."""
    text = (
        "[paper]\nenabled = true\nlatency_ms = 120\nlatency_jitter_ms = 30\n"
        'partial_fill_probability = "0.25"\npartial_fill_ratio = "0.4"\nseed = 9\n'
    )
    p = load_config(write(tmp_path, text)).paper
    assert p.enabled and (p.latency_ms, p.latency_jitter_ms, p.seed) == (120, 30, 9)
    assert p.partial_fill_probability == Decimal("0.25") and p.partial_fill_ratio == Decimal("0.4")
    assert load_config(write(tmp_path, "paper = false")).paper.latency_ms == 0
    for bad, key in (
        ("latency_ms = -1", "paper.latency_ms"),
        ('partial_fill_probability = "1.5"', "paper.partial_fill_probability"),
        ("partial_fill_ratio = 0", "paper.partial_fill_ratio"),
        ("latncy_ms = 5", "paper.latncy_ms"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(write(tmp_path, f"[paper]\n{bad}\n"))
