"""`blp bot`: config and secret errors are reported by key with exit status 2, before any
connection is attempted."""

from __future__ import annotations

from pathlib import Path

import pytest

from blp_client.cli import build_parser, main


def test_bot_subcommand_parses() -> None:
    args = build_parser().parse_args(["bot", "-c", "x.toml", "--paper"])
    assert args.paper is True and args.config == Path("x.toml")


def test_bad_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text("[risk]\nmax_leverage = -1\n")
    assert main(["bot", "-c", str(cfg)]) == 2
    assert "risk.max_leverage" in capsys.readouterr().err


def test_missing_secret_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    cfg = tmp_path / "bot.toml"
    cfg.write_text('[engine]\napi_key_env = "NO_SUCH_KEY_VAR"\n')
    assert main(["bot", "-c", str(cfg)]) == 2
    assert "NO_SUCH_KEY_VAR" in capsys.readouterr().err


def test_examples_are_valid_configs() -> None:
    from blp_client.bot.config import load_config

    root = Path(__file__).resolve().parents[2] / "examples"
    live = load_config(root / "bot.toml")
    assert live.venues["binance"].api_key_env == "BINANCE_API_KEY"
    assert load_config(root / "paper.toml").paper.enabled is True
