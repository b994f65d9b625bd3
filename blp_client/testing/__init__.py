"""Test helpers that ship with the SDK: a fault-injecting TCP proxy for chaos tests."""

from .proxy import FaultProxy

__all__ = ["FaultProxy"]
