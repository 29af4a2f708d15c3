"""Fixtures of the browser test: the demo (scripts/develop --background) and headless Chromium.

Run through scripts/test_browser, which installs what this needs (Debian's chromium and
chromium-driver, requirements_browser.txt) and passes the right pytest options. Kept out of
tests/ so the unit suite stays fast and needs no browser.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags this machine's Chromium needs: run as root, without a GPU, and without the
# background requests to Google's hosts that a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STATIONS = 3
PORTS = 2


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--artifacts",
        type=Path,
        default=None,
        help="where screenshots and logs go (default: a new temporary directory)",
    )
    parser.addoption(
        "--demo",
        type=Path,
        default=None,
        metavar="READY_FILE",
        help="use the demo already running that wrote READY_FILE (scripts/develop "
        "--background --ready-file READY_FILE) instead of starting one; it is left running",
    )
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        help="also copy the screenshots to docs/screenshots/",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def artifacts(request: pytest.FixtureRequest) -> Path:
    path: Path | None = request.config.getoption("--artifacts")
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="iot_zinx_browser_"))
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nartifacts: {path}")
    return path


@pytest.fixture(scope="session")
def update_screenshots(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-screenshots"))


@pytest.fixture(scope="session")
def demo(artifacts: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Home Assistant, the integration, its dashboard and simulated stations, on free ports."""
    running: Path | None = request.config.getoption("--demo")
    if running is not None:
        yield {**json.loads(running.read_text()), "reused": True}
        return
    config = Path(tempfile.mkdtemp(prefix="iot_zinx_demo_"))
    shutil.rmtree(config)  # scripts/develop makes it afresh
    ready_file = artifacts / "demo.json"
    command = [
        str(REPO / "scripts" / "develop"),
        "--background",
        "--config", str(config),
        "--port", str(free_port()),
        "--station-port", str(free_port()),
        "--stations", str(STATIONS),
        "--ports", str(PORTS),
        "--ready-file", str(ready_file),
        "--timeout", "150",
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    (artifacts / "develop.out.log").write_text(result.stdout + result.stderr)
    try:
        assert result.returncode == 0, f"scripts/develop failed:\n{result.stdout}{result.stderr}"
        state: dict[str, Any] = json.loads(ready_file.read_text())
        state["startup_seconds_measured"] = round(time.monotonic() - started, 1)
        state["reused"] = False
        yield state
    finally:
        subprocess.run(
            [str(REPO / "scripts" / "develop"), "--stop", "--config", str(config)],
            capture_output=True,
            timeout=120,
            check=False,
        )
        for name in ("home-assistant.log", "simulator.log"):
            if (config / name).exists():
                shutil.copy(config / name, artifacts / name)
        shutil.rmtree(config, ignore_errors=True)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[BrowserContext]:
    """Headless Debian Chromium with a new, empty profile."""
    profile = tempfile.mkdtemp(prefix="iot_zinx_chromium_")
    context = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 900},
        locale="en-US",
        # Home Assistant's service worker installs on the first visit of a new profile and
        # can reload the page while the app starts: the reloaded page then waited for the
        # strategy's element in vain (browser.log of a failed fresh-clone run: the module
        # loaded and defined it at 2 s, the frontend timed out in another document at 8 s).
        # The worker is Home Assistant's offline cache, not what this test checks.
        service_workers="block",
    )
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def page(browser: BrowserContext, artifacts: Path) -> Iterator[Page]:
    """The one tab; what its console says and which requests fail go to browser.log."""
    page = browser.pages[0] if browser.pages else browser.new_page()
    start = time.monotonic()
    with (artifacts / "browser.log").open("a") as log:

        def line(text: str) -> None:
            log.write(f"{time.monotonic() - start:8.3f}  {text}\n")
            log.flush()

        page.on("console", lambda message: line(f"console {message.type}: {message.text}"))
        page.on("pageerror", lambda error: line(f"page error: {error}"))
        page.on(
            "framenavigated",
            lambda frame: line(f"navigated to {frame.url}") if frame == page.main_frame else None,
        )
        page.on("requestfailed", lambda request: line(f"failed {request.url}: {request.failure}"))
        page.on(
            "response",
            lambda response: (
                line(f"{response.status} {response.url}")
                if response.status >= 400 or "iot_zinx" in response.url
                else None
            ),
        )
        yield page
