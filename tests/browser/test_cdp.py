"""The CDP client itself, on what a live status-page test needs: an http:// page on 127.0.0.1
that updates itself, values read repeatedly without a reload, element text, JS errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from .cdp import Browser, CDPError

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tick</title></head>
<body><h1 id="title">status</h1><ul><li class="v">a</li><li class="v">b</li></ul>
<span id="n">0</span>
<script>
let n = 0;
setInterval(() => { n += 1; document.getElementById('n').textContent = String(n); }, 50);
window.pageId = Math.random();
</script></body></html>"""


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def index(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def data(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/status.json", data)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_live_page_over_http(browser: Browser, server: str) -> None:
    page = await browser.new_page()
    await page.navigate(server + "/")
    assert await page.text("#title") == "status"
    assert await page.texts("li.v") == ["a", "b"]
    assert await page.text("#missing") is None
    page_id = await page.evaluate("window.pageId")
    first = int(await page.text("#n") or 0)
    await page.wait_for(f"Number(document.getElementById('n').textContent) > {first + 3}")
    assert await page.evaluate("window.pageId") == page_id  # changed live, no reload
    fetched = await page.evaluate(f"fetch('{server}/status.json').then(r => r.json())")
    assert fetched == {"ok": True}
    assert page.requests[0] == server + "/" and page.errors == []
    await page.close()


async def test_errors_are_reported(browser: Browser, server: str) -> None:
    page = await browser.new_page()
    await page.navigate(server + "/")
    with pytest.raises(CDPError, match="boom"):
        await page.evaluate("(() => { throw new Error('boom') })()")
    with pytest.raises(CDPError, match="still falsy"):
        await page.wait_for("false", timeout=0.3)
    await page.evaluate("setTimeout(() => { throw new Error('late') }, 0); 1")
    await page.wait_for("true")
    await page.evaluate("new Promise(r => setTimeout(r, 100))")
    assert any("late" in e for e in page.errors)
