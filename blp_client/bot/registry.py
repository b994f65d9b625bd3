"""Build a strategy from the config: a built-in short name, `package.module:Class`, or
`path/to/file.py:Class` (a user's own module, e.g. examples/custom_strategy.py), plus params.

Parameter errors name the key (`strategy.params.slippage_bps: ...`) so a TOML typo is obvious.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from blp_client.bot.strategy import Strategy

BUILTIN: dict[str, str] = {
    "internalize": "strategies.internalize:Internalize",
    "immediate_hedge": "strategies.immediate_hedge:ImmediateHedge",
    "twap_hedge": "strategies.twap_hedge:TwapHedge",
    "band_hedge": "strategies.band_hedge:BandHedge",
}


class StrategyLoadError(ValueError):
    """The strategy could not be found, is not a Strategy, or its params are invalid."""


def validation_messages(err: ValidationError, prefix: str = "") -> list[str]:
    """One "dotted.key: message" line per pydantic error."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        key = ".".join(p for p in (prefix, loc) if p)
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{key or '(root)'}: {msg}")
    return lines


def _import_file(path: Path) -> Any:
    name = f"blp_user_strategy_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StrategyLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def resolve(
    spec: str, base_dir: Path | None = None, *, key: str = "strategy.class"
) -> type[Strategy[Any]]:
    """The strategy class named by `spec`; relative file paths are relative to `base_dir`.
    Errors start with `key`."""
    spec = BUILTIN.get(spec, spec)
    module_part, sep, cls_name = spec.rpartition(":")
    if not sep or not module_part or not cls_name:
        raise StrategyLoadError(
            f"{key}: {spec!r}: expected 'module:Class', 'path/file.py:Class' "
            f"or one of {sorted(BUILTIN)}"
        )
    try:
        if module_part.endswith(".py") or "/" in module_part:
            path = Path(module_part)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            module = _import_file(path)
        else:
            module = importlib.import_module(module_part)
    except (ImportError, OSError) as exc:
        raise StrategyLoadError(f"{key}: {spec!r}: cannot import: {exc}") from exc
    cls = getattr(module, cls_name, None)
    if cls is None:
        where = f"file {module_part}" if module_part.endswith(".py") else f"module {module_part}"
        have = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy
        )
        raise StrategyLoadError(
            f"{key}: no class {cls_name} in {where}"
            + (f" (it has {', '.join(have)})" if have else "")
            + ": fix the name after the ':'"
        )
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyLoadError(f"{key}: {spec!r}: {cls_name} is not a Strategy subclass")
    return cls


def load_strategy(
    spec: str,
    params: Mapping[str, Any] | None = None,
    *,
    base_dir: Path | None = None,
    key: str = "strategy.params",
) -> Strategy[Any]:
    """Resolve `spec` and validate `params` against its `Params` model."""
    cls = resolve(spec, base_dir, key=key.rpartition(".")[0] + ".class")
    try:
        return cls.from_params(params)
    except ValidationError as exc:
        raise StrategyLoadError("\n".join(validation_messages(exc, key))) from exc
