"""Sign in and out in a real browser, and the form error for a wrong password."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import sign_in, sign_out, snap

pytestmark = pytest.mark.browser


def test_coordinator_signs_in_lands_on_the_work_queue_and_signs_out(page: Page, coordinator) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    snap(page, "signin-01-login")

    sign_in(page, "coordinator")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page).to_have_title(re.compile(r".+ · Admissions CRM$"))
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    expect(page.locator("header")).to_contain_text(coordinator.get_full_name())
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    snap(page, "signin-02-work-queue")

    sign_out(page)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("header")).not_to_contain_text(coordinator.get_full_name())
    snap(page, "signin-03-signed-out")

    page.goto("/")  # signed out for real: the queue asks to sign in again
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_wrong_password_shows_the_form_error(page: Page, coordinator) -> None:
    sign_in(page, "coordinator", "not-the-password", expect_success=False)
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page.get_by_label("Username")).to_have_value("coordinator")
    expect(page.get_by_label("Password")).to_have_value("")
    snap(page, "signin-04-wrong-password")
