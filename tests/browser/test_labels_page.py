"""Tags and custom fields in the console: an owner adds a tag and a field on the Tags and fields page (from the
workspace menu), sets the field's value and tags a file from the files list, sees both on the file's row, and
filters the list by the tag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit
from tests.browser.test_accessibility import axe_violations, report


def test_a_tag_made_on_the_labels_page_tags_a_file_and_filters_the_files_list(
    console: Console, new_page: Any, screenshots: Path, speech_wav: Path, axe_source: str
) -> None:
    person = console.create_user(unique_email("labels"), name="Rosa Parks")
    ws = person.workspace_id
    base = f"/api/v1/workspaces/{ws}"
    with console.api() as client:
        ids = {}
        for name in ("interview.wav", "b-roll.wav"):
            with speech_wav.open("rb") as handle:
                uploaded = client.post(f"{base}/files", headers=person.headers, files={"file": (name, handle)})
            assert uploaded.status_code == 201, uploaded.text
            ids[name] = uploaded.json()["id"]

    page = new_page()
    page.goto("/login")
    sign_in(page, person.email)
    visit(page, f"/w/{ws}/files")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tags and fields").click()
    expect(page).to_have_url(f"{console.url}/w/{ws}/labels")
    expect(page.get_by_role("heading", name="Tags and fields", level=1)).to_be_visible()

    tags = page.get_by_role("region", name="Tags").or_(page.locator("section", has_text="Tags mark files"))
    tags.get_by_label("Name").fill("Interview")
    tags.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("table", name="Tags")).to_contain_text("Interview")
    expect(page.get_by_role("table", name="Tags")).to_contain_text("0 items")

    fields = page.locator("section", has_text="Fields every file and job")
    fields.get_by_label("Name").fill("Client")
    fields.get_by_label("Key").fill("client")
    fields.get_by_role("button", name="Add field").click()
    expect(page.get_by_role("table", name="Custom fields")).to_contain_text("Client")
    screenshot(page, screenshots, "labels")
    assert report(axe_violations(page, axe_source), "labels") == []

    visit(page, f"/w/{ws}/files")
    row = page.locator(f"tr[data-file='{ids['interview.wav']}']")
    other = page.locator(f"tr[data-file='{ids['b-roll.wav']}']")
    row.get_by_role("button", name="Fields").click()
    values = page.get_by_role("dialog", name="Fields of interview.wav")
    values.get_by_label("Client").fill("Acme Radio")
    screenshot(page, screenshots, "fields-dialog")
    values.get_by_role("button", name="Save fields").click()
    expect(values).to_be_hidden()
    expect(row).to_contain_text("Acme Radio")
    with console.api() as client:
        saved = client.get(f"{base}/files/{ids['interview.wav']}", headers=person.headers).json()
    assert saved["custom_fields"] == {"client": "Acme Radio"}
    row.get_by_role("button", name="Tags").click()
    dialog = page.get_by_role("dialog", name="Tags of interview.wav")
    dialog.get_by_label("Interview").check()
    dialog.get_by_role("button", name="Save tags").click()
    expect(dialog).to_be_hidden()
    expect(row.locator(".tag-chip")).to_have_text(["Interview"])
    expect(other.locator(".tag-chip")).to_have_count(0)

    page.get_by_label("Tag", exact=True).select_option("Interview")
    expect(page).to_have_url(f"{console.url}/w/{ws}/files?tag=Interview")
    expect(row).to_be_visible()
    expect(other).to_have_count(0)
    screenshot(page, screenshots, "files-by-tag")
    assert report(axe_violations(page, axe_source), "files") == []

    with console.api() as client:
        listed = client.get(f"{base}/files", headers=person.headers, params={"tag": "interview"})
    assert [item["id"] for item in listed.json()["items"]] == [ids["interview.wav"]]
    assert listed.json()["items"][0]["tags"] == ["Interview"]
