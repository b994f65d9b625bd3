"""The SDK's loggers: structlog's API, and silent unless the application configures logging.

structlog's default configuration (when nothing has called `structlog.configure`) prints every
event to stdout. That suits an application and not a library: a script that only used the SDK
found `stream.connected` lines in its own output. So an SDK logger sends its events through
structlog's configured pipeline once the application has configured structlog, and until then
to the stdlib logger of the same name under `blp_client`, rendered as `event key=value ...`.
`blp_client` carries a `NullHandler` (the stdlib's recipe for libraries): nothing is printed
unless the application configures `logging` (e.g. `logging.basicConfig(level=logging.INFO)`).
Whether structlog is configured is checked at each call, so configuring it after importing the
SDK works. The SDK logs connects, reconnects and gaps, never per event: the check costs
nothing on the hot path.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

logging.getLogger("blp_client").addHandler(logging.NullHandler())

_RENDER = structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True)


class SDKLogger:
    """A structlog-style logger (`bind`, `debug` … `exception`) for one SDK module."""

    __slots__ = ("_context", "_name", "_stdlib")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = context or {}
        self._stdlib = logging.getLogger(name)

    def bind(self, **values: Any) -> SDKLogger:
        return SDKLogger(self._name, {**self._context, **values})

    def _target(self) -> Any:
        if structlog.is_configured():  # the application's pipeline
            return structlog.get_logger(self._name, **self._context)
        return structlog.wrap_logger(
            self._stdlib,
            processors=[structlog.stdlib.filter_by_level, _RENDER],
            wrapper_class=structlog.stdlib.BoundLogger,
            **self._context,
        )

    def debug(self, event: str, **kw: Any) -> None:
        self._target().debug(event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        self._target().info(event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._target().warning(event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        self._target().error(event, **kw)

    def exception(self, event: str, **kw: Any) -> None:
        self._target().exception(event, **kw)


def get_logger(name: str) -> SDKLogger:
    """The logger of SDK module `name` (a `blp_client.…` dotted name)."""
    return SDKLogger(name)
