"""The hedging bot: strategies, risk, journal, executor and daemon."""
