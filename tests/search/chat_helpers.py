"""Conversations as a client holds them — start one, ask, read the server-sent events of the answer — and a scripted
OpenAI-compatible chat server standing in for a hosted language model."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from tests.conftest import Person
from voxhub.clock import utcnow
from voxhub.files.models import File, FileStatus
from voxhub.files.service import storage_key
from voxhub.jobs.models import Job, JobStatus
from voxhub.search import index
from voxhub.transcripts import service as transcripts


def conversations_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/conversations"


def start(client: TestClient, person: Person, **body: Any) -> dict[str, Any]:
    """A new conversation (it must be accepted)."""
    answer = client.post(conversations_url(person), headers=person.headers, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def conversation(client: TestClient, person: Person, conversation_id: str) -> dict[str, Any]:
    answer = client.get(f"{conversations_url(person)}/{conversation_id}", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def post_message(
    client: TestClient, person: Person, conversation_id: str, content: str, *, accept: str | None = None
) -> httpx2.Response:
    headers = {**person.headers, **({"Accept": accept} if accept else {})}
    return client.post(
        f"{conversations_url(person)}/{conversation_id}/messages", headers=headers, json={"content": content}
    )


@dataclass
class Answer:
    """The server-sent events of one answer, in order."""

    events: list[tuple[str, dict[str, Any]]]

    @property
    def names(self) -> list[str]:
        return [name for name, _data in self.events]

    def first(self, name: str) -> dict[str, Any]:
        return next(data for event, data in self.events if event == name)

    @property
    def given(self) -> list[dict[str, Any]]:
        """The passages given to the model, numbered."""
        return list(self.first("citations")["citations"])

    @property
    def streamed(self) -> str:
        return "".join(data["text"] for event, data in self.events if event == "delta")

    @property
    def message(self) -> dict[str, Any]:
        """The stored answer, as `done` tells it."""
        return dict(self.first("done")["message"])


def events_of(response: httpx2.Response) -> list[tuple[str, dict[str, Any]]]:
    """`event:` and `data:` of each server-sent event."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream"), response.headers
    events = []
    for block in response.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def ask(client: TestClient, person: Person, conversation_id: str, content: str) -> Answer:
    """Ask, and read the whole answer as its events; it must end `done`."""
    answer = Answer(events_of(post_message(client, person, conversation_id, content)))
    assert answer.names[-1] == "done", answer.events
    return answer


def markers(text: str) -> list[int]:
    """The numbers of the citation markers in `text`, in order."""
    return [int(n) for n in re.findall(r"\[(\d+)\]", text)]


# ---- recordings: a file and its transcription, as if Whisper had heard the transcript word for word ----


def recording(app: Any, person: Person, name: str, document: dict[str, Any]) -> tuple[str, str]:
    """A ready file called `name` (its bytes are never read: citations only link to it) and a succeeded
    transcription of it whose transcript is `document`; (job id, file id). Saving it marks it for the index."""
    with app.state.db.session() as db:
        file = File(workspace_id=person.workspace_id, filename=name, content_type="audio/mpeg", status="pending")
        file.storage_key = ""
        db.add(file)
        db.flush()
        file.storage_key = storage_key(person.workspace_id, file.id)
        file.status = FileStatus.READY.value
        file.size_bytes = 1000
        job = Job(
            workspace_id=person.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.SUCCEEDED.value,
            input={"file_id": file.id},
            params={},
            progress=100.0,
            result={"segments": len(document["segments"]), "transcript_version": 1},
            finished_at=utcnow(),
            created_by=person.id,
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=person.workspace_id, job_id=job.id, data=document)
        return job.id, file.id


def index_all(app: Any) -> None:
    """Index every waiting transcript, as rounds of the periodic task would."""
    while index.index_pending(app.state.db.session, app.state.ctx):
        pass


def trimmed(document_: dict[str, Any], segments: int) -> dict[str, Any]:
    """The first `segments` segments of a transcript: the corpus's recordings are long to embed."""
    kept = document_["segments"][:segments]
    return {
        **document_,
        "segments": kept,
        "text": " ".join(segment["text"] for segment in kept),
        "duration": kept[-1]["end"],
    }


# ---- a hosted language model, scripted ----


@dataclass
class ScriptedChat:
    """An OpenAI-compatible `/chat/completions` that answers with `reply(messages)`, whole or streamed a few
    characters at a time (so that a marker arrives in pieces), and reports `usage` tokens for every call."""

    reply: Callable[[list[dict[str, str]]], str]
    usage: tuple[int, int] = (100, 10)
    calls: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def scripted_chat(reply: Callable[[list[dict[str, str]]], str]) -> Iterator[ScriptedChat]:
    chat = ScriptedChat(reply=reply)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            chat.calls.append(body)
            text = chat.reply(body["messages"])
            prompt, completion = chat.usage
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            if not body.get("stream"):
                message = {"role": "assistant", "content": text}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._send("application/json", json.dumps({"model": "scripted", "choices": [choice], "usage": usage}))
                return
            chunks = [
                {"model": "scripted", "choices": [{"index": 0, "delta": {"content": text[at : at + 3]}}]}
                for at in range(0, len(text), 3)
            ]
            chunks.append({"model": "scripted", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            chunks.append({"model": "scripted", "choices": [], "usage": usage})
            stream = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
            self._send("text/event-stream", stream)

        def _send(self, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    chat.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield chat
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
