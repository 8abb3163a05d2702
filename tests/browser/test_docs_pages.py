"""The API docs (/docs, Swagger UI; /redoc, ReDoc) draw the whole API and call it under their Content-Security-Policy
(voxhub.headers): the `new_page` fixture fails the test on any CSP violation or console error."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, watch

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
DRAWN_MS = 30_000  # the whole API's schema drawn, on a busy two-core machine


def test_swagger_ui_draws_the_api_and_tries_a_call_under_its_policy(console: Console, new_page: Any) -> None:
    page = new_page()
    response = page.goto("/docs")
    assert response is not None and "script-src 'self' 'sha256-" in response.headers["content-security-policy"]

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("voxhub", timeout=DRAWN_MS)
    health = page.locator("#operations-operations-healthz_healthz_get")
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    expect(health.locator(".live-responses-table .response .response-col_status").first).to_have_text(
        "200", timeout=DRAWN_MS
    )
    expect(health.locator(".live-responses-table")).to_contain_text('"status": "ok"')


def test_redoc_draws_the_api_and_searches_it_under_its_policy(console: Console, browser: Any) -> None:
    context = browser.new_context(base_url=console.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = watch(page)
    response = page.goto("/redoc")
    assert response is not None and "worker-src 'self' blob:" in response.headers["content-security-policy"]

    expect(page.get_by_role("heading", level=1)).to_contain_text("voxhub", timeout=DRAWN_MS)
    page.get_by_placeholder("Search...").fill("Liveness")  # answered by ReDoc's search worker
    expect(page.locator("[data-role='search:results'] [aria-label='Liveness']")).to_be_visible(timeout=DRAWN_MS)
    context.close()
    # ReDoc's sidebar shows its maker's logo from their CDN: the policy keeps visitors' addresses from going there,
    # and that refusal is the only thing the page may report.
    assert all(REDOC_LOGO in problem for problem in problems.found), problems.found
