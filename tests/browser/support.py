"""Helpers for browser tests: sign in through the real form, save screenshots.

Fixtures (``browser``, ``context``, ``page``, ``console_errors``) live in ``conftest.py``;
these are plain functions so that test modules can import them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]

# The password every ``tests.factories.UserFactory`` user gets.
PASSWORD = "correct-horse-battery-staple"


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
    """Sign in through the login form, as a person would (labels, typing, the button).

    With ``expect_success`` (the default) it waits until the browser has left the login page.
    """
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if expect_success:
        expect(page).not_to_have_url(re.compile(r"/login/"))
    else:
        page.wait_for_load_state()


def sign_out(page: Page) -> None:
    """Press the "Sign out" button in the top bar and wait for the login page."""
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/"))
