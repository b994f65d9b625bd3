"""A minimal Chrome DevTools Protocol client for the browser tests (no selenium, no playwright).

It starts headless Chromium on a random debugging port with a throw-away profile, talks CDP over
one WebSocket (the `websockets` package), and gives each page a small API:

    async with launch() as browser:
        page = await browser.new_page()
        await page.navigate("file:///tmp/report/report.html")   # waits for the load event
        n = await page.evaluate("document.querySelectorAll('svg').length")
        await page.wait_for("document.querySelector('#equity').textContent !== '—'")
        text = await page.text("#equity")

Each page also records what the page did: `requests` (every URL it asked for), `console`
(console messages as "type: text"), `errors` (uncaught exceptions, failed loads, CSP reports;
a missing /favicon.ico is not one).
Only file:// and 127.0.0.1 URLs are used by the tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PATHS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/snap/bin/chromium",
)


class CDPError(Exception):
    """Chromium did not start, a command failed, or the page threw."""


def find_chromium() -> str | None:
    """$CHROMIUM if set, else the first Chromium/Chrome on PATH or in the usual places."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else shutil.which(env)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in PATHS if os.access(p, os.X_OK)), None)


def require_chromium() -> str:
    """The Chromium binary, or skip the test saying why (shown by pytest -ra)."""
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium found (looked for $CHROMIUM, "
            + ", ".join(CANDIDATES)
            + "): browser tests need Debian's `chromium` package, which .ci/run installs"
        )
    return found


class Browser:
    """One headless Chromium process and the CDP connection to it."""

    def __init__(self, proc: subprocess.Popen[bytes], ws: ClientConnection, profile: Path) -> None:
        self.proc = proc
        self.ws = ws
        self.profile = profile
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        error: BaseException = CDPError("the DevTools connection closed")
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self._pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        if "error" in msg:
                            fut.set_exception(CDPError(f"{msg['error'].get('message')}"))
                        else:
                            fut.set_result(msg.get("result", {}))
                elif (page := self._pages.get(msg.get("sessionId", ""))) is not None:
                    page._event(msg["method"], msg.get("params", {}))
        except Exception as e:  # the connection died: fail whoever waits
            error = e
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(CDPError(f"DevTools connection lost: {error}"))
        self._pending.clear()

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """One CDP command; its result, or CDPError."""
        if self._reader.done():
            raise CDPError("the DevTools connection is closed")
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self.ws.send(json.dumps(msg))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._pending.pop(msg_id, None)
            raise CDPError(f"{method}: no answer in {timeout:g}s") from None

    async def new_page(self, width: int = 1280, height: int = 1024) -> Page:
        """A new tab on about:blank with Page, Runtime, Network and Log events on."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, target["targetId"], attached["sessionId"])
        self._pages[page.session] = page
        for domain in ("Page", "Runtime", "Network", "Log"):
            await page.send(f"{domain}.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    async def close(self) -> None:
        """Close the browser (politely, then by signal) and remove its profile."""
        with contextlib.suppress(Exception):
            await self.send("Browser.close", timeout=5)
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
        _stop(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab: navigate, evaluate JavaScript, read element text, take screenshots."""

    def __init__(self, browser: Browser, target_id: str, session: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session = session
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.errors.append(f"load failed: {params.get('errorText')}")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append(f"{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            self.errors.append(d.get("exception", {}).get("description") or d.get("text", ""))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            url = entry.get("url", "")
            if not url.endswith("/favicon.ico"):  # the browser asks for it on its own
                self.errors.append(f"{entry['text']} ({url})" if url else entry["text"])
        for fut in self._waiters.pop(method, []):
            if not fut.done():
                fut.set_result(params)

    def _expect(self, method: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(method, []).append(fut)
        return fut

    async def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """A CDP command in this tab's session."""
        return await self.browser.send(method, params, session=self.session, timeout=timeout)

    async def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Go to `url` (file:// or http://127.0.0.1) and wait for its load event."""
        loaded = self._expect("Page.loadEventFired")
        result = await self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise CDPError(f"cannot open {url}: {result['errorText']}")
        try:
            await asyncio.wait_for(loaded, timeout)
        except TimeoutError:
            raise CDPError(f"{url}: no load event in {timeout:g}s") from None

    async def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (promises awaited), as JSON-able Python."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            raise CDPError(d.get("exception", {}).get("description") or d.get("text", "error"))
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0, interval: float = 0.1) -> Any:
        """Evaluate `expression` until it is truthy; its value, or CDPError at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CDPError(f"still falsy after {timeout:g}s: {expression}")
            await asyncio.sleep(interval)

    async def text(self, selector: str) -> str | None:
        """The textContent of the first element matching a CSS selector (None if none)."""
        return await self.evaluate(  # type: ignore[no-any-return]
            f"(e => e ? e.textContent : null)(document.querySelector({json.dumps(selector)}))"
        )

    async def texts(self, selector: str) -> list[str]:
        """The textContent of every element matching a CSS selector."""
        return await self.evaluate(  # type: ignore[no-any-return]
            f"Array.from(document.querySelectorAll({json.dumps(selector)}), e => e.textContent)"
        )

    async def screenshot(self, path: Path | str) -> None:
        """Save a PNG of the whole page (for looking at a failure)."""
        shot = await self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        Path(path).write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        """Close the tab."""
        self.browser._pages.pop(self.session, None)
        await self.browser.send("Target.closeTarget", {"targetId": self.target_id})


@contextlib.asynccontextmanager
async def launch(binary: str | None = None, timeout: float = 30.0) -> AsyncIterator[Browser]:
    """Start headless Chromium and yield a connected Browser; close it on exit."""
    binary = binary or require_chromium()
    profile = Path(tempfile.mkdtemp(prefix="blp-chromium-"))
    log = profile / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
                "--mute-audio",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        url = await _devtools_url(proc, profile, log, timeout)
        ws = await connect(url, max_size=None, proxy=None, open_timeout=timeout)
    except BaseException:
        _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)
        raise
    browser = Browser(proc, ws, profile)
    try:
        yield browser
    finally:
        await browser.close()


async def _devtools_url(
    proc: subprocess.Popen[bytes], profile: Path, log: Path, timeout: float
) -> str:
    """The browser's WebSocket URL, from DevToolsActivePort or the "DevTools listening" line."""
    deadline = time.monotonic() + timeout
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if port_file.exists():
            lines = port_file.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        found = re.search(r"DevTools listening on (ws://\S+)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise CDPError(f"chromium exited with {proc.returncode}: {_tail(log)}")
        await asyncio.sleep(0.05)
    raise CDPError(f"chromium gave no DevTools URL in {timeout:g}s: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:].strip() if log.exists() else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the browser and its helper processes (its own process group)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    else:  # the main process is gone; its helpers may not be
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
