"""Driving the console in Debian's Chromium: shared by the browser tests and the screenshots."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, ViewportSize, expect

from cloud.notify.testing import PASSWORD

CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


def sign_in(page: Page, api_url: str, username: str) -> None:
    """Open the console, sign in with the seeded password, wait for the live feed."""
    page.goto(f"{api_url}/console/")
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-state", "on")
    expect(page.locator("#view-alerts")).to_be_visible()


def open_console(
    browser: Browser,
    api_url: str,
    username: str,
    *,
    lang: str = "en",
    viewport: ViewportSize | None = None,
    timeout_ms: float = 15_000,
) -> Page:
    """A fresh browser context (ward time zone, chosen language) signed in as username."""
    context = browser.new_context(
        viewport=viewport or VIEWPORT, locale="en-GB", timezone_id="Asia/Shanghai"
    )
    context.add_init_script(f"localStorage.setItem('caredge.lang', '{lang}')")
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    sign_in(page, api_url, username)
    return page
