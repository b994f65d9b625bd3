"""Binance's error contract: `{"code": -NNNN, "msg": ...}` with an HTTP status.

ccxt maps these codes to its exception classes (-2019 → InsufficientFunds, -2011 →
OrderNotFound, ...), so the codes here are what makes the unmodified client behave as on Binance.
"""

from __future__ import annotations

from ..core.exchange import ExchangeError


class BinanceApiError(Exception):
    """An error answered the Binance way: HTTP status + `{"code": code, "msg": msg}`."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def missing(name: str) -> BinanceApiError:
    """-1102: a mandatory parameter is absent."""
    return BinanceApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal_chars(name: str, legal: str) -> BinanceApiError:
    """-1100: a parameter does not match the pattern Binance accepts."""
    return BinanceApiError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def filter_failure(detail: str) -> BinanceApiError:
    """-1111: a quantity or price off the lot/tick grid."""
    return BinanceApiError(
        -1111,
        f"Precision is over the maximum defined for this asset. (Filter failure: {detail})",
    )


INVALID_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
LEVERAGE_CAP = (-2027, "Exceeded the maximum allowable position at current leverage.")


def leverage_cap() -> BinanceApiError:
    return BinanceApiError(*LEVERAGE_CAP)


def map_engine_error(e: ExchangeError) -> BinanceApiError:
    """The Binance error for an engine refusal of an order placement."""
    match e.code:
        case "insufficient_margin":
            return BinanceApiError(-2019, "Margin is insufficient.")
        case "reduce_only_rejected":
            return BinanceApiError(-2022, "ReduceOnly Order is rejected.")
        case "duplicate_client_order_id":
            return BinanceApiError(-4116, "ClientOrderId is duplicated.")
        case "account_in_liquidation":
            return BinanceApiError(-2023, "User in liquidation mode now.")
        case "invalid_qty":
            return filter_failure(f"LOT_SIZE; {e.message}")
        case "invalid_price":
            return filter_failure(f"PRICE_FILTER; {e.message}")
        case "no_price":
            return BinanceApiError(-2020, "Unable to fill.")
        case "invalid_account":
            return BinanceApiError(*INVALID_KEY, 401)
        case _:
            return BinanceApiError(
                -1000, f"An unknown error occurred while processing the request. ({e.code})"
            )
