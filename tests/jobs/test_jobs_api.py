"""Starting jobs over HTTP: idempotency keys, validation naming the offending field, who may start and see jobs,
and tenancy (another workspace's job does not exist for you, on every route)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import People
from tests.fixtures.workers import local_only, parked_only
from tests.jobs_helpers import convert_body, get_job, job_url, jobs_url, start, upload, wait_for_job
from voxhub.jobs.models import Job


def flat(pages: list[list[str]]) -> list[str]:
    return [item for page in pages for item in page]


@local_only
def test_concurrent_posts_with_one_idempotency_key_make_one_job_and_each_gets_its_answer(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    """Ten clients retrying at once: one job, one 202, and every other client the replayed job (never a 500)."""
    owner = people.create()
    body = convert_body(upload(client, owner, media["tone.wav"]), format="wav")
    keyed = {**owner.headers, "Idempotency-Key": "burst-1"}
    gate = threading.Barrier(10)

    def post(_: int) -> Any:
        gate.wait()
        return client.post(jobs_url(owner), headers=keyed, json=body)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(post, range(10)))

    assert sorted(answer.status_code for answer in answers) == [200] * 9 + [202], [a.text for a in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert len(listed_ids(client, owner)) == 1


def listed_ids(client: TestClient, person: Any) -> list[str]:
    answer = client.get(jobs_url(person), headers=person.headers)
    assert answer.status_code == 200, answer.text
    return [job["id"] for job in answer.json()["items"]]


@local_only
def test_the_same_idempotency_key_and_body_give_back_the_same_job(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner, other = people.create(), people.create()
    source = upload(client, owner, media["tone.wav"])
    body = convert_body(source, format="wav")
    keyed = {**owner.headers, "Idempotency-Key": "order-1234"}

    first = client.post(jobs_url(owner), headers=keyed, json=body)
    replay = client.post(jobs_url(owner), headers=keyed, json=body)
    changed = client.post(jobs_url(owner), headers=keyed, json=convert_body(source, format="flac"))
    unkeyed = [client.post(jobs_url(owner), headers=owner.headers, json=body) for _ in range(2)]
    elsewhere = client.post(
        jobs_url(other),
        headers={**other.headers, "Idempotency-Key": "order-1234"},
        json=convert_body(upload(client, other, media["tone.wav"]), format="wav"),
    )

    assert first.status_code == 202, first.text
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_conflict"
    assert changed.json()["error"]["details"]["job_id"] == first.json()["id"]
    assert [answer.status_code for answer in unkeyed] == [202, 202]
    assert len({first.json()["id"], *(answer.json()["id"] for answer in unkeyed)}) == 3
    assert elsewhere.status_code == 202  # keys belong to a workspace
    assert sorted(listed_ids(client, owner)) == sorted([first.json()["id"], *(a.json()["id"] for a in unkeyed)])
    assert wait_for_job(client, owner, first.json()["id"])["status"] == "succeeded"
    # Once the job ran, replaying the request still answers with it, as it is now.
    again = client.post(jobs_url(owner), headers=keyed, json=body)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "succeeded"


@local_only
def test_an_unknown_job_type_is_refused(client: TestClient, people: People, media: dict[str, Path]) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])

    answer = client.post(
        jobs_url(owner), headers=owner.headers, json={"type": "media.teleport", "input": {"file_id": source}}
    )

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "unknown_job_type"
    assert "media.convert" in error["message"]  # it says which types exist
    assert [f["field"] for f in error["details"]["fields"]] == ["type"]
    assert listed_ids(client, owner) == []


BAD_PARAMS: list[tuple[dict[str, Any], str]] = [
    ({"format": "xyz"}, "params.format"),
    ({"start_s": 3, "end_s": 2}, "params.end_s"),
    ({"start_s": 2, "end_s": 2}, "params.end_s"),
    ({"start_s": -1}, "params.start_s"),
    ({"sample_rate": 100}, "params.sample_rate"),
    ({"channels": 6}, "params.channels"),
    ({"target_lufs": 3}, "params.target_lufs"),
    ({"fromat": "wav"}, "params.fromat"),  # a misspelt option is an error, not silently the default
]


@local_only
def test_bad_params_are_refused_naming_the_offending_field(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])

    for params, field in BAD_PARAMS:
        answer = client.post(jobs_url(owner), headers=owner.headers, json=convert_body(source, **params))

        assert answer.status_code == 422, (params, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "validation_error", params
        assert field in [f["field"] for f in error["details"]["fields"]], (params, error)
    assert listed_ids(client, owner) == []


@local_only
def test_numbers_that_are_not_finite_are_refused_instead_of_stored_as_null(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])
    headers = {**owner.headers, "Content-Type": "application/json"}
    bodies = {  # what Python's JSON parser reads as NaN or infinity, though JSON has no such numbers
        f'{{"start_s": {number}}}': ("body.params", "start_s must be a finite number")
        for number in ("NaN", "Infinity", "-Infinity", "1e999")
    }
    bodies['{"end_s": 2, "extra": {"list": [1, NaN]}}'] = ("body.params", "extra.list.1 must be a finite number")

    for params, (field, message) in bodies.items():
        body = f'{{"type": "media.convert", "input": {{"file_id": "{source}"}}, "params": {params}}}'
        answer = client.post(jobs_url(owner), headers=headers, content=body)

        assert answer.status_code == 422, (params, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "validation_error", params
        assert error["details"]["fields"][0]["field"] == field, (params, error)
        assert message in error["message"], (params, error)
    assert listed_ids(client, owner) == []


@local_only
def test_metadata_is_bounded_in_labels_and_their_lengths(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])
    too_much = [
        {f"label{i}": "x" for i in range(33)},
        {"k" * 41: "x"},
        {"": "x"},
        {"note": "x" * 501},
    ]
    at_the_limits = {"k" * 40: "x" * 500, **{f"label{i}": "x" for i in range(31)}}

    refused = [
        client.post(jobs_url(owner), headers=owner.headers, json={**convert_body(source), "metadata": metadata})
        for metadata in too_much
    ]
    accepted = client.post(
        jobs_url(owner), headers=owner.headers, json={**convert_body(source), "metadata": at_the_limits}
    )

    for answer in refused:
        assert answer.status_code == 422, answer.text
        fields = [f["field"] for f in answer.json()["error"]["details"]["fields"]]
        assert all(field.startswith("body.metadata") for field in fields), fields
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["metadata"] == at_the_limits
    assert listed_ids(client, owner) == [accepted.json()["id"]]


@local_only
def test_an_input_without_a_file_is_refused_naming_the_field(client: TestClient, people: People) -> None:
    owner = people.create()

    answer = client.post(jobs_url(owner), headers=owner.headers, json={"type": "media.convert", "input": {}})

    assert answer.status_code == 422
    assert "input.file_id" in [f["field"] for f in answer.json()["error"]["details"]["fields"]]


@local_only
def test_a_missing_or_foreign_input_file_is_not_found(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner, other = people.create(), people.create()
    foreign = upload(client, other, media["tone.wav"])

    missing = client.post(jobs_url(owner), headers=owner.headers, json=convert_body(str(uuid.uuid4())))
    theirs = client.post(jobs_url(owner), headers=owner.headers, json=convert_body(foreign))

    for answer in (missing, theirs):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "file_not_found"
    assert listed_ids(client, owner) == []


@parked_only
def test_a_viewer_can_follow_jobs_but_not_start_or_change_them(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    source = upload(client, owner, media["tone.wav"])
    job = start(client, owner, source)
    url = job_url(owner, job["id"])

    assert client.get(url, headers=viewer.headers).status_code == 200
    assert client.get(f"{url}/attempts", headers=viewer.headers).status_code == 200
    assert [j["id"] for j in client.get(jobs_url(owner), headers=viewer.headers).json()["items"]] == [job["id"]]
    refused = {
        "start": client.post(jobs_url(owner), headers=viewer.headers, json=convert_body(source)),
        "cancel": client.post(f"{url}/cancel", headers=viewer.headers),
        "retry": client.post(f"{url}/retry", headers=viewer.headers),
        "delete": client.delete(url, headers=viewer.headers),
    }
    for action, answer in refused.items():
        assert answer.status_code == 403, (action, answer.text)
        assert answer.json()["error"]["code"] == "insufficient_role", action
    assert get_job(client, owner, job["id"])["status"] == "queued"
    assert listed_ids(client, owner) == [job["id"]]


@local_only
def test_an_unverified_user_cannot_start_jobs(client: TestClient, people: People) -> None:
    unverified = people.create(verified=False)

    answer = client.post(jobs_url(unverified), headers=unverified.headers, json=convert_body(str(uuid.uuid4())))

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "email_not_verified"
    assert listed_ids(client, unverified) == []


@parked_only
def test_api_keys_need_the_write_scope_to_start_jobs(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])

    def key(scopes: list[str]) -> dict[str, str]:
        made = client.post(
            f"/api/v1/workspaces/{owner.workspace_id}/api-keys",
            headers=owner.headers,
            json={"name": "+".join(scopes), "scopes": scopes},
        )
        assert made.status_code == 201, made.text
        return {"Authorization": f"Bearer {made.json()['secret']}"}

    read_only = client.post(jobs_url(owner), headers=key(["read"]), json=convert_body(source))
    writer = client.post(jobs_url(owner), headers=key(["write"]), json=convert_body(source))

    assert read_only.status_code == 403
    assert read_only.json()["error"]["code"] == "insufficient_scope"
    assert writer.status_code == 202, writer.text
    assert listed_ids(client, owner) == [writer.json()["id"]]


@parked_only
def test_another_workspaces_job_is_not_found_on_any_route(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner, stranger = people.create(), people.create()
    job = start(client, owner, upload(client, owner, media["tone.wav"]))

    def every_route(workspace_id: str) -> dict[str, Any]:
        url = job_url(owner, job["id"], workspace_id)
        return {
            "get": client.get(url, headers=stranger.headers),
            "attempts": client.get(f"{url}/attempts", headers=stranger.headers),
            "events": client.get(f"{url}/events", headers=stranger.headers),
            "cancel": client.post(f"{url}/cancel", headers=stranger.headers),
            "retry": client.post(f"{url}/retry", headers=stranger.headers),
            "delete": client.delete(url, headers=stranger.headers),
        }

    through_their_workspace = every_route(owner.workspace_id)
    through_mine = every_route(stranger.workspace_id)
    listing = client.get(jobs_url(owner), headers=stranger.headers)

    for route, answer in through_their_workspace.items():
        assert answer.status_code == 404, (route, answer.text)
        assert answer.json()["error"]["code"] == "workspace_not_found", route
    for route, answer in through_mine.items():
        assert answer.status_code == 404, (route, answer.text)
        assert answer.json()["error"]["code"] == "job_not_found", route
    assert listing.status_code == 404
    assert listed_ids(client, stranger) == []
    unchanged = get_job(client, owner, job["id"])
    assert unchanged["status"] == "queued" and not unchanged["cancel_requested"]


@parked_only
def test_jobs_are_listed_newest_first_with_filters_and_cursors_that_skip_nothing(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner, other = people.create(), people.create()
    source = upload(client, owner, media["tone.wav"])

    def submit(**metadata: str) -> dict[str, Any]:
        answer = client.post(
            jobs_url(owner), headers=owner.headers, json={**convert_body(source), "metadata": metadata}
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    b1 = [submit(batch="b1", n=str(n)) for n in range(3)]
    b2 = submit(batch="b2")
    b1_last = submit(batch="b1", n="3")
    start(client, other, upload(client, other, media["tone.wav"]))
    canceled = client.post(f"{job_url(owner, b1[1]['id'])}/cancel", headers=owner.headers).json()
    newest_first = [b1_last["id"], b2["id"], *(job["id"] for job in reversed(b1))]

    def pages(**params: Any) -> list[list[str]]:
        found: list[list[str]] = []
        cursor = None
        while True:
            answer = client.get(
                jobs_url(owner), headers=owner.headers, params={**params, **({"cursor": cursor} if cursor else {})}
            )
            assert answer.status_code == 200, answer.text
            found.append([job["id"] for job in answer.json()["items"]])
            cursor = answer.json()["next_cursor"]
            if not cursor:
                return found

    assert pages() == [newest_first]
    assert pages(limit=2) == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert pages(status="canceled") == [[canceled["id"]]]
    assert pages(status="queued") == [[i for i in newest_first if i != canceled["id"]]]
    assert pages(type="media.convert") == [newest_first]
    assert pages(type="media.teleport") == [[]]
    assert pages(metadata="batch=b2") == [[b2["id"]]]
    b1_ids = [i for i in newest_first if i != b2["id"]]
    assert flat(pages(metadata="batch=b1", limit=2)) == b1_ids  # every match, across pages
    assert flat(pages(metadata=["batch=b1", "n=2"], limit=1)) == [b1[2]["id"]]
    since = b2["timings"]["created_at"]
    assert pages(created_after=since) == [[b1_last["id"], b2["id"]]]
    assert pages(created_before=since) == [[job["id"] for job in reversed(b1)]]
    assert client.get(jobs_url(owner), headers=owner.headers, params={"status": "lost"}).status_code == 422
    assert client.get(jobs_url(owner), headers=owner.headers, params={"cursor": "nonsense"}).status_code == 422


@parked_only
def test_an_idempotency_key_is_free_again_after_24_hours(
    client: TestClient, people: People, media: dict[str, Path], app: Any
) -> None:
    owner = people.create()
    source = upload(client, owner, media["tone.wav"])
    keyed = {**owner.headers, "Idempotency-Key": "nightly-export"}
    first = client.post(jobs_url(owner), headers=keyed, json=convert_body(source)).json()
    with app.state.db.session() as db:  # a day and a bit goes by
        job = db.get(Job, first["id"])
        job.created_at = job.created_at - timedelta(hours=25)

    later = client.post(jobs_url(owner), headers=keyed, json=convert_body(source, format="wav"))
    replay = client.post(jobs_url(owner), headers=keyed, json=convert_body(source, format="wav"))

    assert later.status_code == 202, later.text
    assert later.json()["id"] != first["id"]
    assert replay.status_code == 200 and replay.json()["id"] == later.json()["id"]
    assert get_job(client, owner, first["id"])["status"] == "queued"  # the old job is untouched
