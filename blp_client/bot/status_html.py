"""The status page's first paint, rendered on the server: `index.html` with every fixed
`data-field` element already showing the current status (formatted as `status.js` does), and
the status itself embedded as JSON for `status.js` to fill the tables from before `/events`
says anything. So the page shows the truth at once, even on a busy machine or without scripts.

The JSON sits in a `<script type="application/json">` data block: never executed, so the
strict CSP (`script-src 'self'`) still holds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

DASH = "—"
_FIELD = re.compile(
    r'<(?P<tag>\w+)(?P<attrs>[^>]*?\bdata-field="(?P<path>[^"]+)"[^>]*)>' + DASH + r"</(?P=tag)>"
)
_FMT = re.compile(r'\bdata-fmt="([^"]+)"')
INITIAL_ID = "initial-status"


def lookup(status: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(status, dict):
            status = status.get(key)
        elif isinstance(status, list) and key.isdigit() and int(key) < len(status):
            status = status[int(key)]
        else:
            return None
    return status


def raw(value: Any) -> str:
    """What the page keeps in data-value: strings as they are, the rest compact JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def num(d: Decimal, digits: int | None = None) -> str:
    """Grouped, at most `digits` decimals (by size, as status.js), no trailing zeros, no -0."""
    if digits is None:
        digits = 2 if abs(d) >= 1000 else 4 if abs(d) >= 1 else 8
    q = d.quantize(Decimal(1).scaleb(-digits)) if digits else d.quantize(Decimal(1))
    if q == 0:
        q = abs(q)
    text = f"{q:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def wall_time(ms: Any) -> str:
    n = _number(ms)
    if n is None or n <= 0:
        return str(ms)
    return datetime.fromtimestamp(int(n) / 1000, UTC).strftime("%H:%M:%S.%f")[:12]


def fmt(value: Any, kind: str | None = None) -> str:
    """The text status.js shows for `value` (its `fmt`)."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool) and not kind:
        return "yes" if value else "no"
    d = _number(value)
    if kind == "running":
        return "running" if value else "stopped"
    if kind == "paper":
        return "paper" if value else "live"
    if kind == "time":
        return wall_time(value)
    if kind in ("ratio", "pct", "x", "ms") and d is not None:
        if kind == "ratio":
            return num(d, 6)
        if kind == "pct":
            return num(d * 100, 2) + "%"
        return num(d, 2) + "×" if kind == "x" else num(d, 1) + " ms"
    if d is not None:
        return num(d)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else DASH
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def render_index(template: str, status_text: str) -> str:
    """`template` (index.html) showing the status JSON `status_text`: fixed fields filled,
    the JSON embedded as it is."""
    status = json.loads(status_text)

    def fill(m: re.Match[str]) -> str:
        path, attrs = m["path"], m["attrs"]
        kind = _FMT.search(attrs)
        value = lookup(status, path)
        text = fmt(value, kind.group(1) if kind else None)
        return f'<{m["tag"]}{attrs} data-value="{escape(raw(value))}">{escape(text)}</{m["tag"]}>'

    page = _FIELD.sub(fill, template)
    data = status_text.replace("<", "\\u003c")  # no "</script>" inside the block
    block = f'<script type="application/json" id="{INITIAL_ID}">{data}</script>\n'
    return page.replace("</body>", block + "</body>", 1)


__all__ = ["INITIAL_ID", "fmt", "render_index"]
