"""Sign in (password and authenticator code) and out in a real browser; the form errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import second_factor, sign_in, sign_out, snap
from tests.signin import PASSWORD

pytestmark = pytest.mark.browser


def test_coordinator_signs_in_lands_on_the_work_queue_and_signs_out(page: Page, coordinator) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    snap(page, "signin-01-login")

    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # first sign-in: the authenticator app is set up before any page opens
    expect(page).to_have_url(re.compile(r"/mfa/setup/\?next=/$"))
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    expect(page.locator("figure.qr svg")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    snap(page, "signin-02-mfa-setup")
    page.get_by_label("Six-digit code").fill("000000")
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_role("alert")).to_contain_text("That code does not match")
    page.wait_for_timeout(1_500)  # a wrong code pauses code entry for a second (django-otp throttling)
    second_factor(page, "coordinator")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page).to_have_title(re.compile(r".+ · Admissions CRM$"))
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    expect(page.locator("header")).to_contain_text(coordinator.get_full_name())
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    snap(page, "signin-03-work-queue")

    sign_out(page)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("header")).not_to_contain_text(coordinator.get_full_name())
    snap(page, "signin-04-signed-out")

    page.goto("/")  # signed out for real: the queue asks to sign in again
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))

    # the next sign-in asks for a code from the app set up above
    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/mfa/\?next=/$"))
    expect(page.get_by_role("heading", name="Verification code")).to_be_visible()
    snap(page, "signin-05-mfa-code")
    second_factor(page, "coordinator")
    expect(page).to_have_url(re.compile(r"/$"))


def test_wrong_password_shows_the_form_error(page: Page, coordinator) -> None:
    sign_in(page, "coordinator", "not-the-password", expect_success=False)
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page.get_by_label("Username")).to_have_value("coordinator")
    expect(page.get_by_label("Password")).to_have_value("")
    snap(page, "signin-06-wrong-password")
