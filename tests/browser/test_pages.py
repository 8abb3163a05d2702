"""An address the console does not know shows its own "Page not found" (with a way back), signed in or out, and the
pages and files the browser loads carry the Content-Security-Policy (the `new_page` fixture checks every response;
tests/console/test_serving.py holds each address's headers without a browser)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, sign_in, unique_email, visit


def test_a_missing_page_is_the_consoles_page_not_found(console: Console, new_page: Any) -> None:
    signed_out = new_page()
    visit(signed_out, "/w/some-workspace/no-such-page")
    expect(signed_out.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(signed_out.get_by_role("link", name="Go to the start")).to_be_visible()

    person = console.create_user(unique_email("lost"), name="Lost Person")
    page = new_page()
    page.goto("/login")
    ws = sign_in(page, person.email)
    visit(page, f"/w/{ws}/files/no/such/page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()  # the console's frame stays around it
    page.get_by_role("link", name="Go to the start").click()
    expect(page.get_by_role("heading", level=1, name="Files")).to_be_visible()
