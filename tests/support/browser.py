"""Debian's Chromium, headless, driven by Playwright (which never downloads a browser of
its own here): ``async with chromium() as browser``.

The browser tests skip, saying why, where Chromium is not installed (``make test``
installs it with apt where it can). Screenshots go to ``test-output/`` at the top of the
checkout (ignored by git), for a reviewer to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS_DIR = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = (
    # The machine's network is closed: no background calls home, no QUIC probes.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--no-first-run", "--disable-gpu",
    # A render's <video> may play without a click, as a test cannot make a real gesture.
    "--autoplay-policy=no-user-gesture-required",
    # WebGL in software, for the studio's preview.
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    # A fake microphone (a beep), allowed without a prompt, for recording a voice.
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
)


def chromium_path() -> str:
    """Chromium's executable (``AURA_CHROMIUM`` or Debian's), or skip the test."""
    path = os.environ.get("AURA_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; "
                    "`make test` does it where it can): the studio's browser tests skip")
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS),
            # Root in a container has no user namespace for Chromium's sandbox.
            chromium_sandbox=os.geteuid() != 0)
        try:
            yield browser
        finally:
            await browser.close()


def screenshot_path(viewport: str, name: str) -> Path:
    """Where the screenshot ``name`` at ``viewport`` goes (folders made)."""
    folder = SCREENSHOTS_DIR / viewport
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
