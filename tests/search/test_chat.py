"""Conversations over a workspace's recordings, through the API: answers streamed as server-sent events (or whole as
JSON) that cite the second each fact is said, follow-ups that lean on the last turn, another workspace's recordings
never cited, conversations kept, renamed and deleted, suggested questions, charges and the audit log.

Two recordings of the generated corpus (tests/search/corpus.py, cut to their first minutes: embedding is slow on two
cores) are indexed once for the module, beside a recording of another seed in a stranger's workspace. Answers are
extractive (no language model) unless a test asks a scripted OpenAI-compatible server (the remote engine) or the
bundled 0.5B model; those apps share the module's database, and so its recordings."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People, Person, _empty_all_tables
from tests.search.chat_helpers import (
    Answer,
    ScriptedChat,
    ask,
    conversation,
    conversations_url,
    index_all,
    markers,
    post_message,
    recording,
    scripted_chat,
    start,
    trimmed,
)
from tests.search.corpus import Corpus, Question, make_corpus
from voxhub.app import create_app
from voxhub.billing import service as billing
from voxhub.billing.models import AllowanceUse
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.engines.llm import ModelUnavailable, model_file
from voxhub.insights.models import Insights
from voxhub.jobs.models import Job, JobStatus
from voxhub.search.chat import MarkerFilter

# The module's tests share one app and one indexed corpus (module fixtures): under pytest-xdist (`--dist loadgroup`)
# they run together on one worker, where no other module's table cleanup can empty them midway.
pytestmark = pytest.mark.xdist_group("chat-corpus")

PLATFORM, HIRING = 1, 3  # the corpus's platform stand-up and hiring committee
KEPT_SEGMENTS = 34  # the first four to five minutes of each: every question below is answered in them
START_TOLERANCE_S = 1.0
NOT_COVERED = "do not cover"
# The 0.5B sibling writes sentences but seldom cites the right passage: citing takes the 1.5B (`make run`).
MODEL = "qwen2.5-coder-1.5b"


@dataclass
class Library:
    """Our workspace with two recordings, indexed; a stranger's with a recording of another seed."""

    app: Any
    client: TestClient
    people: People
    owner: Person
    corpus: Corpus
    job_ids: dict[int, str]  # corpus recording → its transcription
    file_ids: dict[int, str]
    stranger: Person
    their_job_ids: list[str]

    def questions(self, *kinds: str) -> list[Question]:
        return [
            question
            for question in self.corpus.questions
            if question.kind in kinds and question.recording in self.job_ids and question.segment_id < KEPT_SEGMENTS
        ]


def app_for(settings: Settings, database_url: str) -> Iterator[Any]:
    application = create_app(settings)
    yield application
    application.state.ctx.close()
    application.state.db.dispose()
    _empty_all_tables(database_url)


@pytest.fixture(scope="module")
def chat_settings(search_settings: Settings) -> Settings:
    return search_settings.model_copy(update={"llm_engine": "none"})


@pytest.fixture(scope="module")
def chat_app(chat_settings: Settings, database_url: str) -> Iterator[Any]:
    yield from app_for(chat_settings, database_url)


@pytest.fixture(scope="module")
def library(chat_app: Any) -> Iterator[Library]:
    with TestClient(chat_app, raise_server_exceptions=False) as client:
        people = People(client, chat_app)
        owner, stranger = people.create(), people.create()
        ours, theirs = make_corpus(0), make_corpus(1)
        job_ids, file_ids = {}, {}
        for number in (PLATFORM, HIRING):
            kept = ours.recordings[number]
            job_ids[number], file_ids[number] = recording(
                chat_app, owner, kept.name, trimmed(kept.document, KEPT_SEGMENTS)
            )
        their = theirs.recordings[PLATFORM]
        their_job, _their_file = recording(chat_app, stranger, their.name, trimmed(their.document, KEPT_SEGMENTS))
        index_all(chat_app)
        yield Library(chat_app, client, people, owner, ours, job_ids, file_ids, stranger, [their_job])


def api_key(client: TestClient, owner: Person, scope: str = "write") -> Person:
    """`owner`'s workspace through an API key of its own: each key is rate-limited on its own, so tests that ask
    many questions do not share one budget."""
    made = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/api-keys",
        headers=owner.headers,
        json={"name": "chat", "scopes": [scope]},
    )
    assert made.status_code == 201, made.text
    return replace(owner, access_token=made.json()["secret"])


@pytest.fixture
def asker(library: Library) -> Person:
    return api_key(library.client, library.owner)


def gold_start(library: Library, question: Question) -> float:
    return float(library.corpus.gold(question)["start"])


def cites_gold(library: Library, question: Question, citations: list[dict[str, Any]]) -> bool:
    job_id = library.job_ids[question.recording]
    start_s = gold_start(library, question)
    return any(c["job_id"] == job_id and abs(c["start"] - start_s) <= START_TOLERANCE_S for c in citations)


def unsigned(citation: dict[str, Any]) -> dict[str, Any]:
    """A citation with its link cut to what two reads share: links are signed anew each time."""
    url = citation["url"] or ""
    return {**citation, "url": url.rpartition("#")[2] if url.startswith("http") else url}


def without_links(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "citations": [unsigned(citation) for citation in message["citations"]]}


# ---- answers without a language model ----


def test_an_answer_streams_its_stages_passages_and_text_and_done_is_the_stored_message(
    library: Library, asker: Person
) -> None:
    client = library.client
    question = next(q for q in library.questions("exact") if q.recording == PLATFORM)
    chat = start(client, asker)

    answer = ask(client, asker, chat["id"], question.text)

    names = answer.names
    stages = [data["stage"] for name, data in answer.events if name == "status"]
    assert stages == ["searching", "reading", "writing"]
    assert names[:4] == ["status", "status", "citations", "status"]
    assert set(names[4:-1]) == {"delta"} and names[-1] == "done"
    message = answer.message
    assert message["content"] == answer.streamed  # the pieces make the stored answer
    assert message["role"] == "assistant" and message["engine"] == "extractive"
    assert message["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}
    stored = conversation(client, asker, chat["id"])
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["messages"][0]["id"] == answer.first("done")["user_message_id"]
    assert stored["messages"][0]["content"] == question.text
    assert without_links(stored["messages"][1]) == without_links(message)
    assert stored["title"] == question.text  # an untitled conversation is named by its first question
    assert cites_gold(library, question, message["citations"])
    url = message["citations"][0]["url"]
    assert url and url.endswith(f"#t={message['citations'][0]['start']:.2f}")  # plays from the cited second


def test_asked_for_json_the_answer_is_the_stored_message(library: Library, asker: Person) -> None:
    client = library.client
    question = next(q for q in library.questions("exact") if q.recording == HIRING)
    chat = start(client, asker, title="Hiring")

    answer = post_message(client, asker, chat["id"], question.text, accept="application/json")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    message = answer.json()
    stored = conversation(client, asker, chat["id"])
    assert without_links(stored["messages"][-1]) == without_links(message)
    assert stored["title"] == "Hiring"
    assert cites_gold(library, question, message["citations"])


def test_extractive_answers_quote_and_cite_the_second_each_planted_fact_is_said(
    library: Library, asker: Person
) -> None:
    client = library.client
    answers = {}
    for question in library.questions("exact", "paraphrase"):
        chat = start(client, asker)
        answers[question] = ask(client, asker, chat["id"], question.text).message

    for question, message in answers.items():
        assert message["engine"] == "extractive"
        numbers = [c["n"] for c in message["citations"]]
        assert markers(message["content"]) == numbers == list(range(1, len(numbers) + 1)) and 1 <= len(numbers) <= 3
        for citation in message["citations"]:
            assert f"“{citation['quote']}”" in message["content"]  # quoted word for word
        first = message["citations"][0]
        assert first["job_id"] == library.job_ids[question.recording], (question.text, message)
    exact = [question for question in answers if question.kind == "exact"]
    assert len(exact) >= 2
    for question in exact:  # the words asked for are found where they are said (meaning alone is less sure)
        assert cites_gold(library, question, answers[question]["citations"][:1]), (question.text, answers[question])


def test_a_follow_up_with_a_pronoun_is_searched_with_the_terms_of_the_turn_before(
    library: Library, asker: Person
) -> None:
    client = library.client
    follow_ups = library.questions("follow_up")
    assert {q.recording for q in follow_ups} == {PLATFORM, HIRING}
    for follow_up in follow_ups:
        chat = start(client, asker)
        assert follow_up.previous is not None
        first = ask(client, asker, chat["id"], follow_up.previous).message

        second = ask(client, asker, chat["id"], follow_up.text).message

        assert first["citations"][0]["job_id"] == library.job_ids[follow_up.recording]
        assert second["query"] != follow_up.text and second["query"].startswith(follow_up.text)
        assert second["citations"], second
        assert second["citations"][0]["job_id"] == library.job_ids[follow_up.recording], second


def test_a_question_the_recordings_do_not_answer_is_said_to_be_not_covered(library: Library, asker: Person) -> None:
    chat = start(library.client, asker)

    message = ask(library.client, asker, chat["id"], "What is the recipe for lemon cake?").message

    assert NOT_COVERED in message["content"]
    assert message["citations"] == []


def test_a_conversation_searches_only_its_scope(library: Library, asker: Person) -> None:
    client = library.client
    chat = start(client, asker, scope={"file_ids": [library.file_ids[HIRING]]})
    assert chat["scope"] == {"file_ids": [library.file_ids[HIRING]], "job_ids": []}

    answer = ask(client, asker, chat["id"], "Orion cluster outage expired TLS certificate")

    assert {c["job_id"] for c in answer.given} <= {library.job_ids[HIRING]}
    by_job = start(client, asker, scope={"job_ids": [library.job_ids[PLATFORM]]})
    cited = ask(client, asker, by_job["id"], "Orion cluster outage").message["citations"]
    assert cited and {c["job_id"] for c in cited} == {library.job_ids[PLATFORM]}


def test_another_workspaces_conversations_are_404_and_its_recordings_are_never_cited(
    library: Library, asker: Person
) -> None:
    client = library.client
    stranger = api_key(client, library.stranger)
    theirs = start(client, stranger)
    their_answer = ask(client, stranger, theirs["id"], "Vega cluster outage")
    assert their_answer.message["citations"]  # their own recording answers them
    path = f"{conversations_url(asker)}/{theirs['id']}"
    across = f"{conversations_url(stranger)}/{theirs['id']}"  # their workspace, our key

    for method, url, body in [
        ("GET", path, None),
        ("PATCH", path, {"title": "mine now"}),
        ("DELETE", path, None),
        ("GET", f"{path}/suggestions", None),
        ("POST", f"{path}/messages", {"content": "Vega cluster outage"}),
    ]:
        answer = client.request(method, url, headers=asker.headers, json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "conversation_not_found"), answer.text
    assert client.get(across, headers=asker.headers).status_code == 404  # not a member there
    ours = start(client, asker)
    answer = ask(client, asker, ours["id"], "Vega cluster outage and who fixed it")
    cited = {c["job_id"] for c in answer.given}
    assert cited and not cited & set(library.their_job_ids)
    assert "Vega" not in answer.message["content"]
    assert conversation(client, stranger, theirs["id"])["title"] == "Vega cluster outage"  # untouched
    scoped = client.post(
        conversations_url(asker), headers=asker.headers, json={"scope": {"job_ids": library.their_job_ids}}
    )
    assert (scoped.status_code, scoped.json()["error"]["code"]) == (404, "job_not_found")


# ---- keeping conversations ----


def test_conversations_are_listed_by_last_activity_renamed_and_deleted(library: Library, asker: Person) -> None:
    client = library.client
    viewer = api_key(client, library.owner, scope="read")
    older = start(client, asker, title="Older")
    newer = start(client, asker, title="Newer")
    ask(client, asker, older["id"], "Marcus on-call pager")  # spoken in last: first in the list

    listed = client.get(conversations_url(viewer), headers=viewer.headers, params={"limit": 2})
    renamed = client.patch(f"{conversations_url(asker)}/{newer['id']}", headers=asker.headers, json={"title": "  Q3  "})
    refused = client.patch(f"{conversations_url(viewer)}/{newer['id']}", headers=viewer.headers, json={"title": "x"})
    deleted = client.delete(f"{conversations_url(asker)}/{older['id']}", headers=asker.headers)

    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()["items"]] == [older["id"], newer["id"]]
    assert listed.json()["next_cursor"] is not None
    assert "messages" not in listed.json()["items"][0]
    assert renamed.status_code == 200 and renamed.json()["title"] == "Q3"
    assert refused.status_code == 403
    assert deleted.status_code == 204
    assert client.get(f"{conversations_url(asker)}/{older['id']}", headers=asker.headers).status_code == 404
    after = client.get(conversations_url(asker), headers=asker.headers, params={"limit": 100}).json()["items"]
    assert older["id"] not in {c["id"] for c in after} and newer["id"] in {c["id"] for c in after}
    refused_ask = post_message(client, viewer, newer["id"], "Marcus on-call pager")
    assert refused_ask.status_code == 403


def test_requests_out_of_bounds_are_refused_saying_which_field(library: Library, asker: Person) -> None:
    client = library.client
    chat = start(client, asker)
    cases = [
        (f"{conversations_url(asker)}/{chat['id']}/messages", {"content": "x" * 4001}, "body.content"),
        (f"{conversations_url(asker)}/{chat['id']}/messages", {"content": "   "}, "body.content"),
        (conversations_url(asker), {"title": "t" * 201}, "body.title"),
        (conversations_url(asker), {"scope": {"job_ids": ["j"] * 101}}, "body.scope.job_ids"),
    ]
    for url, body, field in cases:
        answer = client.post(url, headers=asker.headers, json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"]["fields"][0]["field"] == field
    assert conversation(client, asker, chat["id"])["messages"] == []


def test_more_questions_a_minute_than_allowed_are_refused(library: Library) -> None:
    client = library.client
    # The limit is a sliding window over clock minutes: a burst that crosses a minute's edge counts part of its first
    # half at a discount, so the 21st question may pass. Such a burst is asked again, by a new caller, in one minute.
    for _attempt in range(3):
        newcomer = api_key(client, library.people.create())  # an empty workspace: nothing to search, fast answers
        chat = start(client, newcomer)
        minute = time.time() // 60
        answers = [post_message(client, newcomer, chat["id"], f"Question {n}?") for n in range(21)]
        if time.time() // 60 == minute:
            break

    assert [a.status_code for a in answers[:20]] == [200] * 20
    refused = answers[20]
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(conversation(client, newcomer, chat["id"])["messages"]) == 40  # the refused question is not kept


def test_the_audit_log_records_each_change_without_the_words_asked(library: Library, asker: Person) -> None:
    client = library.client
    secret = "Which applicant did the committee choose for the backend role?"
    chat = start(client, asker)
    ask(client, asker, chat["id"], secret)
    client.patch(f"{conversations_url(asker)}/{chat['id']}", headers=asker.headers, json={"title": "Renamed"})
    client.delete(f"{conversations_url(asker)}/{chat['id']}", headers=asker.headers)

    log = client.get(
        f"/api/v1/workspaces/{asker.workspace_id}/audit-log",
        headers=library.owner.headers,
        params={"action": "conversation.", "limit": 200},
    )

    assert log.status_code == 200, log.text
    events = [e for e in log.json()["items"] if e["target_id"] == chat["id"]]
    assert [e["action"] for e in reversed(events)] == [
        "conversation.created",
        "conversation.message",
        "conversation.renamed",
        "conversation.deleted",
    ]
    written = json.dumps(events)
    assert "applicant" not in written and "committee" not in written and "Renamed" not in written


# ---- suggested questions ----


def test_suggestions_come_from_the_scopes_chapters_and_key_phrases_and_a_fallback_otherwise(
    library: Library, asker: Person
) -> None:
    client = library.client
    hiring = start(client, asker, scope={"job_ids": [library.job_ids[HIRING]]})
    platform = start(client, asker, scope={"job_ids": [library.job_ids[PLATFORM]]})

    def suggested(chat: dict[str, Any], person: Person = asker) -> list[str]:
        answer = client.get(f"{conversations_url(person)}/{chat['id']}/suggestions", headers=person.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["next_cursor"] is None
        return list(answer.json()["items"])

    from_passages = suggested(hiring)
    insights_of(library, library.job_ids[HIRING], chapters=["The backend hire"], phrases=["salary band", "pager"])
    from_insights = suggested(hiring)
    elsewhere = suggested(platform)
    newcomer = api_key(client, library.people.create())
    nothing_yet = suggested(start(client, newcomer), newcomer)

    assert 3 <= len(from_passages) <= 6 and all(q.endswith("?") for q in from_passages)
    assert from_insights[:3] == [
        "What was said about The backend hire?",
        "Who talked about salary band?",
        "What was decided about pager?",
    ]
    assert not any("backend hire" in q for q in elsewhere)  # another recording's chapters are not its scope's
    assert nothing_yet == [
        "What were the main topics?",
        "What decisions were made?",
        "What are the next steps, and who owns them?",
    ]


def insights_of(library: Library, job_id: str, *, chapters: list[str], phrases: list[str]) -> None:
    """Insights of a transcription as an insights job with a language model would keep them."""
    data = {
        "engine": "local",
        "model": "test",
        "language": "en",
        "summary_type": "bullets",
        "chapters": [
            {"start": 0.0, "end": 60.0, "headline": gist, "gist": gist, "summary": gist, "segment_ids": [0]}
            for gist in chapters
        ],
        "key_phrases": [
            {"text": text, "count": 3 - rank, "rank": 1.0 / (rank + 1), "timestamps": []}
            for rank, text in enumerate(phrases)
        ],
        "coverage": [],
        "complete": True,
        "segments": 1,
    }
    owner = library.owner
    with library.app.state.db.session() as db:
        job = Job(
            workspace_id=owner.workspace_id, type="insights", queue="llm", status=JobStatus.SUCCEEDED.value,
            input={"job_id": job_id}, params={}, progress=100.0, result={}, finished_at=utcnow(), created_by=owner.id,
        )  # fmt: skip
        db.add(job)
        db.flush()
        db.add(
            Insights(workspace_id=owner.workspace_id, job_id=job.id, source_job_id=job_id, engine="local", data=data)
        )


# ---- a hosted language model (scripted) ----


def scripted_reply(messages: list[dict[str, str]]) -> str:
    system = messages[0]["content"]
    if system.startswith("Rewrite"):
        return "Standalone query: Kofi pager check for the Orion outage"
    if system.startswith("Summarise"):
        return "SUMMARY-OF-EARLIER-TURNS"
    # The answer: two passages cited, one of them with a number nothing was given for, and one invented outright.
    return "The outage lasted 43 minutes [1], and Kofi adds a check [2, 9]. The rest is unknown [7].\n"


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedChat]:
    yield from scripted_chat(scripted_reply)


@pytest.fixture(scope="module")
def remote_app(chat_settings: Settings, scripted: ScriptedChat, database_url: str) -> Iterator[Any]:
    settings = chat_settings.model_copy(
        update={
            "llm_engine": "remote",
            "remote_llm_url": scripted.url,
            "remote_api_key": "test-key",
            "remote_llm_model": "scripted",
            "data_dir": chat_settings.data_dir.parent / "remote",
        }
    )
    yield from app_for(settings, database_url)


@pytest.fixture(scope="module")
def remote(remote_app: Any, library: Library) -> Iterator[TestClient]:
    with TestClient(remote_app, raise_server_exceptions=False) as client:
        yield client


def test_a_model_answer_keeps_the_markers_that_name_passages_given_and_drops_the_others(
    library: Library, remote: TestClient, scripted: ScriptedChat, asker: Person
) -> None:
    chat = start(remote, asker)

    answer = ask(remote, asker, chat["id"], "How long was the Orion outage, and who fixes it?")

    given = answer.given
    assert len(given) >= 2 and [c["n"] for c in given] == list(range(1, len(given) + 1))
    message = answer.message
    assert message["content"] == "The outage lasted 43 minutes [1], and Kofi adds a check [2]. The rest is unknown."
    assert message["content"] == answer.streamed  # markers arrived three characters at a time, and were held
    assert message["engine"] == "remote"
    assert [c["n"] for c in message["citations"]] == [1, 2]
    for citation, passage in zip(message["citations"], given, strict=False):
        assert (citation["job_id"], citation["file_id"]) == (passage["job_id"], passage["file_id"])
    # The passage is a few segments long: the citation points at the one the sentence citing it takes its words from.
    outage = next(q for q in library.questions("exact") if q.recording == PLATFORM)
    assert cites_gold(library, outage, message["citations"][:1]), (message["citations"][0], given[0])
    prompt = scripted.calls[-1]["messages"][-1]["content"]
    assert "[1] platform-standup.mp3, from " in prompt and "Question: How long was the Orion outage" in prompt


def test_a_follow_up_is_rewritten_by_the_model_and_older_turns_are_summarised(
    library: Library, remote: TestClient, scripted: ScriptedChat, asker: Person
) -> None:
    chat = start(remote, asker)
    long_question = "Tell me about the Orion outage. " + "Please be thorough about every detail. " * 90
    ask(remote, asker, chat["id"], long_question)  # about a thousand tokens: more than the memory keeps
    calls = len(scripted.calls)

    second = ask(remote, asker, chat["id"], "Who is making sure it does not happen again?").message
    third = ask(remote, asker, chat["id"], "And when?").message

    kinds = [call["messages"][0]["content"].split()[0] for call in scripted.calls[calls:]]
    assert kinds == ["Summarise", "Rewrite", "You", "Rewrite", "You"]  # the long turn is summarised once
    assert second["query"] == "Kofi pager check for the Orion outage"
    assert third["query"].startswith("Kofi pager check for the Orion outage")
    last_prompt = json.dumps(scripted.calls[-1]["messages"])
    assert "SUMMARY-OF-EARLIER-TURNS" in last_prompt and "Please be thorough" not in last_prompt
    assert second["usage"] == {"prompt_tokens": 300, "completion_tokens": 30}  # summary, rewrite and answer


def test_each_message_is_charged_for_the_tokens_its_answer_used(
    library: Library, remote: TestClient, asker: Person
) -> None:
    def tokens_used() -> int:
        answer = remote.get(f"/api/v1/workspaces/{asker.workspace_id}/billing", headers=library.owner.headers)
        assert answer.status_code == 200, answer.text
        allowance = answer.json()["allowances"]["text_tokens"]
        assert allowance["held"] == 0  # every hold settled
        return int(allowance["used"])

    chat = start(remote, asker)
    before = tokens_used()
    first = ask(remote, asker, chat["id"], "Orion cluster outage").message
    between = tokens_used()
    second = ask(remote, asker, chat["id"], "Who fixes it?").message

    assert between - before == sum(first["usage"].values()) == 110
    assert tokens_used() - between == sum(second["usage"].values()) == 220  # a rewrite and an answer


def test_a_workspace_that_cannot_pay_is_refused_before_anything_is_kept(library: Library, remote: TestClient) -> None:
    broke = library.people.create()
    with library.app.state.db.session() as db:  # the free plan's tokens used up, and no credits
        period = billing.subscription(db, workspace_id=broke.workspace_id).allowance_period_start
        db.add(AllowanceUse(workspace_id=broke.workspace_id, period_start=period, meter="text_tokens", used=100_000))
    chat = start(remote, broke)

    refused = post_message(remote, broke, chat["id"], "Orion cluster outage")

    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert conversation(remote, broke, chat["id"])["messages"] == []
    extractive = post_message(library.client, broke, chat["id"], "Orion cluster outage")  # no model: nothing to pay
    assert extractive.status_code == 200


# ---- the bundled small model ----


@pytest.fixture(scope="module")
def local_client(chat_settings: Settings, library: Library, database_url: str) -> Iterator[TestClient]:
    models = chat_settings.data_dir.parent / "models"
    try:
        path = model_file(Settings(_env_file=None, data_dir=models), MODEL)  # type: ignore[call-arg]
    except ModelUnavailable as exc:
        pytest.skip(f"{MODEL} is not installed here: {exc}")
    # A small window: two cores read a prompt of a few passages in seconds, not minutes.
    update = {
        "llm_engine": "local",
        "llm_model": str(path),
        "llm_context_tokens": 1024,
        "data_dir": models.parent / "local",
    }
    settings = chat_settings.model_copy(update=update)
    for application in app_for(settings, database_url):
        with TestClient(application, raise_server_exceptions=False) as client:
            yield client


def test_the_local_model_answers_citing_passages_that_were_retrieved(
    library: Library, local_client: TestClient, asker: Person
) -> None:
    question = next(q for q in library.questions("exact") if q.recording == PLATFORM)  # the Orion outage
    chat = start(local_client, asker)

    answer: Answer = ask(local_client, asker, chat["id"], "How long did the Orion cluster outage last?")

    message = answer.message
    assert message["engine"] == "local" and message["content"] == answer.streamed
    assert message["usage"]["prompt_tokens"] > 0 and message["usage"]["completion_tokens"] > 0
    given = {c["n"]: c for c in answer.given}
    assert message["citations"], message["content"]
    for citation in message["citations"]:
        passage = given[citation["n"]]  # a passage that was given: the answer points at a segment of it
        assert (citation["job_id"], citation["file_id"]) == (passage["job_id"], passage["file_id"])
    assert set(markers(message["content"])) == {c["n"] for c in message["citations"]}
    assert cites_gold(library, question, message["citations"]), message


# ---- markers, however the model's pieces fall ----


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("It lasted 43 minutes [1].", "It lasted 43 minutes [1]."),
        ("Kofi fixes it [2, 9] and Lena helps [3].", "Kofi fixes it [2] and Lena helps [3]."),
        ("Nobody knows [7]. Really [passage 1]", "Nobody knows. Really [1]"),
        ("  Lists [1][2] and [a note] stay [ 3 ;1 ]\n", "Lists [1][2] and [a note] stay [3][1]"),
        ("An array[0] is not a citation [0].", "An array is not a citation."),
    ],
)
def test_markers_naming_no_passage_are_removed_wherever_the_stream_splits_them(written: str, kept: str) -> None:
    for size in (1, 2, 3, 5, len(written)):
        markers_ = MarkerFilter(3)
        pieces = [markers_.feed(written[at : at + size]) for at in range(0, len(written), size)]
        assert "".join([*pieces, markers_.finish()]) == kept, size
