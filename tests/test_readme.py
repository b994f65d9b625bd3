"""The README keeps its promises.

- The newcomer walkthrough: every shell block marked `<!-- walkthrough:<id> -->` in README.md is
  run as written, through `bash`, with the venv's `bin` first on PATH (so `blp` resolves): the
  short demo; the engine with the local venue and fixed credentials, a paper-trading bot and
  some forced flow; a venue key, then a live bot running `examples/custom_strategy.py`. The
  long-running ones are started in the background, checked by what they serve (the bot's
  `/metrics` and `/status`), stopped with SIGINT and must exit 0.
  The one transformation: the README's fixed ports (engine 8765, bots 9109/9110, status page
  8710) are mapped to free ones, in the commands and in a copy of `examples/` that the commands
  run against (cwd is a temporary directory), so the run neither needs those ports nor writes
  journals into the checkout.
- The config reference lists every key of `BotConfig` (all sections) with its exact default,
  generated from the pydantic models (`config_rows`); the metrics reference every metric of
  `BotMetrics`; the strategy table every parameter of the built-in strategies.

`python -m tests.test_readme` prints the generated tables (to paste into the README).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bot.e2e_harness import free_port
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

# ---- README parsing ------------------------------------------------------------------------

STEP = re.compile(
    r"<!-- walkthrough:(?P<id>[\w.-]+) -->\s*\n```(?:sh|bash)?\n(?P<body>.*?)```", re.S
)
STEPS = (
    "demo",  # short demo, foreground
    "engine",  # long-running
    "paper-bot",  # long-running
    "flow",  # foreground: forced liquidations (assignments on demand)
    "venue-key",  # foreground: a funded venue account with a fixed API key
    "custom-bot",  # long-running
)
README_PORTS = (8765, 9109, 9110, 8710)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def steps() -> dict[str, str]:
    found: dict[str, str] = {}
    for m in STEP.finditer(readme()):
        assert m["id"] not in found, f"walkthrough step {m['id']} marked twice"
        found[m["id"]] = m["body"]
    return found


def table_rows(section: str) -> list[list[str]]:
    """The rows (cells, stripped) of the Markdown tables under heading `section`."""
    text = readme()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    rows = []
    for line in text[start : end if end >= 0 else None].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


# ---- generated reference tables ------------------------------------------------------------


def _fmt(value: Any) -> str:
    """A default as it would be written in TOML (unset when None)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str | Path):
        return f'`"{value}"`'
    if isinstance(value, Decimal | int | float):
        return f"`{value}`"
    if isinstance(value, list):
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value!r}`"


def model_rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and name != "venues":
            yield from model_rows(ann, f"{key}.")
            continue
        if field.is_required():
            yield key, "required"
        elif field.default_factory is not None:
            yield key, _fmt(field.default_factory())  # type: ignore[call-arg]
        else:
            yield key, _fmt(None if field.default is PydanticUndefined else field.default)


def config_rows() -> list[tuple[str, str]]:
    """(dotted key, default) for every key of the bot's TOML config."""
    from blp_client.bot.config import BotConfig, VenueConfig

    rows: list[tuple[str, str]] = []
    for key, default in model_rows(BotConfig, ""):
        if key == "venues":
            rows.extend(model_rows(VenueConfig, "venues.<name>."))
        else:
            rows.append((key, default))
    return rows


def metric_rows() -> list[tuple[str, str, str]]:
    from blp_client.bot.metrics import BotMetrics

    return [(m.name, m.kind, m.doc) for m in BotMetrics().registry.metrics.values()]


def strategy_rows() -> list[tuple[str, str, str]]:
    from blp_client.bot.registry import BUILTIN, resolve

    out = []
    for short in BUILTIN:
        cls = resolve(short)
        for key, default in model_rows(cls.Params, ""):
            out.append((short, key, default))
    return out


def test_config_reference_is_complete_and_exact() -> None:
    rows = {r[0].strip("`"): r[1] for r in table_rows("## Config reference") if len(r) >= 2}
    expected = dict(config_rows())
    missing = sorted(set(expected) - set(rows))
    assert not missing, f"README config table lacks {missing}"
    wrong = {k: (rows[k], v) for k, v in expected.items() if rows[k] != v}
    assert not wrong, f"README defaults differ (README, model): {wrong}"
    stale = sorted(set(rows) - set(expected) - {"Key"})
    assert not stale, f"README config table lists keys the models do not have: {stale}"


def test_metrics_reference_is_complete() -> None:
    listed = {r[0].strip("`") for r in table_rows("## Metrics reference")}
    missing = [name for name, _k, _d in metric_rows() if name not in listed]
    assert not missing, f"README metrics table lacks {missing}"


def test_strategy_params_are_listed() -> None:
    listed = {(r[0].strip("`"), r[1].strip("`")): r[2] for r in table_rows("### Built-in")}
    for short, key, default in strategy_rows():
        assert listed.get((short, key)) == default, f"README: {short} {key} should be {default}"


def test_strategy_example_is_the_file() -> None:
    """The README's strategy listing is examples/custom_strategy.py, line for line (the file
    also has docstrings and comments the README leaves out)."""
    text = readme()
    start = text.index("## Writing a strategy")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None
    source = (ROOT / "examples" / "custom_strategy.py").read_text().splitlines()
    missing = [ln for ln in block[1].splitlines() if ln.strip() and ln not in source]
    assert not missing, f"README strategy lines not in examples/custom_strategy.py: {missing}"


# ---- the walkthrough -----------------------------------------------------------------------


def test_walkthrough_steps_are_marked() -> None:
    found = steps()
    assert set(STEPS) <= set(found), f"unmarked steps: {set(STEPS) - set(found)}"
    assert "make demo" in readme()
    assert re.search(r"^demo:.*\n\t\$\(BIN\)/blp demo$", (ROOT / "Makefile").read_text(), re.M)
    assert found["demo"].strip().startswith("blp demo")


def rewrite(text: str, ports: dict[int, int]) -> str:
    return re.sub(r"\b(\d{4})\b", lambda m: str(ports.get(int(m[1]), m[1])), text)


@dataclass
class Walk:
    cwd: Path
    ports: dict[int, int]
    env: dict[str, str]

    def url(self, readme_port: int, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[readme_port]}{path}"

    def script(self, step: str) -> str:
        return rewrite(steps()[step], self.ports)

    def run(self, step: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-ec", self.script(step)], cwd=self.cwd, env=self.env, text=True,
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip

    def start(self, step: str) -> Background:
        out = self.cwd / f"{step}.log"
        f = out.open("w")
        p = subprocess.Popen(
            ["bash", "-ec", self.script(step)], cwd=self.cwd, env=self.env, text=True,
            stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        f.close()
        return Background(step, p, out)


@dataclass
class Background:
    step: str
    proc: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.step} exited {self.proc.returncode}:\n{self.output()}")

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C (SIGINT to the process group, as a terminal does); the exit status."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"{self.step} ignored SIGINT:\n{self.output()[-3000:]}") from None


T = TypeVar("T")


def until(probe: Callable[[], T | None], timeout: float, what: str, *procs: Background) -> T:
    deadline = time.monotonic() + timeout
    while True:
        for p in procs:
            p.alive()
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.step}\n{p.output()[-2000:]}" for p in procs)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")
        time.sleep(0.2)


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return str(r.read().decode())
    except (OSError, urllib.error.URLError):
        return None


def metric_total(text: str | None, name: str) -> float:
    if not text:
        return 0.0
    pat = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.M)
    return sum(float(v) for v in pat.findall(text))


def status(walk: Walk, port: int) -> dict[str, Any] | None:
    text = fetch(walk.url(port, "/status"))
    return json.loads(text) if text else None


@pytest.fixture
def walk(tmp_path: Path) -> Walk:
    ports = {p: free_port() for p in README_PORTS}
    examples = tmp_path / "examples"
    examples.mkdir()
    for f in (ROOT / "examples").iterdir():
        if f.suffix in (".toml", ".py"):
            (examples / f.name).write_text(rewrite(f.read_text(), ports))
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    for var in ("BLP_API_KEY", "BLP_API_SECRET", "BINANCE_API_KEY", "BINANCE_API_SECRET"):
        env.pop(var, None)  # the README's own exports must be enough
    assert shutil.which("blp", path=env["PATH"]), "blp is not installed in this venv"
    return Walk(tmp_path, ports, env)


def test_step_demo(walk: Walk) -> None:
    r = walk.run("demo", timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "live status page: http://127.0.0.1:" in r.stderr
    assert "Our BLP" in r.stdout and "ADL + socialised loss avoided" in r.stdout
    assert "Traceback" not in r.stderr


def test_steps_engine_paper_bot_custom_strategy(walk: Walk) -> None:
    if not shutil.which("curl"):
        pytest.skip("the walkthrough's admin calls use curl, which is not installed")
    engine = walk.start("engine")
    bots: list[Background] = []
    try:
        until(lambda: fetch(walk.url(8765, "/fapi/v1/time")), 90, "the engine", engine)
        assert "admin token: walkthrough-admin-token" in engine.output()

        # paper-trading bot: real assignments, simulated fills on the venue's real books
        paper = walk.start("paper-bot")
        bots.append(paper)
        until(lambda: fetch(walk.url(9109, "/metrics")), 90, "the paper bot", engine, paper)
        flow = walk.run("flow", timeout=90)
        assert flow.returncode == 0 and '"assignments"' in flow.stdout, flow
        until(
            lambda: metric_total(fetch(walk.url(9109, "/metrics")), "blp_bot_assignments_total"),
            90, "the paper bot's first assignment", engine, paper,
        )  # fmt: skip
        st = until(
            lambda: (s := status(walk, 9109)) and s["fills"]["count"] > 0 and s,
            90, "a paper fill", engine, paper,
        )  # fmt: skip
        assert st["paper"] is True and st["fills"]["paper"] is True
        assert fetch(walk.url(8710, "/status.json")), "the paper bot's status page"
        assert paper.interrupt() == 0, paper.output()[-3000:]
        assert '"event": "bot_stopped"' in paper.output()

        # a live bot running examples/custom_strategy.py against the engine's own venue
        key = walk.run("venue-key", timeout=90)
        assert key.returncode == 0 and json.loads(key.stdout)["api_key"], key
        custom = walk.start("custom-bot")
        bots.append(custom)
        until(lambda: fetch(walk.url(9110, "/metrics")), 90, "the custom bot", engine, custom)
        flow = walk.run("flow", timeout=90)
        assert flow.returncode == 0, flow
        st = until(
            lambda: (s := status(walk, 9110)) and s["assignments"]["count"] > 0
            and s["fills"]["by_venue"].get("binance", 0) > 0 and s,
            90, "the custom bot to hedge on the venue", engine, custom,
        )  # fmt: skip
        assert st["strategy"] == "HedgeFraction" and st["paper"] is False
        assert custom.interrupt() == 0, custom.output()[-3000:]
        assert '"event": "bot_stopped"' in custom.output()
        for b in bots:
            assert "Traceback" not in b.output(), b.output()[-3000:]
        assert engine.interrupt() == 0, engine.output()[-3000:]
        assert "Traceback" not in engine.output()
    finally:
        for p in (*bots, engine):
            if p.proc.poll() is None:
                os.killpg(p.proc.pid, signal.SIGKILL)
                p.proc.wait()


if __name__ == "__main__":
    print("| Key | Default | Meaning |\n|---|---|---|")
    for key, default in config_rows():
        print(f"| `{key}` | {default} | |")
    print("\n| Metric | Type | Meaning |\n|---|---|---|")
    for name, kind, doc in metric_rows():
        print(f"| `{name}` | {kind} | {doc} |")
    print("\n| Strategy | Parameter | Default | Meaning |\n|---|---|---|---|")
    for short, key, default in strategy_rows():
        print(f"| `{short}` | `{key}` | {default} | |")
