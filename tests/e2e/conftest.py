"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), and one full stack for the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.notify_harness import start_world

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
# Screenshots go to a build folder, so a test run never rewrites docs/; `make screenshots` points this at docs/.
DOCS = Path(os.environ.get("SOLIDARITY_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "build" / "screenshots")
DOCS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (fails under CI=true when missing: run scripts/install_system.sh)."""
    require_service(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (run scripts/install_system.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def world(kafka, tmp_path_factory):
    """The real stack: worker + Twilio-compatible sandbox + SMTP sink + 500 demo members + tokens."""
    stack, sandbox, tokens = start_world(tmp_path_factory.mktemp("e2e"))
    yield stack, sandbox, tokens
    stack.stop()
    sandbox.stop()


@pytest.fixture
def base_url(world) -> str:
    """The worker's base URL."""
    return world[0].http.base_url


def login(context, base_url: str, token: str):
    """A page of `context` logged in to the dashboard."""
    page = context.new_page()
    page.goto(f"{base_url}/dashboard/login")
    page.fill("#token", token)
    page.click("button.primary")
    page.wait_for_url(f"{base_url}/dashboard")
    return page
