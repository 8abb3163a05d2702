"""The billing page offers eWAY when the server has its keys, and a package bought with it arrives: the browser goes to
eWAY's shared page (a local stand-in that pays and sends it back, as eWAY does), returns through voxhub, which asks
eWAY about the access code, and lands on the thank-you page with the credits on the account."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.billing.fakes_au import FakeEway
from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit
from tests.live_server import served
from voxhub.config import Settings
from voxhub.db import make_engine, migrate


@pytest.fixture(scope="module")
def fake_eway() -> Iterator[FakeEway]:
    with FakeEway() as server:
        yield server


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, billing_catalog: Path, fake_eway: FakeEway) -> Iterator[Console]:
    """voxhub for this module's browser tests, with eWAY's keys set and its endpoint at the fake."""
    root = tmp_path_factory.mktemp("console-eway")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "var",
        database_url=f"sqlite:///{root / 'console.db'}",
        smtp_url=None,
        billing_catalog=billing_catalog,
        secret_key="browser-test-secret-key-" + "e" * 32,
        run_periodic_tasks=False,
        workers=1,
        llm_engine="none",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
        eway_api_key=fake_eway.token,
        eway_api_password=fake_eway.api_password,
        eway_endpoint=fake_eway.url,
    )
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    engine.dispose()
    with served(settings) as server:
        yield Console(server, server.settings)


def test_a_package_bought_with_eway_arrives_after_voxhub_asks_eway(
    console: Console, new_page: Any, screenshots: Path, fake_eway: FakeEway
) -> None:
    person = console.create_user(unique_email("eway"))
    page = new_page()

    def shared_page(route: Any) -> None:
        # The customer pays on eWAY's page; eWAY sends the browser back to the RedirectUrl with the access code.
        code = parse_qs(urlsplit(route.request.url).query)["AccessCode"][0]
        fake_eway.pay(code)
        redirect = fake_eway.access_codes[code]["request"]["RedirectUrl"]
        route.fulfill(status=302, headers={"Location": f"{redirect}?AccessCode={code}"})

    page.route("https://secure.ewaypayments.test/**", shared_page)
    page.goto("/login")
    workspace_id = sign_in(page, person.email)
    visit(page, f"/w/{workspace_id}/billing")

    card = page.get_by_label("Card (eWAY)")
    expect(card).to_be_visible()
    card.check()
    screenshot(page, screenshots, "billing-eway")
    page.get_by_role("button", name=re.compile(r"^Buy 250 credits")).click()

    expect(page).to_have_url(f"{console.url}/billing/success")
    expect(page.get_by_role("heading", name="Thank you: payment received")).to_be_visible()
    with console.api() as client:
        summary = client.get(f"/api/v1/workspaces/{workspace_id}/billing", headers=person.headers)
    assert summary.status_code == 200, summary.text
    assert summary.json()["balance"] == 250
    assert [request.path for request in fake_eway.requests if request.method == "GET"] == [
        f"/AccessCode/{code}" for code in fake_eway.access_codes
    ]
