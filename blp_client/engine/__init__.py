"""The reference exchange-side engine: a deterministic core inside thin I/O shells."""
