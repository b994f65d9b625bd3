"""What the daemon checks before it hedges anything, and the failures it explains.

- The engine answers and accepts our key: an unreachable engine is waited for (it may be
  starting), a refused key or signature is `engine_auth_failed` and stops the bot after
  `engine.auth_retries` tries (retrying a wrong secret forever only hides it).
- Every contract in `engine.symbols` exists on the exchange (a typo there means assignments
  nobody hedges), and every contract the BLP can be assigned in (threshold > 0) is hedged:
  else refuse to start, or (`risk.unhedged_contracts = "zero_threshold"`) set its threshold
  to 0 so no assignment can come.
- Expected failures of the daemon's loops (the stream's `log_changed`, `server_behind`, a
  refused key) become a `Refusal`: one line with its remedy, no traceback.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
from collections.abc import Sequence
from decimal import Decimal

import structlog

from blp_client.bot.config import BotConfig
from blp_client.bot.journal import Journal
from blp_client.bot.refusal import Refusal
from blp_client.client import BLPClient
from blp_client.errors import AuthError, StreamError
from blp_client.models import Profile

log = structlog.get_logger("blp_client.bot.daemon")


def auth_refusal(config: BotConfig, error: BaseException) -> Refusal:
    e = config.engine
    return Refusal(
        f"engine_auth_failed: the engine at {e.url} refused our credentials ({error}): check "
        f"that {e.api_key_env} and {e.api_secret_env} hold this BLP's key and secret, and that "
        "this machine's clock is right",
        "engine_auth_failed",
    )


async def engine_profile(client: BLPClient, config: BotConfig) -> Profile:
    """The BLP's profile, waiting out an engine that is not up yet; a refused key is retried
    `engine.auth_retries` times in all, then raises `Refusal` (engine_auth_failed)."""
    delay, refused = 0.2, 0
    while True:
        try:
            return await client.profile()
        except AuthError as e:
            refused += 1
            log.warning(
                "engine_auth_failed",
                error=str(e)[:200],
                attempt=refused,
                attempts=config.engine.auth_retries,
            )
            if refused >= config.engine.auth_retries:
                raise auth_refusal(config, e) from None
        except Exception as e:
            log.warning("engine_unreachable", error=f"{type(e).__name__}: {e}"[:200], retry_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


def unknown_contracts(symbols: Sequence[str], listed: Sequence[str]) -> Refusal | None:
    """`engine.symbols` entries the exchange does not list (a config error naming the key)."""
    bad = [s for s in symbols if s not in listed]
    if not bad:
        return None
    s = bad[0]
    close = difflib.get_close_matches(s, listed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return Refusal(
        f"engine.symbols: {s!r} is not a contract on the exchange (it lists "
        f"{', '.join(sorted(listed))}): {hint}fix engine.symbols in the config",
        "unknown_contract",
    )


def unhedged_thresholds(symbols: Sequence[str], profile: Profile) -> dict[str, Decimal]:
    """Contracts the BLP can be assigned in (threshold > 0) that the bot does not hedge."""
    return {
        s: v for s, v in sorted(profile.max_position_notional.items()) if v > 0 and s not in symbols
    }


async def check_contracts(client: BLPClient, config: BotConfig, profile: Profile) -> Profile:
    """Refuse a misspelt or unhedged contract (see the module doc); returns the profile,
    updated when thresholds were set to 0."""
    symbols = list(config.engine.symbols)
    listed = [m.symbol for m in await client.markets()]
    bad = unknown_contracts(symbols, listed)
    if bad is not None:
        raise bad
    unhedged = unhedged_thresholds(symbols, profile)
    if not unhedged:
        return profile
    log.warning(
        "unhedged_contracts",
        contracts={s: str(v) for s, v in unhedged.items()},
        policy=config.risk.unhedged_contracts,
    )
    if config.risk.unhedged_contracts == "refuse":
        names = ", ".join(f"{s} (threshold {v})" for s, v in unhedged.items())
        raise Refusal(
            f"the BLP can be assigned in {names} but engine.symbols does not hedge it: add it "
            "to engine.symbols (with a venue mapping), set its threshold to 0 on the exchange, "
            'or set risk.unhedged_contracts = "zero_threshold"',
            "unhedged_contract",
        )
    profile = await client.update_profile(max_position_notional=dict.fromkeys(unhedged, 0))
    log.warning("unhedged_contracts_zeroed", contracts=sorted(unhedged))
    return profile


def loop_refusal(config: BotConfig, error: BaseException) -> Refusal | None:
    """An expected failure of a daemon loop, explained; None for anything else (a bug)."""
    if isinstance(error, Refusal):
        return error
    if isinstance(error, AuthError):
        return auth_refusal(config, error)
    if isinstance(error, StreamError) and error.code == "log_changed":
        return Refusal(
            f"log_changed: {error.message}. The engine at {config.engine.url} was restarted "
            "without its --data-dir (or with another one): restart it with the same "
            "--data-dir, or, if that log is gone, start this bot on a new `journal`",
            "log_changed",
        )
    if isinstance(error, StreamError) and error.code == "server_behind":
        return Refusal(
            f"server_behind: {error.message}. The engine at {config.engine.url} lost events "
            "this journal has (a wiped --data-dir, or another engine): point engine.url at the "
            "engine this journal came from, or start this bot on a new `journal`",
            "server_behind",
        )
    return None


def port_refusal(key: str, port: int, error: OSError) -> Refusal:
    """A port the config names that cannot be listened on (in use, most often)."""
    why = "is in use (another bot?)" if error.errno == errno.EADDRINUSE else f"failed: {error}"
    return Refusal(
        f"{key} {port} on 127.0.0.1 {why}: set {key} to a free port, 0 for any free one, or "
        "false to turn it off",
        "port_unavailable",
    )


async def resume_seq(client: BLPClient, journal: Journal, config: BotConfig) -> int:
    """Resume after the journal's last seq; a fresh journal starts at `from_seq` or at the
    BLP's latest seq, saved so a crash before the first event does not skip flow."""
    start = journal.get_state("start_seq")
    if start is None:
        start = config.from_seq if config.from_seq is not None else await _latest_seq(client)
        journal.set_state("start_seq", start)
    return max(int(start), journal.last_seq)


async def _latest_seq(client: BLPClient) -> int:
    """The BLP's latest event seq, waiting out an engine that is not up yet."""
    delay = 0.2
    while True:
        try:
            return (await client.assignment_history(0, 1)).last_seq
        except AuthError:
            raise  # a key refused now (it was accepted at start): `loop_refusal` explains
        except Exception as e:
            log.warning("engine_unreachable", error=f"{type(e).__name__}: {e}"[:200], retry_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
