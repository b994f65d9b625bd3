"""blp-client: SDK, hedging bot and reference engine for Backstop Liquidity Providers."""

__version__ = "0.1.0"
