"""The bot's live status page: a small read-only aiohttp app on its own port.

    page = await start_status_page(bot.status, port=8710)   # 0: any free port
    print(page.url)                                          # http://127.0.0.1:8710/
    await page.stop()

Routes (GET/HEAD only): `/` the page (already showing the current status: `status_html`),
`/status.json` exactly `status()`, `/events` the same JSON as server-sent events (one
`status` event whenever it changed, checked every `interval_s`), `/static/<file>` the page's
own CSS/JS. Everything comes from the package (no CDN, no external fonts or scripts) and a
strict Content-Security-Policy forbids anything else.
Unknown paths answer a JSON 404. Bound to 127.0.0.1 unless another host is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from blp_client.bot.status_html import render_index

log = structlog.get_logger("blp_client.bot.statuspage")

StatusFn = Callable[[], dict[str, Any]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
KEEPALIVE_S = 15.0


def _dumps(obj: object) -> str:
    return json.dumps(obj, default=str, sort_keys=True)


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's assets, read once from the package: name -> (bytes, content type)."""
    out: dict[str, tuple[bytes, str]] = {}
    for f in resources.files("blp_client.bot").joinpath("static").iterdir():
        ext = "." + f.name.rsplit(".", 1)[-1] if "." in f.name else ""
        if f.is_file() and ext in STATIC_TYPES:
            out[f.name] = (f.read_bytes(), STATIC_TYPES[ext])
    return out


class _Hub:
    """The latest status text, shared by `/status.json` and every `/events` client.

    A ticker recomputes `status()` every `interval_s` while someone listens; `version`
    goes up (and waiters wake) only when the JSON changed."""

    def __init__(self, status: StatusFn, interval_s: float) -> None:
        self.status = status
        self.interval_s = interval_s
        self.text: str | None = None
        self.version = 0
        self.listeners = 0
        self.closing = asyncio.Event()
        self._changed = asyncio.Event()
        self._listening = asyncio.Event()

    def snapshot(self) -> str:
        """Call `status()` now; its JSON (raises what `status()` raises)."""
        text = _dumps(self.status())
        if text != self.text:
            self.text = text
            self.version += 1
            self._changed.set()
            self._changed = asyncio.Event()
        return text

    async def run(self) -> None:
        while not self.closing.is_set():
            if not self.listeners:
                self._listening.clear()
                await self._listening.wait()
                continue
            try:
                self.snapshot()
            except Exception as e:  # a failing provider must not end the page
                log.warning("status_failed", error=f"{type(e).__name__}: {e}"[:200])
            await asyncio.sleep(self.interval_s)

    def listen(self, delta: int) -> None:
        self.listeners += delta
        if self.listeners:
            self._listening.set()

    async def changed(self, after: int, timeout: float) -> bool:
        """Until `version` > `after` (True), the timeout or closing (False)."""
        if self.version > after:
            return True
        waiters = [
            asyncio.ensure_future(self._changed.wait()),
            asyncio.ensure_future(self.closing.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        return self.version > after


def _error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, "status": status, **extra}, status=status)


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Security headers on every answer; errors as JSON; nothing but GET/HEAD."""
    if request.method not in ("GET", "HEAD"):
        resp: web.StreamResponse = _error(405, "read-only: GET only", method=request.method)
        resp.headers["Allow"] = "GET, HEAD"
    else:
        try:
            resp = await handler(request)
        except web.HTTPNotFound:
            resp = _error(404, "not found", path=request.path)
        except web.HTTPMethodNotAllowed:
            resp = _error(405, "read-only: GET only", method=request.method)
    if not resp.prepared:
        for k, v in SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
    return resp


def status_app(status: StatusFn, interval_s: float = 0.5) -> web.Application:
    """The status page's aiohttp application (see the module docstring for routes)."""
    hub = _Hub(status, interval_s)
    files = _static_files()
    app = web.Application(middlewares=[_headers])

    template = files["index.html"][0].decode("utf-8")

    async def index(_request: web.Request) -> web.Response:
        """The page showing the current status already (`status_html`); the bare template
        when the status cannot be read (the page then waits for /events)."""
        try:
            page = render_index(template, hub.snapshot())
        except Exception as e:
            log.warning("status_failed", error=f"{type(e).__name__}: {e}"[:200])
            page = template
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def static(request: web.Request) -> web.Response:
        found = files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1], charset="utf-8")

    async def status_json(_request: web.Request) -> web.Response:
        try:
            text = hub.snapshot()
        except Exception as e:
            return _error(503, f"status unavailable: {type(e).__name__}: {e}"[:300])
        return web.Response(text=text, content_type="application/json")

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                **SECURITY_HEADERS,
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache, no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
        await resp.write(f"retry: {max(int(interval_s * 2000), 500)}\n\n".encode())
        hub.listen(+1)
        sent = 0
        try:
            if hub.text is None:
                with contextlib.suppress(Exception):
                    hub.snapshot()
            while not hub.closing.is_set():
                if hub.version > sent and hub.text is not None:
                    sent = hub.version
                    await resp.write(f"id: {sent}\nevent: status\ndata: {hub.text}\n\n".encode())
                elif not await hub.changed(sent, KEEPALIVE_S) and not hub.closing.is_set():
                    await resp.write(b": keep-alive\n\n")
        except ConnectionResetError:  # the browser went away
            pass
        finally:
            hub.listen(-1)
        return resp

    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/events", events)
    app.router.add_get("/static/{name}", static)

    async def ticker(app: web.Application) -> Any:
        task = asyncio.create_task(hub.run())
        yield
        hub.closing.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def on_shutdown(_app: web.Application) -> None:
        hub.closing.set()  # ends the open /events streams before the server waits for them

    app.cleanup_ctx.append(ticker)
    app.on_shutdown.append(on_shutdown)
    return app


@dataclass
class StatusPage:
    """A running status page; `url` ends with '/'."""

    url: str
    host: str
    port: int
    runner: web.AppRunner

    async def stop(self) -> None:
        """Close the open event streams and the listening socket."""
        await self.runner.cleanup()


async def start_status_page(
    status: StatusFn, *, host: str = "127.0.0.1", port: int = 0, interval_s: float = 0.5
) -> StatusPage:
    """Serve the status page for `status` (e.g. `bot.status`) on host:port (0: a free port)."""
    if interval_s <= 0:
        raise ValueError("interval_s must be > 0")
    runner = web.AppRunner(status_app(status, interval_s), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    actual = int(runner.addresses[0][1]) if runner.addresses else port
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{actual}/"
    log.info("status_page_listening", url=url)
    return StatusPage(url, host, actual, runner)


__all__ = ["CSP", "StatusPage", "start_status_page", "status_app"]
