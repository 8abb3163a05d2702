"""Who may call which workspace route: every route under /api/v1/workspaces/{workspace_id}, called by a stranger,
by each role and by API keys of each scope, against the documented allow/deny table below.

A new workspace route fails `test_the_table_covers_every_workspace_route` until it has a row here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People, Person

PREFIX = "/api/v1/workspaces/{workspace_id}"

ROLES = ("viewer", "member", "admin", "owner")
SCOPES = ("read", "write", "admin")
NO_KEY = "no key"  # owner-only: no API key scope reaches it
USERS_ONLY = "users only"  # a person's own act (leaving); a key is told to use a user token

# The access check said no: these answers, and only these, mean "denied".
DENIED_CODES = {"insufficient_role", "insufficient_scope", "user_token_required", "workspace_not_found"}


# ---- request bodies and headers, fresh for each call ----


def unique_email() -> dict[str, Any]:
    return {"email": f"invitee-{uuid.uuid4().hex[:10]}@example.com", "role": "viewer"}


RENAME = {"name": "Renamed by the permission test"}


def unique_tag() -> dict[str, Any]:
    return {"name": f"tag-{uuid.uuid4().hex[:10]}"}


def unique_field() -> dict[str, Any]:
    return {"key": f"f_{uuid.uuid4().hex[:10]}", "name": "Permission test", "type": "text"}


NO_TAGS = {"tags": []}
NO_VALUES = {"values": {}}
ROLE = {"role": "viewer"}
API_KEY = {"name": "permission test", "scopes": ["read"]}
PROVIDER_KEY = {"api_key": "sk-permission-test-0000"}
FILE_RENAME = {"filename": "renamed.wav"}
MULTIPART = {"filename": "talk.wav", "size": 1024, "content_type": "audio/wav"}
TUS = {"Tus-Resumable": "1.0.0"}
TUS_CREATE = {**TUS, "Upload-Length": "16", "Upload-Metadata": "filename dGFsay53YXY="}
TUS_PATCH = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
UNKNOWN_JOB = {"type": "no.such.job", "input": {}}
LOOPBACK_WEBHOOK = {"url": "http://127.0.0.1:9/hook", "events": ["job.succeeded"]}
WEBHOOK_PATCH = {"description": "changed by the permission test"}
UNKNOWN_PACKAGE = {"provider": "manual", "package": "no-such-package"}
TOO_FEW_NOTES = {"notes": "Too short to talk about."}
EPISODE_RENAME = {"title": "Renamed by the permission test"}
DUB_UNKNOWN_FILE = {"file_id": "01900000-0000-7000-8000-0000000000ad", "target_languages": ["pt"]}
DUB_EDIT = {"segments": [{"index": 0, "text": "Hello."}]}
CLONE_UNKNOWN_FILE = {
    "name": "Permission test",
    "file_id": "01900000-0000-7000-8000-0000000000ad",
    "consent": True,
    "consented_by": "Ana Lima",
}
UNKNOWN_SHARE_TARGET = {"target_type": "podcast", "target_id": "01900000-0000-7000-8000-0000000000ab"}
ONE_LINE_SCRIPT = {"segments": [{"title": "Hello", "lines": [{"speaker": "Alex", "text": "Hello."}]}]}

# Podcast apps fetch the feed with its token in the URL, the only credential they can carry: no role or key is asked
# for, and a wrong token is a 404 (tests/podcasts/test_feed.py, and the test at the end of this file).
TOKEN_ROUTES = {
    ("GET", PREFIX + "/podcasts/feed.xml"),
    ("GET", PREFIX + "/podcasts/{podcast_id}/feed/{name}"),
}


@dataclass(frozen=True)
class Rule:
    """One route, the least role and key scope it admits, and what an admitted caller gets back.

    Sub-resource ids in the path are made up, so an admitted caller often gets that resource's own 404
    (`member_not_found`, …), which is told apart from the `workspace_not_found` every stranger gets.
    """

    method: str
    path: str
    role: str
    scope: str
    ok: tuple[str, ...]
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    real: str | None = None  # a sub-resource to create first, where a made-up id would hide the answer

    @property
    def route(self) -> tuple[str, str]:
        return self.method, PREFIX + self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path or '/'}"


def ok(*answers: str) -> tuple[str, ...]:
    return answers


TABLE: list[Rule] = [
    # method   path under /workspaces/{id}                   least role least scope  an admitted caller gets
    # -- the workspace itself
    Rule("GET", "", "viewer", "read", ok("200")),
    Rule("PATCH", "", "admin", "admin", ok("200"), json=RENAME),
    Rule("DELETE", "", "owner", NO_KEY, ok("204")),
    # -- members
    Rule("GET", "/members", "viewer", "read", ok("200")),
    Rule("PATCH", "/members/{user_id}", "admin", "admin", ok("404 member_not_found"), json=ROLE),
    Rule("DELETE", "/members/{user_id}", "admin", "admin", ok("404 member_not_found")),
    Rule("POST", "/leave", "viewer", USERS_ONLY, ok("204", "409 last_owner")),
    # -- invitations
    Rule("POST", "/invitations", "admin", "admin", ok("201"), json=unique_email),
    Rule("GET", "/invitations", "admin", "admin", ok("200")),
    Rule("DELETE", "/invitations/{invitation_id}", "admin", "admin", ok("404 invitation_not_found")),
    Rule("POST", "/invitations/{invitation_id}/resend", "admin", "admin", ok("404 invitation_not_found")),
    # -- API keys and the provider-key vault
    Rule("POST", "/api-keys", "admin", "admin", ok("201"), json=API_KEY),
    Rule("GET", "/api-keys", "admin", "admin", ok("200")),
    Rule("DELETE", "/api-keys/{api_key_id}", "admin", "admin", ok("404 api_key_not_found")),
    Rule("GET", "/provider-keys", "admin", "admin", ok("200")),
    Rule("PUT", "/provider-keys/{provider}", "admin", "admin", ok("200"), json=PROVIDER_KEY),
    Rule("GET", "/provider-keys/{provider}", "admin", "admin", ok("404 provider_key_not_found")),
    Rule("DELETE", "/provider-keys/{provider}", "admin", "admin", ok("404 provider_key_not_found")),
    # -- audit
    Rule("GET", "/audit-log", "admin", "admin", ok("200")),
    Rule("GET", "/activity", "viewer", "read", ok("200")),  # each sees only what it may read (tests/activity/)
    # -- the email log: admins read their workspace's mail
    Rule("GET", "/email-log", "admin", "admin", ok("200")),
    # -- files: viewers read, members upload
    Rule("GET", "/files", "viewer", "read", ok("200")),
    Rule("GET", "/files/{file_id}", "viewer", "read", ok("404 file_not_found")),
    Rule("GET", "/files/{file_id}/download", "viewer", "read", ok("404 file_not_found")),
    Rule("GET", "/files/{file_id}/link", "viewer", "read", ok("404 file_not_found")),
    Rule("POST", "/files", "member", "write", ok("400 file_missing")),
    Rule("PATCH", "/files/{file_id}", "member", "write", ok("404 file_not_found"), json=FILE_RENAME),
    Rule("DELETE", "/files/{file_id}", "member", "write", ok("404 file_not_found")),
    Rule("POST", "/uploads/multipart", "member", "write", ok("201"), json=MULTIPART),
    Rule("GET", "/uploads/multipart/{upload_id}", "member", "write", ok("404 upload_not_found")),
    Rule("POST", "/uploads/multipart/{upload_id}/complete", "member", "write", ok("404 upload_not_found")),
    Rule("DELETE", "/uploads/multipart/{upload_id}", "member", "write", ok("404 upload_not_found")),
    Rule("OPTIONS", "/uploads/tus/", "member", "write", ok("204"), headers=TUS),
    Rule("OPTIONS", "/uploads/tus/{upload_id}", "member", "write", ok("204"), headers=TUS),
    Rule("POST", "/uploads/tus/", "member", "write", ok("201"), headers=TUS_CREATE),
    Rule("HEAD", "/uploads/tus/{upload_id}", "member", "write", ok("200"), headers=TUS, real="tus_upload"),
    Rule("PATCH", "/uploads/tus/{upload_id}", "member", "write", ok("404 upload_not_found"), headers=TUS_PATCH),
    Rule("DELETE", "/uploads/tus/{upload_id}", "member", "write", ok("404 upload_not_found"), headers=TUS),
    # -- jobs: viewers follow, members run
    Rule("GET", "/jobs", "viewer", "read", ok("200")),
    Rule("GET", "/jobs/{job_id}", "viewer", "read", ok("404 job_not_found")),
    Rule("GET", "/jobs/{job_id}/attempts", "viewer", "read", ok("404 job_not_found")),
    Rule("GET", "/jobs/{job_id}/events", "viewer", "read", ok("404 job_not_found")),
    Rule("POST", "/jobs/{job_id}/events/token", "viewer", "read", ok("404 job_not_found")),
    Rule("POST", "/jobs", "member", "write", ok("422 unknown_job_type"), json=UNKNOWN_JOB),
    Rule("POST", "/jobs/{job_id}/cancel", "member", "write", ok("404 job_not_found")),
    Rule("POST", "/jobs/{job_id}/retry", "member", "write", ok("404 job_not_found")),
    Rule("DELETE", "/jobs/{job_id}", "member", "write", ok("404 job_not_found")),
    # -- transcripts: viewers read and export, members correct
    Rule("GET", "/jobs/{job_id}/transcript", "viewer", "read", ok("404 job_not_found")),
    Rule("GET", "/jobs/{job_id}/transcript/versions", "viewer", "read", ok("404 job_not_found")),
    Rule("GET", "/jobs/{job_id}/transcript/languages", "viewer", "read", ok("404 job_not_found")),
    Rule(
        "PATCH",
        "/jobs/{job_id}/transcript",
        "member",
        "write",
        ok("404 job_not_found"),
        json={"speakers": {"S1": "Ana"}},
    ),
    # -- insights: viewers read
    Rule("GET", "/jobs/{job_id}/insights", "viewer", "read", ok("404 job_not_found")),
    # -- podcasts: viewers listen, members make, admins publish the feed
    Rule("POST", "/podcasts", "member", "write", ok("422 validation_error"), json=TOO_FEW_NOTES),
    Rule("POST", "/podcasts/estimate", "member", "write", ok("422 validation_error"), json=TOO_FEW_NOTES),
    Rule("GET", "/podcasts", "viewer", "read", ok("200")),
    Rule("GET", "/podcasts/voices", "viewer", "read", ok("200")),
    Rule("GET", "/podcasts/feed", "viewer", "read", ok("200")),
    Rule("POST", "/podcasts/feed", "admin", "admin", ok("200")),
    Rule("DELETE", "/podcasts/feed", "admin", "admin", ok("404 feed_not_found")),
    Rule("GET", "/podcasts/{podcast_id}", "viewer", "read", ok("404 podcast_not_found")),
    Rule("PATCH", "/podcasts/{podcast_id}", "member", "write", ok("404 podcast_not_found"), json=EPISODE_RENAME),
    Rule("DELETE", "/podcasts/{podcast_id}", "member", "write", ok("404 podcast_not_found")),
    Rule("GET", "/podcasts/{podcast_id}/status", "viewer", "read", ok("404 podcast_not_found")),
    Rule("POST", "/podcasts/{podcast_id}/retry", "member", "write", ok("404 podcast_not_found")),
    Rule("GET", "/podcasts/{podcast_id}/script", "viewer", "read", ok("404 podcast_not_found")),
    Rule("PUT", "/podcasts/{podcast_id}/script", "member", "write", ok("404 podcast_not_found"), json=ONE_LINE_SCRIPT),
    Rule("POST", "/podcasts/{podcast_id}/approve", "member", "write", ok("404 podcast_not_found")),
    Rule(
        "POST", "/podcasts/{podcast_id}/segments/{segment}/regenerate", "member", "write", ok("404 podcast_not_found")
    ),
    Rule("GET", "/podcasts/{podcast_id}/download", "viewer", "read", ok("404 podcast_not_found")),
    # -- dubs: viewers watch, members make and edit
    Rule("POST", "/dubs", "member", "write", ok("404 file_not_found"), json=DUB_UNKNOWN_FILE),
    Rule("GET", "/dubs", "viewer", "read", ok("200")),
    Rule("GET", "/dubs/voices", "viewer", "read", ok("200")),
    Rule("GET", "/dubs/{dub_id}", "viewer", "read", ok("404 dub_not_found")),
    Rule("PATCH", "/dubs/{dub_id}", "member", "write", ok("404 dub_not_found"), json=EPISODE_RENAME),
    Rule("DELETE", "/dubs/{dub_id}", "member", "write", ok("404 dub_not_found")),
    Rule("GET", "/dubs/{dub_id}/status", "viewer", "read", ok("404 dub_not_found")),
    Rule("POST", "/dubs/{dub_id}/retry", "member", "write", ok("404 dub_not_found")),
    Rule("GET", "/dubs/{dub_id}/segments", "viewer", "read", ok("404 dub_not_found")),
    Rule("PATCH", "/dubs/{dub_id}/segments", "member", "write", ok("404 dub_not_found"), json=DUB_EDIT),
    Rule("POST", "/dubs/{dub_id}/render", "member", "write", ok("404 dub_not_found")),
    Rule("GET", "/dubs/{dub_id}/qa", "viewer", "read", ok("404 dub_not_found")),
    Rule("GET", "/dubs/{dub_id}/download", "viewer", "read", ok("404 dub_not_found")),
    # -- cloned voices: viewers list them, members clone (consent stated) and delete
    Rule("GET", "/voices", "viewer", "read", ok("200")),
    Rule("POST", "/voices", "member", "write", ok("404 file_not_found"), json=CLONE_UNKNOWN_FILE),
    Rule("GET", "/voices/{voice_id}", "viewer", "read", ok("404 voice_not_found")),
    Rule("DELETE", "/voices/{voice_id}", "member", "write", ok("404 voice_not_found")),
    # -- search: viewers search (a query is required: without one, the viewer's 422 says so)
    Rule("GET", "/search", "viewer", "read", ok("422 validation_error")),
    Rule("GET", "/search/status", "viewer", "read", ok("200")),
    # -- conversations over the recordings: viewers read, members start them, spenders ask (a question is charged)
    Rule("POST", "/conversations", "member", "write", ok("201"), json={"title": "Launch questions"}),
    Rule("GET", "/conversations", "viewer", "read", ok("200")),
    Rule("GET", "/conversations/{conversation_id}", "viewer", "read", ok("404 conversation_not_found")),
    Rule(
        "PATCH",
        "/conversations/{conversation_id}",
        "member",
        "write",
        ok("404 conversation_not_found"),
        json={"title": "Renamed"},
    ),
    Rule("DELETE", "/conversations/{conversation_id}", "member", "write", ok("404 conversation_not_found")),
    Rule(
        "POST",
        "/conversations/{conversation_id}/messages",
        "member",
        "write",
        ok("404 conversation_not_found"),
        json={"content": "When is the launch?"},
    ),
    Rule("GET", "/conversations/{conversation_id}/suggestions", "viewer", "read", ok("404 conversation_not_found")),
    # -- tags and custom fields: viewers read, members add tags and label what they may edit, admins do the rest
    Rule("GET", "/tags", "viewer", "read", ok("200")),
    Rule("POST", "/tags", "member", "write", ok("201"), json=unique_tag),
    Rule("PATCH", "/tags/{tag_id}", "admin", "admin", ok("404 tag_not_found"), json=RENAME),
    Rule("DELETE", "/tags/{tag_id}", "admin", "admin", ok("404 tag_not_found")),
    Rule("GET", "/custom-fields", "viewer", "read", ok("200")),
    Rule("POST", "/custom-fields", "admin", "admin", ok("201"), json=unique_field),
    Rule("PATCH", "/custom-fields/{field_id}", "admin", "admin", ok("404 custom_field_not_found"), json=RENAME),
    Rule("DELETE", "/custom-fields/{field_id}", "admin", "admin", ok("404 custom_field_not_found")),
    Rule("PUT", "/files/{file_id}/tags", "member", "write", ok("404 file_not_found"), json=NO_TAGS),
    Rule("PUT", "/jobs/{job_id}/tags", "member", "write", ok("404 job_not_found"), json=NO_TAGS),
    Rule("PUT", "/podcasts/{podcast_id}/tags", "member", "write", ok("404 podcast_not_found"), json=NO_TAGS),
    Rule("PUT", "/dubs/{dub_id}/tags", "member", "write", ok("404 dub_not_found"), json=NO_TAGS),
    Rule("PATCH", "/files/{file_id}/custom-fields", "member", "write", ok("404 file_not_found"), json=NO_VALUES),
    Rule("PATCH", "/jobs/{job_id}/custom-fields", "member", "write", ok("404 job_not_found"), json=NO_VALUES),
    # -- share links: whoever may read an item may share it; its maker or an admin revokes it (tests/shares/)
    Rule("POST", "/shares", "viewer", "read", ok("404 share_target_not_found"), json=UNKNOWN_SHARE_TARGET),
    Rule("GET", "/shares", "viewer", "read", ok("200")),
    Rule("GET", "/shares/{share_id}", "viewer", "read", ok("404 share_not_found")),
    Rule("DELETE", "/shares/{share_id}", "viewer", "read", ok("404 share_not_found")),
    Rule("POST", "/shares/{share_id}/revoke", "viewer", "read", ok("404 share_not_found")),
    # -- outgoing webhooks: admins
    Rule("POST", "/webhooks", "admin", "admin", ok("422 webhook_url_not_allowed"), json=LOOPBACK_WEBHOOK),
    Rule("GET", "/webhooks", "admin", "admin", ok("200")),
    Rule("GET", "/webhooks/job-secret", "admin", "admin", ok("200")),
    Rule("GET", "/webhooks/{webhook_id}", "admin", "admin", ok("404 webhook_not_found")),
    Rule("PATCH", "/webhooks/{webhook_id}", "admin", "admin", ok("404 webhook_not_found"), json=WEBHOOK_PATCH),
    Rule("DELETE", "/webhooks/{webhook_id}", "admin", "admin", ok("404 webhook_not_found")),
    Rule("POST", "/webhooks/{webhook_id}/rotate-secret", "admin", "admin", ok("404 webhook_not_found")),
    Rule("GET", "/webhooks/{webhook_id}/deliveries", "admin", "admin", ok("404 webhook_not_found")),
    Rule(
        "POST",
        "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        "admin",
        "admin",
        ok("404 webhook_not_found"),
    ),
    # -- billing: members read, admins buy and cancel
    Rule("GET", "/billing", "member", "write", ok("200")),
    Rule("GET", "/billing/ledger", "member", "write", ok("200")),
    Rule("GET", "/billing/ledger/{entry_id}/receipt", "member", "write", ok("404 ledger_entry_not_found")),
    Rule("GET", "/billing/payments", "member", "write", ok("200")),
    Rule("GET", "/billing/payments/{payment_id}/receipt", "member", "write", ok("404 payment_not_found")),
    Rule("GET", "/billing/usage", "member", "write", ok("200")),
    Rule("POST", "/billing/checkout", "admin", "admin", ok("422 unknown_package"), json=UNKNOWN_PACKAGE),
    Rule("POST", "/billing/checkouts/{checkout_id}/confirm", "admin", "admin", ok("404 checkout_not_found")),
    Rule("POST", "/billing/subscription/cancel", "admin", "admin", ok("422 nothing_to_cancel")),
]

MADE_UP = {
    "user_id": "01900000-0000-7000-8000-0000000000a1",
    "invitation_id": "01900000-0000-7000-8000-0000000000a2",
    "api_key_id": "01900000-0000-7000-8000-0000000000a3",
    "file_id": "01900000-0000-7000-8000-0000000000a4",
    "upload_id": "01900000-0000-7000-8000-0000000000a5",
    "job_id": "01900000-0000-7000-8000-0000000000a6",
    "webhook_id": "01900000-0000-7000-8000-0000000000a7",
    "delivery_id": "01900000-0000-7000-8000-0000000000a8",
    "provider": "madeupprovider",
    "entry_id": "01900000-0000-7000-8000-0000000000a9",
    "payment_id": "01900000-0000-7000-8000-0000000000aa",
    "checkout_id": "01900000-0000-7000-8000-0000000000c1",
    "podcast_id": "01900000-0000-7000-8000-0000000000ab",
    "dub_id": "01900000-0000-7000-8000-0000000000ac",
    "conversation_id": "01900000-0000-7000-8000-0000000000ad",
    "share_id": "01900000-0000-7000-8000-0000000000ae",
    "voice_id": "01900000-0000-7000-8000-0000000000c5",
    "tag_id": "01900000-0000-7000-8000-0000000000b1",
    "field_id": "01900000-0000-7000-8000-0000000000b2",
    "segment": "0",
    "name": "episode.mp3",
}


# ---- the people and keys who call ----


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    role: str | None = None  # a person's role in the workspace
    scope: str | None = None  # an API key's scope on the workspace
    stranger: bool = False

    def expected(self, rule: Rule) -> tuple[str, ...]:
        if self.stranger:
            return ("404 workspace_not_found",)
        if self.role is not None:
            admitted = ROLES.index(self.role) >= ROLES.index(rule.role)
            return rule.ok if admitted else ("403 insufficient_role",)
        assert self.scope is not None
        if rule.scope == USERS_ONLY:
            return ("403 user_token_required",)
        admitted = rule.scope != NO_KEY and SCOPES.index(self.scope) >= SCOPES.index(rule.scope)
        return rule.ok if admitted else ("403 insufficient_scope",)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """A fresh workspace with one person of each role in it (joined through real invitation mail), an API key of
    each scope, and a stranger who belongs to another workspace."""

    client: TestClient
    workspace_id: str
    owner: Person
    stranger: Person
    callers: list[Caller]

    def create_real(self, what: str) -> dict[str, str]:
        if what == "tus_upload":
            created = self.client.post(
                f"/api/v1/workspaces/{self.workspace_id}/uploads/tus/", headers={**self.owner.headers, **TUS_CREATE}
            )
            assert created.status_code == 201, created.text
            return {"upload_id": created.headers["location"].rstrip("/").rsplit("/", 1)[1]}
        raise AssertionError(f"don't know how to create {what}")


def api_key(client: TestClient, person: Person, workspace_id: str, scope: str) -> str:
    response = client.post(
        f"/api/v1/workspaces/{workspace_id}/api-keys",
        headers=person.headers,
        json={"name": f"{scope} key", "scopes": [scope]},
    )
    assert response.status_code == 201, response.text
    return response.json()["secret"]  # type: ignore[no-any-return]


@pytest.fixture
def world(client: TestClient, people: People) -> World:
    owner = people.create()
    created = client.post("/api/v1/workspaces", headers=owner.headers, json={"name": "Permissions"})
    assert created.status_code == 201, created.text
    workspace_id = created.json()["id"]
    stranger = people.create()
    callers = [
        Caller("a member of another workspace", stranger.headers, stranger=True),
        Caller(
            "another workspace's admin key",
            bearer(api_key(client, stranger, stranger.workspace_id, "admin")),
            stranger=True,
        ),
        *(
            Caller(role, people.add_to(owner, workspace_id, role).headers, role=role)
            for role in ("viewer", "member", "admin")
        ),
        *(Caller(f"{scope} key", bearer(api_key(client, owner, workspace_id, scope)), scope=scope) for scope in SCOPES),
        Caller("owner", owner.headers, role="owner"),  # last: the owner may delete the workspace
    ]
    return World(client=client, workspace_id=workspace_id, owner=owner, stranger=stranger, callers=callers)


# ---- calling ----


def call(
    client: TestClient, rule: Rule, workspace_id: str, headers: dict[str, str], ids: dict[str, str] | None = None
) -> Any:
    path = (PREFIX + rule.path).format(workspace_id=workspace_id, **{**MADE_UP, **(ids or {})})
    body = rule.json() if callable(rule.json) else rule.json
    return client.request(rule.method, path, headers={**rule.headers, **headers}, json=body)


def answer(response: Any) -> str:
    """'404 member_not_found', or just '204' when the answer has no error body."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)
    return f"{response.status_code} {code}"


def matches(rule: Rule, got: str, expected: tuple[str, ...]) -> bool:
    if rule.method == "HEAD":  # a HEAD answer has no body to carry an error code
        return got.split()[0] in {e.split()[0] for e in expected}
    return got in expected or (got.split()[0] in expected)


def workspace_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route under /api/v1/workspaces/{workspace_id}, however FastAPI nests them."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes is already flat
        routes: Any = app.routes
    else:
        routes = iter_route_contexts(app.routes)
    found = set()
    for route in routes:
        path = getattr(route, "path", None) or ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            found |= {(method, path) for method in getattr(route, "methods", None) or ()}
    return found


# ---- the tests ----


def test_the_table_has_sane_rows() -> None:
    for rule in TABLE:
        assert rule.role in ROLES, rule
        assert rule.scope in (*SCOPES, NO_KEY, USERS_ONLY), rule
        for allowed in rule.ok:
            status, _, code = allowed.partition(" ")
            assert status not in ("401", "403") and code not in DENIED_CODES, f"{rule}: {allowed} means denied"
    assert len({rule.route for rule in TABLE}) == len(TABLE), "a route appears twice in the table"


def test_the_table_covers_every_workspace_route(app: Any) -> None:
    routes = workspace_routes(app)
    documented = {rule.route for rule in TABLE}
    assert routes, "no workspace routes found in app.routes"
    missing = sorted(routes - documented - TOKEN_ROUTES)
    stale = sorted(documented - routes)
    assert not missing, f"workspace routes without a row in TABLE (add who may call them): {missing}"
    assert not stale, f"rows in TABLE for routes that no longer exist: {stale}"


@pytest.mark.parametrize("rule", TABLE, ids=str)
def test_each_caller_gets_exactly_the_documented_answer(world: World, rule: Rule) -> None:
    ids = world.create_real(rule.real) if rule.real else {}
    mismatches = []
    for caller in world.callers:
        response = call(world.client, rule, world.workspace_id, caller.headers, ids)
        got, expected = answer(response), caller.expected(rule)
        if not matches(rule, got, expected):
            mismatches.append(f"  {caller.name:32} expected {' or '.join(expected):32} got {got}")
    assert not mismatches, f"{rule}:\n" + "\n".join(mismatches)


@pytest.mark.parametrize("rule", TABLE, ids=str)
def test_a_stranger_cannot_tell_a_workspace_exists(client: TestClient, people: People, rule: Rule) -> None:
    """A non-member gets the very answer a made-up workspace id gets, even with a body that would not validate."""
    owner, stranger = people.create(), people.create()
    for workspace_id in (owner.workspace_id, str(uuid.uuid4())):
        response = call(client, rule, workspace_id, stranger.headers)
        assert response.status_code == 404, (workspace_id, response.text)
        if rule.method != "HEAD":
            assert response.json()["error"]["code"] == "workspace_not_found"
    if rule.json is not None:
        path = (PREFIX + rule.path).format(workspace_id=owner.workspace_id, **MADE_UP)
        nonsense = client.request(rule.method, path, headers=stranger.headers, json={"nonsense": True})
        assert nonsense.status_code == 404, nonsense.text


@pytest.mark.parametrize("rule", TABLE, ids=str)
def test_every_workspace_route_needs_authentication(client: TestClient, people: People, rule: Rule) -> None:
    owner = people.create()
    for headers in ({}, bearer("not-a-token"), bearer("vx_0000000000000000_notakeynotakeynotakey")):
        response = call(client, rule, owner.workspace_id, headers)
        assert response.status_code == 401, (headers, response.text)


@pytest.mark.parametrize("route", sorted(TOKEN_ROUTES))
def test_a_feed_route_without_its_token_tells_nothing(
    client: TestClient, people: People, route: tuple[str, str]
) -> None:
    """No token, a wrong one, or a member's own sign-in instead: the same answer for a real and a made-up workspace."""
    owner = people.create()
    method, path = route
    for workspace_id in (owner.workspace_id, str(uuid.uuid4())):
        url = path.format(workspace_id=workspace_id, **MADE_UP)
        assert client.request(method, url, headers=owner.headers).status_code == 422  # the token is required
        for token in ("", "not-the-token", "x" * 200):
            wrong = client.request(method, url, params={"token": token}, headers=owner.headers)
            assert wrong.status_code == 404, wrong.text
            assert wrong.json()["error"]["code"] == "feed_not_found"
