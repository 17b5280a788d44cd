"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Fixtures:

- ``browser``: headless Chromium from ``/usr/bin/chromium`` (or
  ``$CRM_CHROMIUM_PATH``). Missing, it skips with the reason, or fails under
  ``CRM_REQUIRE_SERVICES=1`` (CI installs it in ``.ci/run``).
- ``context``: a fresh browser context (own cookies) at 1280x800 whose base URL is the live
  server, so ``page.goto("/")`` works.
- ``page``: a page in that context. Any console error (a failed stylesheet, a CSP violation,
  a script error) or uncaught page error fails the test; a test that provokes one on purpose
  takes it out of ``console_errors`` (``/favicon.ico``, which the browser asks for by itself,
  is served). A failing test leaves a screenshot named after it.
- ``console_errors``: the list the ``page`` fixture checks.

Helpers to import from ``tests.browser.support``: ``sign_in``, ``sign_out``, ``snap``,
``PASSWORD``.

Why one Playwright per test, and ``DJANGO_ALLOW_ASYNC_UNSAFE``: Playwright's sync API runs an
asyncio event loop in the test's thread and leaves it marked as running between calls. Django's
guard against ORM calls from async code would refuse every query the test makes, so the
variable is set while Playwright runs (and only then). Django's connections are context-local
(asgiref), and while Playwright runs the test sees a second set of them: pytest-django's
database set-up (serialized rollback) and reset must happen outside that window, so Playwright
starts after the test's database is ready and stops before it is reset. Data a test creates
inside the window is committed at once (transactional tests, autocommit) and the live server
sees it. Chromium starts in about a second.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.urls import get_resolver
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, sync_playwright

from tests.browser.support import snap
from tests.conftest import needs_service

CHROMIUM = os.environ.get("CRM_CHROMIUM_PATH", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def browser(live_server) -> Iterator[Browser]:  # type: ignore[no-untyped-def]
    """Playwright and Chromium for one test, started after its database is set up."""
    if not chromium_available():
        needs_service(f"Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    # Import every view module now: the first request would otherwise pay for it in the live
    # server thread (seconds where bytecode is not cached) and outrun the navigation timeout.
    get_resolver().url_patterns  # noqa: B018
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield chromium
            finally:
                chromium.close()
                # Connections opened while Playwright ran belong to its context, not to the
                # ones pytest-django resets after the test: close them before leaving it.
                connections.close_all()


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-US")  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def page(
    context: BrowserContext, console_errors: list[str], request: pytest.FixtureRequest
) -> Iterator[Page]:
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            console_errors.append(f"console error: {message.text} ({where or page.url})")

    def on_page_error(error: Error) -> None:
        console_errors.append(f"uncaught page error: {error.message} ({page.url})")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield page
    if request.node.stash.get(_CALL_FAILED, False):
        try:
            snap(page, f"failed-{request.node.name}")
        except Error:
            pass  # a crashed page cannot be captured; the failure itself is reported
    page.close()
    if console_errors:
        pytest.fail("The browser reported errors:\n" + "\n".join(console_errors), pytrace=False)
