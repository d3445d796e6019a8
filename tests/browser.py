"""Pages in a real headless Chromium: Debian's `chromium` driven by Playwright's sync API.

Playwright's own browser download is not reachable from these machines; `make test` installs
Debian's package instead (the Makefile's `chromium` target). A browser test FAILS when the
browser is missing, never skips: CI must not pass without having looked at a page. Deselect
them locally with `-m "not browser"` (every test using these fixtures gets that marker).

The server is the project's own `manage.py serve` (daphne) from tests/conftest.py: use the
`csms` fixture (or a module's `own_server`) and go to `csms.url + "/path/"`. Browser tests are
plain sync tests: between its calls, Playwright's sync API keeps its asyncio loop marked
running in the test's thread, so `asyncio.run` fails there (the ORM works: see `chromium`).
Play a charger on `charger_loop` (a loop in a thread of its own) instead:

    def test_it_shows_a_charger(csms, browser_page, charger_loop):
        sign_in(browser_page, csms.url, "olga")
        cp = charger_loop.enter(connected_charger(csms.ws_url, "CP-1"))
        charger_loop.run(cp.send(call.StatusNotification(...)))
        expect(browser_page.locator(...)).to_have_text(...)
        screenshot(browser_page, "dashboard-laptop")
"""

import asyncio
import os
import threading
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from tests.personas import PASSWORDS

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
LAPTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
BROWSER_FIXTURES = {"chromium", "browser_page", "phone_page"}


@pytest.fixture
def chromium(monkeypatch):
    """A headless Chromium for one test. Per test, not per session: while Playwright's sync API is
    open, no other test in this process could run an asyncio loop (the charger tests do)."""
    # Playwright's loop only looks running (it is parked in a greenlet while the test runs), but
    # Django then refuses the test's own ORM calls as "async": allowed for this test only. They use
    # a connection of their own meanwhile (Django keeps "async" connections apart), outside any test
    # transaction: browser tests use the transactional database, as the `csms` server needs anyway.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM_PATH} (CHROMIUM_PATH): `make test` installs Debian's chromium; "
            'deselect the browser tests with -m "not browser"',
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright  # only browser tests need it

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()
        connections.close_all()  # that connection: PostgreSQL would not drop the test database


def open_page(browser, **context_options):
    """A page in a fresh context (its own cookies), English unless `locale` says otherwise."""
    context = browser.new_context(**{"locale": "en-US", **context_options})
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.fixture
def browser_page(chromium):
    """A laptop's window: 1280×900."""
    page = open_page(chromium, **LAPTOP)
    yield page
    page.context.close()


@pytest.fixture
def phone_page(chromium):
    """A phone's: 390×844, touch, the page's own viewport meta honoured."""
    page = open_page(chromium, **PHONE)
    yield page
    page.context.close()


def sign_in(page, server_url: str, username: str, password: str | None = None) -> None:
    """Sign a persona (tests.personas) in through /login/, as a person would, and wait to be let in."""
    page.goto(f"{server_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password or PASSWORDS[username])
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save the page as $CSMS_VAR_DIR/shots/<name>.png (outside the repo when CSMS_VAR_DIR is) and return its path."""
    path = Path(settings.VAR_DIR) / "shots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


class BackgroundLoop:
    """An asyncio loop in a thread of its own, for chargers (tests.ocpp_client) beside a sync browser test."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="charger-loop", daemon=True)
        self.thread.start()
        self._contexts = AsyncExitStack()

    def run(self, coroutine, timeout: float = 30):
        """Run `coroutine` on the loop and return its result (its error is raised here)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def enter(self, context: AbstractAsyncContextManager, timeout: float = 30):
        """Enter an async context (e.g. `connected_charger(...)`) on the loop; it is left at close()."""
        return self.run(self._contexts.enter_async_context(context), timeout)

    def close(self) -> None:
        try:
            self.run(self._contexts.aclose())
            self.run(self._cancel_the_rest())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()

    @staticmethod
    async def _cancel_the_rest() -> None:
        # A charger's serving task, cancelled as its context closed, ends on the loop's next turns.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


@pytest.fixture
def charger_loop():
    loop = BackgroundLoop()
    yield loop
    loop.close()


def mark_browser_tests(items) -> None:
    """Every test using a browser fixture carries the `browser` marker, so `-m "not browser"` finds them all."""
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
