"""The engine core: sans-I/O, deterministic (time and RNG are inputs), Decimal throughout."""

from .blp import BLP, ProgramConfig
from .book import Order, OrderStatus, Side, TimeInForce
from .exchange import Exchange, ExchangeConfig, ExchangeError, FeeTier
from .instruments import Instrument, RiskTier, build_tiers, default_instruments
from .ledger import Account, AccountKind, LiquidationState, Position
from .liquidation import WaterfallConfig
from .margin import MarginSnapshot, liquidation_price, snapshot, zero_prices

__all__ = [
    "BLP",
    "Account",
    "AccountKind",
    "Exchange",
    "ExchangeConfig",
    "ExchangeError",
    "FeeTier",
    "Instrument",
    "LiquidationState",
    "MarginSnapshot",
    "Order",
    "OrderStatus",
    "Position",
    "ProgramConfig",
    "RiskTier",
    "Side",
    "TimeInForce",
    "WaterfallConfig",
    "build_tiers",
    "default_instruments",
    "liquidation_price",
    "snapshot",
    "zero_prices",
]
