"""Helpers for browser tests: sign in through the real form, save screenshots.

Fixtures (``browser``, ``context``, ``page``, ``console_errors``) live in ``conftest.py``;
these are plain functions so that test modules can import them: signing in (password, then the
second factor) and out, screenshots, a second signed-in user in a context of its own, and
keyboard helpers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect

from tests.signin import PASSWORD, totp_code, typed_key_bytes, unused_code

ROOT = Path(__file__).resolve().parents[2]

# ``expect`` waits as long as the fixtures' actions and navigations do (``conftest.TIMEOUT_MS``)
# rather than Playwright's 5 seconds: a page that posts, redirects and renders on a busy CI
# machine can take longer than that.
expect.set_options(timeout=10_000)


def artifacts_dir() -> Path:
    """Where screenshots go: ``$CRM_TEST_ARTIFACTS`` or ``var/test-artifacts`` (git-ignored)."""
    return Path(os.environ.get("CRM_TEST_ARTIFACTS") or ROOT / "var" / "test-artifacts")


def screenshots_dir() -> Path:
    path = artifacts_dir() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def snap(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of the page as ``<artifacts>/screenshots/<name>.png`` and return its path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    path = screenshots_dir() / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, username: str, password: str = PASSWORD, *, expect_success: bool = True) -> None:
    """Sign in through the login form, as a person would (labels, typing, the button), then the
    second factor (``second_factor``).

    With ``expect_success`` (the default) it waits until the browser has left the sign-in pages.
    """
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if expect_success:
        expect(page).not_to_have_url(re.compile(r"/login/"))
        second_factor(page, username)
        expect(page).not_to_have_url(re.compile(r"/mfa/"))
    else:
        page.wait_for_load_state()


def second_factor(page: Page, username: str) -> None:
    """On the enrolment page, set up the authenticator from the key the page shows; on the code
    page, enter the code of the user's device (as the phone app would compute it)."""
    path = urlsplit(page.url).path
    if path == "/mfa/setup/":
        key = typed_key_bytes(page.locator("#mfa-key").inner_text())
        page.get_by_label("Six-digit code").fill(totp_code(key))
        page.get_by_role("button", name="Confirm and continue").click()
    elif path == "/mfa/":
        device = TOTPDevice.objects.get(user__username=username, confirmed=True)
        page.get_by_label("Six-digit code").fill(unused_code(device))
        page.get_by_role("button", name="Verify").click()


def sign_out(page: Page) -> None:
    """Press the "Sign out" button in the top bar and wait for the login page."""
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/"))


def watch_console(page: Page, errors: list[str]) -> None:
    """Record console errors and uncaught page errors of ``page`` in ``errors``, as the ``page``
    fixture does for its own page; pass the fixture's ``console_errors`` so the test fails on them."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            errors.append(f"console error: {message.text} ({where or page.url})")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught page error: {error.message} ({page.url})")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)


def second_user_page(browser: Browser, base_url: str, errors: list[str]) -> tuple[BrowserContext, Page]:
    """A page in a context of its own (own cookies), to sign in as a second user alongside the first.

    Same viewport and time-outs as the ``context`` fixture; the caller closes the context.
    """
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(10_000)
    page = context.new_page()
    watch_console(page, errors)
    return context, page


def tab_to(page: Page, selector: str, *, limit: int = 40) -> None:
    """Press Tab until the element matching ``selector`` has the focus (and fail past ``limit``)."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} was not reached with the Tab key in {limit} presses")


def focus_ring(page: Page) -> str:
    """The focused element's outline if it shows as ``:focus-visible`` (keyboard focus), else ""."""
    return str(
        page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || !el.matches(':focus-visible')) return '';
                const style = getComputedStyle(el);
                return style.outlineStyle === 'none' || parseFloat(style.outlineWidth) === 0
                    ? '' : `${style.outlineWidth} ${style.outlineStyle}`;
            }"""
        )
    )
