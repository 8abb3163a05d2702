"""Tags on files, jobs, podcasts and dubs, and custom fields on files and jobs: the workspace's vocabulary, attaching,
validation in the one error shape, the `tag=` and `field.<key>=` list filters, audit, and the wall between
workspaces."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import People, Person
from voxhub.dubbing.models import Dub
from voxhub.files.models import File
from voxhub.jobs.models import Job, JobEvent
from voxhub.podcasts.models import Podcast

WORKSPACES = "/api/v1/workspaces"
NOTES = "Notes for an episode that only carries tags in these tests. " * 4


def base(person: Person) -> str:
    return f"{WORKSPACES}/{person.workspace_id}"


def make_items(app: Any, workspace_id: str, kind: str, count: int) -> list[str]:
    """`count` rows of one labelled kind, written straight to the database (no pipeline needs to run for a label)."""
    with app.state.db.session() as session:
        rows: list[Any] = []
        for number in range(count):
            if kind == "files":
                rows.append(
                    File(
                        workspace_id=workspace_id,
                        filename=f"take-{number}.wav",
                        storage_key=f"k{number}",
                        status="ready",
                    )
                )
            elif kind == "jobs":
                rows.append(Job(workspace_id=workspace_id, type="media.convert", queue="media", status="succeeded"))
            elif kind == "podcasts":
                rows.append(
                    Podcast(
                        workspace_id=workspace_id, title=f"Episode {number}", notes=NOTES, options={}, status="failed"
                    )
                )
            else:
                rows.append(
                    Dub(
                        workspace_id=workspace_id,
                        title=f"Dub {number}",
                        options={"target_languages": ["pt"]},
                        status="failed",
                        outputs={},
                    )
                )
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def named_fields(response: Any) -> list[str]:
    return [item["field"] for item in error(response, 422)["details"]["fields"]]


def listed(client: TestClient, owner: Person, kind: str, query: str) -> list[str]:
    response = client.get(f"{base(owner)}/{kind}?{query}", headers=owner.headers)
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


def test_the_vocabulary_is_unique_per_workspace_whatever_the_case_and_bounded(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    created = client.post(
        f"{base(owner)}/tags", headers=owner.headers, json={"name": " Interview ", "color": "#FFAA00"}
    )
    again = client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": "INTERVIEW"})
    too_long = client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": "x" * 41})
    bad_color = client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": "ok", "color": "orange"})

    assert created.status_code == 201, created.text
    assert (created.json()["name"], created.json()["color"], created.json()["items"]) == ("Interview", "#ffaa00", 0)
    assert error(again, 409)["code"] == "tag_exists"
    assert error(again, 409)["details"] == {"tag_id": created.json()["id"]}
    assert named_fields(too_long) == ["body.name"]
    assert named_fields(bad_color) == ["body.color"]
    # Another workspace may use the same name.
    other = people.create()
    assert client.post(f"{base(other)}/tags", headers=other.headers, json={"name": "interview"}).status_code == 201
    names = client.get(f"{base(owner)}/tags", headers=owner.headers).json()
    assert ([tag["name"] for tag in names["items"]], names["next_cursor"]) == (["Interview"], None)


@pytest.mark.parametrize("kind", ["files", "jobs", "podcasts", "dubs"])
def test_a_list_filtered_by_several_tags_holds_the_items_that_carry_all_of_them(
    client: TestClient, people: People, app: Any, kind: str
) -> None:
    owner = people.create()
    for name in ("Ana", "Draft", "Q3"):
        assert client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": name}).status_code == 201
    both, only_ana, neither = make_items(app, owner.workspace_id, kind, 3)
    tagged = client.put(f"{base(owner)}/{kind}/{both}/tags", headers=owner.headers, json={"tags": ["draft", "ANA"]})
    client.put(f"{base(owner)}/{kind}/{only_ana}/tags", headers=owner.headers, json={"tags": ["Ana"]})

    assert tagged.status_code == 200, tagged.text
    assert tagged.json() == {"tags": ["Ana", "Draft"]}
    assert listed(client, owner, kind, "") == sorted([both, only_ana, neither])
    assert listed(client, owner, kind, "tag=ana") == sorted([both, only_ana])
    assert listed(client, owner, kind, "tag=Ana&tag=draft") == [both]
    assert listed(client, owner, kind, "tag=Ana&tag=Q3") == []
    assert listed(client, owner, kind, "tag=never-made") == []
    one = client.get(f"{base(owner)}/{kind}/{both}", headers=owner.headers).json()
    assert one["tags"] == ["Ana", "Draft"]
    page = client.get(f"{base(owner)}/{kind}?tag=ana", headers=owner.headers).json()["items"]
    assert {item["id"]: item["tags"] for item in page} == {both: ["Ana", "Draft"], only_ana: ["Ana"]}

    # Setting the tags replaces them; an unknown name is refused by name and changes nothing.
    unknown = client.put(f"{base(owner)}/{kind}/{both}/tags", headers=owner.headers, json={"tags": ["Q3", "Nope"]})
    assert error(unknown, 422)["code"] == "unknown_tag"
    assert named_fields(unknown) == ["tags.Nope"]
    cleared = client.put(f"{base(owner)}/{kind}/{both}/tags", headers=owner.headers, json={"tags": ["q3"]})
    assert cleared.json() == {"tags": ["Q3"]}
    assert listed(client, owner, kind, "tag=draft") == []


def test_renaming_a_tag_renames_it_on_every_item_and_deleting_it_takes_it_off(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    member = people.add_to(owner, owner.workspace_id, "member")
    tag = client.post(f"{base(owner)}/tags", headers=member.headers, json={"name": "raw"}).json()
    (file_id,) = make_items(app, owner.workspace_id, "files", 1)
    (job_id,) = make_items(app, owner.workspace_id, "jobs", 1)
    assert client.put(f"{base(owner)}/files/{file_id}/tags", headers=member.headers, json={"tags": ["raw"]}).is_success
    assert client.put(f"{base(owner)}/jobs/{job_id}/tags", headers=member.headers, json={"tags": ["raw"]}).is_success

    member_rename = client.patch(f"{base(owner)}/tags/{tag['id']}", headers=member.headers, json={"name": "Edited"})
    renamed = client.patch(f"{base(owner)}/tags/{tag['id']}", headers=owner.headers, json={"name": "Edited"})

    assert error(member_rename, 403)["code"] == "insufficient_role"
    assert renamed.status_code == 200, renamed.text
    assert client.get(f"{base(owner)}/files/{file_id}", headers=owner.headers).json()["tags"] == ["Edited"]
    assert client.get(f"{base(owner)}/jobs/{job_id}", headers=owner.headers).json()["tags"] == ["Edited"]
    assert listed(client, owner, "files", "tag=edited") == [file_id]
    assert client.get(f"{base(owner)}/tags", headers=owner.headers).json()["items"][0]["items"] == 2

    assert client.delete(f"{base(owner)}/tags/{tag['id']}", headers=owner.headers).status_code == 204
    assert client.get(f"{base(owner)}/files/{file_id}", headers=owner.headers).json()["tags"] == []
    assert client.get(f"{base(owner)}/tags", headers=owner.headers).json()["items"] == []
    log = client.get(f"{base(owner)}/audit-log", headers=owner.headers).json()["items"]
    actions = {row["action"] for row in log}
    assert {"tag.created", "tag.updated", "tag.deleted", "file.tags_changed", "job.tags_changed"} <= actions
    changed = next(row for row in log if row["action"] == "file.tags_changed")
    assert (changed["target_id"], changed["summary"]) == (file_id, {"added": ["raw"], "removed": []})


def test_another_workspaces_tags_fields_and_items_are_not_found(client: TestClient, people: People, app: Any) -> None:
    owner, stranger = people.create(), people.create()
    tag = client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": "secret"}).json()
    field = client.post(
        f"{base(owner)}/custom-fields", headers=owner.headers, json={"key": "client", "name": "Client", "type": "text"}
    ).json()
    (file_id,) = make_items(app, owner.workspace_id, "files", 1)
    (job_id,) = make_items(app, owner.workspace_id, "jobs", 1)
    (podcast_id,) = make_items(app, owner.workspace_id, "podcasts", 1)
    (dub_id,) = make_items(app, owner.workspace_id, "dubs", 1)
    client.put(f"{base(owner)}/files/{file_id}/tags", headers=owner.headers, json={"tags": ["secret"]})
    client.patch(
        f"{base(owner)}/files/{file_id}/custom-fields", headers=owner.headers, json={"values": {"client": "Acme"}}
    )
    mine = base(stranger)
    client.post(f"{mine}/tags", headers=stranger.headers, json={"name": "secret"})
    client.post(f"{mine}/custom-fields", headers=stranger.headers, json={"key": "client", "name": "C", "type": "text"})

    answers = {
        "tag patch": client.patch(f"{mine}/tags/{tag['id']}", headers=stranger.headers, json={"name": "mine"}),
        "tag delete": client.delete(f"{mine}/tags/{tag['id']}", headers=stranger.headers),
        "field patch": client.patch(
            f"{mine}/custom-fields/{field['id']}", headers=stranger.headers, json={"name": "x"}
        ),
        "field delete": client.delete(f"{mine}/custom-fields/{field['id']}", headers=stranger.headers),
        "file tags": client.put(f"{mine}/files/{file_id}/tags", headers=stranger.headers, json={"tags": ["secret"]}),
        "job tags": client.put(f"{mine}/jobs/{job_id}/tags", headers=stranger.headers, json={"tags": []}),
        "podcast tags": client.put(f"{mine}/podcasts/{podcast_id}/tags", headers=stranger.headers, json={"tags": []}),
        "dub tags": client.put(f"{mine}/dubs/{dub_id}/tags", headers=stranger.headers, json={"tags": []}),
        "file fields": client.patch(
            f"{mine}/files/{file_id}/custom-fields", headers=stranger.headers, json={"values": {"client": "x"}}
        ),
        "job fields": client.patch(
            f"{mine}/jobs/{job_id}/custom-fields", headers=stranger.headers, json={"values": {}}
        ),
    }

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 404)
    assert {answer.json()["error"]["code"] for answer in answers.values()} == {
        "tag_not_found",
        "custom_field_not_found",
        "file_not_found",
        "job_not_found",
        "podcast_not_found",
        "dub_not_found",
    }
    # The same names in the stranger's workspace find none of the owner's items, and the owner's labels are intact.
    assert listed(client, stranger, "files", "tag=secret") == []
    assert listed(client, stranger, "files", "field.client=Acme") == []
    file = client.get(f"{base(owner)}/files/{file_id}", headers=owner.headers).json()
    assert (file["tags"], file["custom_fields"]) == (["secret"], {"client": "Acme"})


def define(client: TestClient, owner: Person, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{base(owner)}/custom-fields", headers=owner.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_custom_field_values_are_checked_against_their_field_and_named_when_wrong(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    define(client, owner, {"key": "client", "name": "Client", "type": "text", "required": True})
    define(client, owner, {"key": "budget", "name": "Budget", "type": "number"})
    define(client, owner, {"key": "due", "name": "Due", "type": "date"})
    stage = define(client, owner, {"key": "stage", "name": "Stage", "type": "select", "options": ["draft", "final"]})
    (file_id,) = make_items(app, owner.workspace_id, "files", 1)
    url = f"{base(owner)}/files/{file_id}/custom-fields"

    wrong = client.patch(
        url,
        headers=owner.headers,
        json={"values": {"budget": "a lot", "due": "next week", "stage": "shipped", "nope": "x", "client": "Acme"}},
    )
    good = client.patch(
        url, headers=owner.headers, json={"values": {"client": "Acme", "budget": 1200, "due": "2026-12-31"}}
    )

    assert error(wrong, 422)["code"] == "invalid_field_value"
    assert sorted(named_fields(wrong)) == ["values.budget", "values.due", "values.nope", "values.stage"]
    assert good.status_code == 200, good.text
    assert good.json() == {"custom_fields": {"client": "Acme", "budget": 1200.0, "due": "2026-12-31"}}
    # Nothing of the wrong request was kept; the file's JSON shows the values.
    assert client.get(f"{base(owner)}/files/{file_id}", headers=owner.headers).json()["custom_fields"] == {
        "client": "Acme",
        "budget": 1200.0,
        "due": "2026-12-31",
    }
    # A required field can change but not go; null removes an optional one.
    required = client.patch(url, headers=owner.headers, json={"values": {"client": None}})
    assert (error(required, 422)["code"], named_fields(required)) == ("invalid_field_value", ["values.client"])
    removed = client.patch(url, headers=owner.headers, json={"values": {"budget": None, "stage": "final"}})
    assert removed.json()["custom_fields"] == {"client": "Acme", "due": "2026-12-31", "stage": "final"}
    # Definitions are checked too: a select needs options, other types take none; keys are unique.
    no_options = client.post(
        f"{base(owner)}/custom-fields", headers=owner.headers, json={"key": "tier", "name": "Tier", "type": "select"}
    )
    stray = client.post(
        f"{base(owner)}/custom-fields",
        headers=owner.headers,
        json={"key": "n", "name": "N", "type": "number", "options": ["1"]},
    )
    bad_key = client.post(
        f"{base(owner)}/custom-fields", headers=owner.headers, json={"key": "Bad Key", "name": "B", "type": "text"}
    )
    taken = client.post(
        f"{base(owner)}/custom-fields", headers=owner.headers, json={"key": "due", "name": "Due", "type": "text"}
    )
    assert (named_fields(no_options), named_fields(stray), named_fields(bad_key)) == (
        ["options"],
        ["options"],
        ["body.key"],
    )
    assert error(taken, 409)["code"] == "custom_field_exists"
    # An option still held cannot be dropped; one no item holds can.
    in_use = client.patch(
        f"{base(owner)}/custom-fields/{stage['id']}", headers=owner.headers, json={"options": ["draft"]}
    )
    assert (error(in_use, 409)["code"], error(in_use, 409)["details"]) == ("option_in_use", {"options": ["final"]})
    narrowed = client.patch(
        f"{base(owner)}/custom-fields/{stage['id']}", headers=owner.headers, json={"options": ["final"]}
    )
    assert narrowed.json()["options"] == ["final"]
    audit = client.get(f"{base(owner)}/audit-log?action=file.", headers=owner.headers).json()["items"]
    assert [row["action"] for row in audit] == ["file.fields_changed", "file.fields_changed"]


def test_lists_of_files_and_jobs_filter_by_custom_fields_with_equality_and_ranges(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    define(client, owner, {"key": "client", "name": "Client", "type": "text"})
    define(client, owner, {"key": "budget", "name": "Budget", "type": "number"})
    define(client, owner, {"key": "due", "name": "Due", "type": "date"})
    client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": "urgent"})
    for kind in ("files", "jobs"):
        cheap, dear, unset = make_items(app, owner.workspace_id, kind, 3)
        values = {
            cheap: {"client": "Acme", "budget": 100, "due": "2026-01-15"},
            dear: {"client": "Acme", "budget": 5000.5, "due": "2026-06-01"},
        }
        for item_id, item_values in values.items():
            answer = client.patch(
                f"{base(owner)}/{kind}/{item_id}/custom-fields", headers=owner.headers, json={"values": item_values}
            )
            assert answer.status_code == 200, answer.text
        client.put(f"{base(owner)}/{kind}/{dear}/tags", headers=owner.headers, json={"tags": ["urgent"]})

        assert listed(client, owner, kind, "field.client=Acme") == sorted([cheap, dear])
        assert listed(client, owner, kind, "field.budget=100") == [cheap]
        assert listed(client, owner, kind, "field.budget.min=100.5") == [dear]
        assert listed(client, owner, kind, "field.budget.min=100&field.budget.max=5000.5") == sorted([cheap, dear])
        assert listed(client, owner, kind, "field.due.max=2026-03-01") == [cheap]
        assert listed(client, owner, kind, "field.due=2026-06-01&tag=urgent") == [dear]
        assert listed(client, owner, kind, "field.client=Acme&tag=urgent&field.due.max=2026-03-01") == []
        assert unset not in listed(client, owner, kind, "field.client=Acme")

    for query, parameter in (
        ("field.budget=lots", "field.budget"),
        ("field.due.min=someday", "field.due.min"),
        ("field.client.min=A", "field.client.min"),
        ("field.nosuch=1", "field.nosuch"),
        ("field.Bad-Key=1", "field.Bad-Key"),
    ):
        answer = client.get(f"{base(owner)}/files?{query}", headers=owner.headers)
        assert named_fields(answer) == [parameter], query


def test_a_jobs_final_event_and_webhook_body_carry_its_tags_and_fields(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": "urgent"})
    define(client, owner, {"key": "client", "name": "Client", "type": "text"})
    with app.state.db.session() as session:
        job = Job(workspace_id=owner.workspace_id, type="media.convert", queue="media", status="queued")
        session.add(job)
        session.flush()
        job_id = job.id
    client.put(f"{base(owner)}/jobs/{job_id}/tags", headers=owner.headers, json={"tags": ["urgent"]})
    client.patch(
        f"{base(owner)}/jobs/{job_id}/custom-fields", headers=owner.headers, json={"values": {"client": "Acme"}}
    )

    canceled = client.post(f"{base(owner)}/jobs/{job_id}/cancel", headers=owner.headers)

    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["status"], canceled.json()["tags"]) == ("canceled", ["urgent"])
    with app.state.db.session() as session:
        final = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.kind == "state")).all()
    assert [(event.data["job"]["tags"], event.data["job"]["custom_fields"]) for event in final] == [
        (["urgent"], {"client": "Acme"})
    ]


def test_a_deleted_item_takes_its_tags_and_values_with_it(client: TestClient, people: People, app: Any) -> None:
    owner = people.create()
    client.post(f"{base(owner)}/tags", headers=owner.headers, json={"name": "gone-soon"})
    stage = define(client, owner, {"key": "stage", "name": "Stage", "type": "select", "options": ["draft", "final"]})
    items = {kind: make_items(app, owner.workspace_id, kind, 1)[0] for kind in ("files", "jobs", "podcasts", "dubs")}
    for kind, item_id in items.items():
        tagged = client.put(f"{base(owner)}/{kind}/{item_id}/tags", headers=owner.headers, json={"tags": ["gone-soon"]})
        assert tagged.status_code == 200, tagged.text
    valued = client.patch(
        f"{base(owner)}/jobs/{items['jobs']}/custom-fields", headers=owner.headers, json={"values": {"stage": "draft"}}
    )
    assert valued.status_code == 200, valued.text
    assert client.get(f"{base(owner)}/tags", headers=owner.headers).json()["items"][0]["items"] == 4

    for kind, item_id in items.items():
        assert client.delete(f"{base(owner)}/{kind}/{item_id}", headers=owner.headers).status_code == 204, kind

    # counted no more, and an option only a deleted job held can go
    assert client.get(f"{base(owner)}/tags", headers=owner.headers).json()["items"][0]["items"] == 0
    dropped = client.patch(
        f"{base(owner)}/custom-fields/{stage['id']}", headers=owner.headers, json={"options": ["final"]}
    )
    assert dropped.status_code == 200, dropped.text
