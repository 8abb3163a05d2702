"""Sign-ins carry a place and a device; one from a new country or device mails the user a "was this you?" whose link
signs out that session, without signing in, and no other; the admins of the user's workspaces see it in their audit
log. The app here trusts a proxy, and the tests speak as that proxy: real public addresses in X-Forwarded-For (the
TestClient's own address, "testclient", has no place; neither have private addresses)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Mailbox, People, body_text
from voxhub.accounts.devices import describe_device
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.workspaces.flows import create_user

# Public addresses whose country the bundled database knows (checked in test_the_addresses_used_here_have_places).
LONDON = "81.2.69.142"  # GB
AMSTERDAM = "193.0.6.139"  # NL (RIPE NCC)
SAO_PAULO = "200.160.2.3"  # BR (NIC.br)
GOOGLE_V6 = "2001:4860:4860::8888"  # US
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FIREFOX_LINUX_NEWER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
ALERT = "Was this you?"
LINK = re.compile(r"/revoke-session\?token=([A-Za-z0-9_\-.]+)")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trust_proxy_headers": True})


def new_user(app: Any, email: str) -> str:
    """An account that has never signed in."""
    with app.state.db.session() as session:
        user = create_user(session, email=email, password=PASSWORD, name="Ana", actor=Actor.system(), verified=True)
        return user.id


def sign_in(client: TestClient, email: str, *, ip: str, agent: str = FIREFOX_LINUX) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": ip, "User-Agent": agent},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    tokens["headers"] = {"Authorization": f"Bearer {tokens['access_token']}", "X-Forwarded-For": ip}
    return tokens


def alerts_to(app: Any, mailbox: Mailbox, email: str) -> list[Any]:
    app.state.ctx.mailer.flush()  # every mail of the requests so far has been handed to the SMTP server
    return [m for m in mailbox.sent_to(email) if ALERT in str(m["Subject"])]


def kinds(client: TestClient, headers: dict[str, str]) -> list[str]:
    return [e["kind"] for e in client.get("/api/v1/me/security-events", headers=headers).json()["items"]]


def refreshes(client: TestClient, tokens: dict[str, Any]) -> int:
    """Refresh from where the tokens were signed in from (a refresh from elsewhere moves the session's place)."""
    where = {"X-Forwarded-For": tokens["headers"]["X-Forwarded-For"]}
    return client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=where
    ).status_code


def test_the_addresses_used_here_have_places() -> None:
    from voxhub import geo

    assert [getattr(geo.locate(ip), "country", None) for ip in (LONDON, AMSTERDAM, SAO_PAULO, GOOGLE_V6)] == [
        "GB",
        "NL",
        "BR",
        "US",
    ]
    assert [geo.locate(ip) for ip in ("10.1.2.3", "192.168.0.9", "127.0.0.1", "203.0.113.7", "testclient", "")] == [
        None
    ] * 6


def test_the_first_sign_in_is_placed_and_not_alerted(client: TestClient, app: Any, mailbox: Mailbox) -> None:
    new_user(app, "ana@example.com")
    ana = sign_in(client, "ana@example.com", ip=LONDON)

    [session] = client.get("/api/v1/auth/sessions", headers=ana["headers"]).json()["items"]
    assert session["ip"] == LONDON
    assert session["place"] == {"country": "GB", "country_name": "United Kingdom", "city": None}
    assert session["device"] == "Firefox on Linux"
    assert kinds(client, ana["headers"]) == []
    assert alerts_to(app, mailbox, "ana@example.com") == []


def test_a_sign_in_from_a_new_country_mails_a_link_that_signs_out_that_session_only(
    client: TestClient, app: Any, mailbox: Mailbox
) -> None:
    new_user(app, "ana@example.com")
    at_home = sign_in(client, "ana@example.com", ip=LONDON)
    again_at_home = sign_in(client, "ana@example.com", ip=LONDON, agent=FIREFOX_LINUX_NEWER)  # an updated browser
    assert alerts_to(app, mailbox, "ana@example.com") == []

    abroad = sign_in(client, "ana@example.com", ip=SAO_PAULO)

    mail = mailbox.wait_for("ana@example.com", ALERT)
    text = body_text(mail)
    assert "Brazil" in text and SAO_PAULO in text and "Firefox on Linux" in text
    assert "from a country it has not been used from before" in text and "new device" not in text
    match = LINK.search(text)
    assert match, text
    events = client.get("/api/v1/me/security-events", headers=at_home["headers"]).json()["items"]
    assert [(e["kind"], e["ip"], e["place"]["country"]) for e in events] == [("login.unrecognized", SAO_PAULO, "BR")]
    assert events[0]["details"]["reasons"] == ["new_country"]

    # The link works for anyone holding it, signed in or not, and ends exactly the session the mail was about.
    revoked = client.post("/api/v1/auth/sessions/revoke-from-alert", json={"token": match.group(1)})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert refreshes(client, abroad) == 401
    assert client.get("/api/v1/me", headers=abroad["headers"]).status_code == 401
    assert refreshes(client, at_home) == 200 and refreshes(client, again_at_home) == 200
    assert kinds(client, again_at_home["headers"])[0] == "session.revoked_from_alert"

    # Following it again changes nothing more.
    again = client.post("/api/v1/auth/sessions/revoke-from-alert", json={"token": match.group(1)})
    assert (again.status_code, again.json()["status"]) == (200, "already_signed_out")

    # A session disowned from an alert does not make its country known: the next sign-in from there alerts again.
    sign_in(client, "ana@example.com", ip=SAO_PAULO)
    assert len(alerts_to(app, mailbox, "ana@example.com")) == 2


def test_a_sign_in_from_a_new_device_is_alerted_and_the_list_shows_where_each_session_is(
    client: TestClient, app: Any, mailbox: Mailbox
) -> None:
    new_user(app, "ana@example.com")
    sign_in(client, "ana@example.com", ip=LONDON)
    windows = sign_in(client, "ana@example.com", ip=GOOGLE_V6, agent=CHROME_WINDOWS)

    text = body_text(mailbox.wait_for("ana@example.com", ALERT))
    assert "Chrome on Windows" in text and "United States" in text and "new device" in text
    # The US is new as well, and the mail says both.
    assert "from a country it has not been used from before, and from a new device" in text
    sessions = client.get("/api/v1/auth/sessions", headers=windows["headers"]).json()
    assert sessions["next_cursor"] is None
    assert sorted((s["device"], s["place"]["country"], s["current"]) for s in sessions["items"]) == [
        ("Chrome on Windows", "US", True),
        ("Firefox on Linux", "GB", False),
    ]


def test_private_addresses_have_no_place_and_never_make_a_country_new(
    client: TestClient, app: Any, mailbox: Mailbox
) -> None:
    new_user(app, "ana@example.com")
    sign_in(client, "ana@example.com", ip="10.0.0.5")
    office = sign_in(client, "ana@example.com", ip="192.168.1.20")
    sign_in(client, "ana@example.com", ip=LONDON)  # the first placed sign-in: no country to compare it with yet

    places = [s["place"] for s in client.get("/api/v1/auth/sessions", headers=office["headers"]).json()["items"]]
    assert sorted(places, key=str) == sorted(
        [None, None, {"country": "GB", "country_name": "United Kingdom", "city": None}], key=str
    )
    assert alerts_to(app, mailbox, "ana@example.com") == []


def test_the_place_is_the_trusted_proxys_word_not_the_clients(client: TestClient, app: Any, mailbox: Mailbox) -> None:
    new_user(app, "ana@example.com")
    sign_in(client, "ana@example.com", ip=LONDON)
    # The client claims to be in London; the proxy (the last entry) saw São Paulo.
    disguised = sign_in(client, "ana@example.com", ip=f"{LONDON}, {SAO_PAULO}")

    current = [s for s in client.get("/api/v1/auth/sessions", headers=disguised["headers"]).json()["items"]]
    assert {s["ip"] for s in current} == {LONDON, SAO_PAULO}
    assert "Brazil" in body_text(mailbox.wait_for("ana@example.com", ALERT))


def test_the_link_takes_only_its_own_kind_of_token(client: TestClient, app: Any, mailbox: Mailbox) -> None:
    new_user(app, "ana@example.com")
    at_home = sign_in(client, "ana@example.com", ip=LONDON)
    abroad = sign_in(client, "ana@example.com", ip=AMSTERDAM)
    match = LINK.search(body_text(mailbox.wait_for("ana@example.com", ALERT)))
    assert match
    link_token = match.group(1)

    for wrong in (at_home["access_token"], at_home["refresh_token"], link_token[:-2] + "xx", "not-a-token"):
        answer = client.post("/api/v1/auth/sessions/revoke-from-alert", json={"token": wrong})
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_token")
    # Nor is the link's token a way in.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {link_token}"}).status_code == 401
    assert refreshes(client, at_home) == 200 and refreshes(client, abroad) == 200


def test_admins_see_a_members_unrecognized_sign_in_in_their_workspaces_audit_log(
    client: TestClient, app: Any, people: People, mailbox: Mailbox
) -> None:
    owner = people.create()
    shared = client.post("/api/v1/workspaces", headers=owner.headers, json={"name": "Studio"}).json()["id"]
    member = people.add_to(owner, shared, "member")  # signed in once, from the test client
    stranger = people.create()

    sign_in(client, member.email, ip=AMSTERDAM)

    def unrecognized(workspace_id: str, headers: dict[str, str]) -> Any:
        return client.get(
            f"/api/v1/workspaces/{workspace_id}/audit-log",
            params={"action": "user.sign_in_unrecognized"},
            headers=headers,
        )

    [event] = unrecognized(shared, owner.headers).json()["items"]
    assert event["actor_user_id"] == member.id
    assert event["summary"] == {
        "reasons": ["new_device"],  # the test client's own sign-in had no place, so no country to compare with
        "country": "NL",
        "city": None,
        "device": "Firefox on Linux",
    }
    assert event["ip"] == ""  # the address stays in the member's own security log
    assert len(unrecognized(member.workspace_id, member.headers).json()["items"]) == 1
    assert unrecognized(owner.workspace_id, owner.headers).json()["items"] == []
    assert unrecognized(stranger.workspace_id, stranger.headers).json()["items"] == []
    assert unrecognized(shared, member.headers).status_code == 403  # members are not admins


def test_devices_are_named_by_browser_and_system_without_versions() -> None:
    assert describe_device(FIREFOX_LINUX) == describe_device(FIREFOX_LINUX_NEWER) == "Firefox on Linux"
    assert describe_device(CHROME_WINDOWS) == "Chrome on Windows"
    edge = CHROME_WINDOWS + " Edg/131.0.0.0"
    assert describe_device(edge) == "Edge on Windows"
    safari = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Mobile/15E148 Safari/604.1"
    )
    assert describe_device(safari) == "Safari on iOS"
    assert describe_device("curl/8.5.0") == "curl"
    assert describe_device("python-httpx/0.28.1") == "python-httpx"
    assert describe_device("") == "unknown"


def test_the_alert_is_security_mail_that_no_preference_turns_off(
    client: TestClient, app: Any, mailbox: Mailbox
) -> None:
    new_user(app, "ana@example.com")
    at_home = sign_in(client, "ana@example.com", ip=LONDON)
    optional_off = {"billing": False, "jobs": False, "product_news": False}
    assert (
        client.patch("/api/v1/me/email-preferences", headers=at_home["headers"], json=optional_off).status_code == 200
    )

    sign_in(client, "ana@example.com", ip=AMSTERDAM)

    mail = mailbox.wait_for("ana@example.com", ALERT)
    assert mail["List-Unsubscribe"] is None  # security mail carries no way to unsubscribe from it


def test_failed_sign_ins_are_placed_and_a_refresh_from_elsewhere_moves_the_session(
    client: TestClient, app: Any
) -> None:
    new_user(app, "ana@example.com")
    wrong = client.post(
        "/api/v1/auth/login",
        json={"email": "ana@example.com", "password": "not the password at all"},
        headers={"X-Forwarded-For": SAO_PAULO},
    )
    assert wrong.status_code == 401
    at_home = sign_in(client, "ana@example.com", ip=LONDON)
    [failed] = client.get("/api/v1/me/security-events", headers=at_home["headers"]).json()["items"]
    assert (failed["kind"], failed["ip"], failed["place"]["country_name"]) == ("login.failed", SAO_PAULO, "Brazil")

    moved = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": at_home["refresh_token"]}, headers={"X-Forwarded-For": AMSTERDAM}
    )
    assert moved.status_code == 200
    headers = {"Authorization": f"Bearer {moved.json()['access_token']}"}
    [session] = client.get("/api/v1/auth/sessions", headers=headers).json()["items"]
    assert (session["ip"], session["place"]["country"]) == (AMSTERDAM, "NL")


def test_a_configured_database_file_is_the_one_used(settings: Settings) -> None:
    """`VOXHUB_GEOIP_DATABASE` names the file: here geoip2fast's IPv4-only country file, which places no IPv6."""
    from pathlib import Path

    import geoip2fast

    from voxhub import geo
    from voxhub.context import AppContext

    ipv4_only = Path(geoip2fast.__file__).parent / "geoip2fast.dat.gz"
    context = AppContext.from_settings(settings.model_copy(update={"geoip_database": ipv4_only}))
    try:
        assert (getattr(geo.locate(LONDON), "country", None), geo.locate(GOOGLE_V6)) == ("GB", None)
    finally:
        context.close()
        geo.configure_geoip(database=None)
    assert getattr(geo.locate(GOOGLE_V6), "country", None) == "US"
