"""Every main page of the console passes axe-core with no serious or critical violation, in the light and the dark
theme, and fits a 390 px wide phone without scrolling sideways (tables scroll inside their own box)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import Console, screenshot, sign_in, unique_email, visit, watch
from tests.conftest import Person
from tests.dubbing.conftest import make_recording, wait_for_dub
from tests.podcasts.conftest import NOTES, podcasts_url, wait_for_podcast

PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")

# [name, address]: {ws} and {job} are filled in with the signed-in user's workspace and transcribed job; {podcast} and
# {podcast_in_review} with its episodes (made only for the podcast pages); {dub} with its dub (only for the dubbing
# pages).
PUBLIC_PAGES = [
    ("login", "/login"),
    ("signup", "/signup"),
    ("unsubscribe", "/unsubscribe?token=not-a-real-token"),
    ("revoke-session", "/revoke-session?token=not-a-real-token"),
]
SIGNED_IN_PAGES = [
    ("files", "/w/{ws}/files"),
    ("jobs", "/w/{ws}/jobs"),
    ("job", "/w/{ws}/jobs/{job}"),
    ("transcript", "/w/{ws}/transcripts/{job}"),
    ("search", "/w/{ws}/search?q=river"),
    ("speak", "/w/{ws}/speak"),
    ("podcasts", "/w/{ws}/podcasts"),
    ("podcast-review", "/w/{ws}/podcasts/{podcast_in_review}"),
    ("podcast", "/w/{ws}/podcasts/{podcast}"),
    ("dubs", "/w/{ws}/dubs"),
    ("dub", "/w/{ws}/dubs/{dub}"),
    ("billing", "/w/{ws}/billing"),
    ("members", "/w/{ws}/members"),
    ("api-keys", "/w/{ws}/api-keys"),
    ("provider-keys", "/w/{ws}/provider-keys"),
    ("webhooks", "/w/{ws}/webhooks"),
    ("activity", "/w/{ws}/activity"),
    ("audit", "/w/{ws}/audit"),
    ("email-log", "/w/{ws}/email-log"),
    ("account", "/account"),
    ("security", "/security"),
    ("email", "/email"),
    ("operations", "/admin"),
    ("all-email", "/admin/email"),
]


@dataclass
class SignedIn:
    """A superuser's browser context, signed in, with a workspace holding a transcribed file, a key and an invite."""

    context: Any
    ws: str
    job: str
    person: Person


@pytest.fixture(scope="module")
def signed_in(browser: Any, console: Console, speech_wav: Path) -> Iterator[SignedIn]:
    person = console.create_user(unique_email("axe"), name="Alan Turing", superuser=True)
    job = console.transcribed(person, speech_wav)
    with console.api() as client:
        base = f"/api/v1/workspaces/{person.workspace_id}"
        key = client.post(f"{base}/api-keys", headers=person.headers, json={"name": "CI", "scopes": ["read"]})
        assert key.status_code == 201, key.text
        invited = {"email": unique_email("invitee"), "role": "viewer"}
        invitation = client.post(f"{base}/invitations", headers=person.headers, json=invited)
        assert invitation.status_code == 201, invitation.text
    # One context for the module: its refresh cookie turns over at each page load, so contexts cannot share it.
    context = browser.new_context(base_url=console.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    sign_in(page, person.email)
    page.close()
    yield SignedIn(context, person.workspace_id, job["id"], person)
    context.close()


@pytest.fixture(scope="module")
def episodes(console: Console, signed_in: SignedIn) -> dict[str, str]:
    """A one-minute episode voiced, and one whose script waits for review: the player and the script editor."""
    person = signed_in.person
    made = {}
    with console.api() as client:
        for name, review in (("podcast", False), ("podcast_in_review", True)):
            body = {"notes": NOTES, "title": f"Allotment ({name})", "duration": {"minutes": 1}, "review": review}
            accepted = client.post(podcasts_url(person), headers=person.headers, json=body)
            assert accepted.status_code == 202, accepted.text
            made[name] = accepted.json()["id"]
        for name, wanted in (("podcast", "succeeded"), ("podcast_in_review", "awaiting_review")):
            episode = wait_for_podcast(client, person, made[name], timeout=300.0)
            assert episode["status"] == wanted, episode
    return made


@pytest.fixture(scope="module")
def dubbed(console: Console, signed_in: SignedIn, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A few seconds of English video dubbed into Portuguese: the player, the QA table and the lines."""
    person = signed_in.person
    video = make_recording(tmp_path_factory.mktemp("axe-dub"), ((0.5, "Welcome to the show."),), duration_s=4.0)
    with console.api() as client, video.path.open("rb") as handle:
        base = f"/api/v1/workspaces/{person.workspace_id}"
        files = {"file": (video.path.name, handle, "video/mp4")}
        uploaded = client.post(f"{base}/files", headers=person.headers, files=files)
        assert uploaded.status_code == 201, uploaded.text
        body = {"file_id": uploaded.json()["id"], "target_languages": ["pt"], "title": "Welcome (dub)"}
        accepted = client.post(f"{base}/dubs", headers=person.headers, json=body)
        assert accepted.status_code == 202, accepted.text
        dub = wait_for_dub(client, person, accepted.json()["id"], timeout=300.0)  # type: ignore[arg-type]
    assert dub["status"] == "succeeded", dub
    return {"dub": dub["id"]}


def axe_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now. The source goes in through the
    DevTools protocol (page.evaluate), which the page's CSP does not govern: no inline <script> is needed."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations'], preload: false})")
    return [v for v in results["violations"] if v["impact"] in SERIOUS]


def report(violations: list[dict[str, Any]], where: str) -> list[str]:
    lines = []
    for violation in violations:
        lines.append(
            f"{where}: [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"
        )
        for node in violation["nodes"][:8]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {' '.join(map(str, node['target']))}  —  {summary}")
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return lines


def wider_than_the_screen(page: Any) -> list[str]:
    """When the page scrolls sideways: how wide it is, and the outermost elements that reach past the screen's right
    edge without a box that clips or scrolls them inside it. Empty when it fits."""
    return list(
        page.evaluate(
            """() => {
              const root = document.scrollingElement;
              const width = root.clientWidth;
              if (root.scrollWidth <= width) return [];
              // Clipped by a box that fits the screen and hides or scrolls what overflows it. An absolutely
              // positioned element escapes the boxes between it and its containing block (its offsetParent).
              const top = (box) => !box || box === document.body || box === document.documentElement;
              const clipped = (el) => {
                const position = getComputedStyle(el).position;
                if (position === 'fixed') return true;
                const next = position === 'absolute' ? el.offsetParent : el.parentElement;
                if (top(next)) return false;
                const clips = getComputedStyle(next).overflowX !== 'visible';
                return (clips && next.getBoundingClientRect().right <= width + 1) || clipped(next);
              };
              const sticksOut = (el) => el.getBoundingClientRect().right > width + 1 && !clipped(el);
              const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                [...el.classList].map((c) => '.' + c).join('');
              const found = [...document.body.querySelectorAll('*')].filter(sticksOut);
              const outermost = found.filter((el) => !found.includes(el.parentElement));
              return [
                `the page is ${root.scrollWidth}px wide`,
                ...outermost.slice(0, 8).map((el) =>
                  `${name(el.parentElement)} > ${name(el)} reaches ${Math.round(el.getBoundingClientRect().right)}px`),
              ];
            }"""
        )
    )


def check_page(page: Any, path: str, name: str, axe_source: str, screenshots: Path) -> list[str]:
    """The page at `path` checked by axe in both themes and at phone width; the problems found."""
    problems: list[str] = []
    visit(page, path)
    for theme in ("light", "dark"):
        page.emulate_media(color_scheme=theme)
        # The page follows the system's theme when it changes (theme.js), a moment later.
        page.wait_for_function("(theme) => document.documentElement.dataset.theme === theme", arg=theme)
        # Colours that ease from one theme to the other would be judged halfway: end the transitions.
        page.evaluate("() => document.getAnimations().forEach((a) => a instanceof CSSTransition && a.finish())")
        problems += report(axe_violations(page, axe_source), f"{name} ({theme} theme)")
        screenshot(page, screenshots, f"{name}-{theme}")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)
    overflow = wider_than_the_screen(page)
    if overflow:
        problems.append(f"{name} at {PHONE['width']} px scrolls sideways: " + "; ".join(overflow))
    screenshot(page, screenshots, f"{name}-phone")
    return problems


@pytest.mark.parametrize(("name", "path"), PUBLIC_PAGES, ids=[name for name, _ in PUBLIC_PAGES])
def test_a_public_page_is_accessible_in_both_themes_and_fits_a_phone(
    name: str, path: str, new_page: Any, axe_source: str, screenshots: Path
) -> None:
    problems = check_page(new_page(), path, name, axe_source, screenshots)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("name", "path"), SIGNED_IN_PAGES, ids=[name for name, _ in SIGNED_IN_PAGES])
def test_a_console_page_is_accessible_in_both_themes_and_fits_a_phone(
    name: str, path: str, signed_in: SignedIn, axe_source: str, screenshots: Path, request: pytest.FixtureRequest
) -> None:
    made = request.getfixturevalue("episodes") if "/podcasts" in path else {}
    if "/dubs" in path:
        made = request.getfixturevalue("dubbed")
    page = signed_in.context.new_page()
    errors = watch(page)
    try:
        address = path.format(ws=signed_in.ws, job=signed_in.job, **made)
        problems = check_page(page, address, name, axe_source, screenshots)
    finally:
        page.close()
    errors.check()
    assert not problems, "\n".join(problems)
