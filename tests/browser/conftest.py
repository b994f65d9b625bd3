"""Browser fixtures: a headless Chromium over CDP, or a skip saying why there is none."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .cdp import Browser, launch, require_chromium


@pytest.fixture
def chromium() -> str:
    """The Chromium binary; skips the test when none is installed."""
    return require_chromium()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """A fresh headless Chromium for one test."""
    async with launch(chromium) as b:
        yield b
