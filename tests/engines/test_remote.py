"""The remote engines against what they talk to: a second voxhub (its OpenAI-compatible API is what they speak) for
speech recognition and synthesis, and a small local server speaking OpenAI's chat-completions API for translation
(voxhub serves no chat model)."""

from __future__ import annotations

import json
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.audio import ffmpeg
from tests.conftest import PASSWORD, People, Person
from tests.fake_http import LocalHTTPServer, RecordedRequest, Reply, json_reply
from tests.jobs_helpers import wait_for_job
from tests.live_server import LiveServer, free_port
from tests.openai_compat.helpers import SENTENCE, SPANISH, create_api_key, word_error_rate, words_of
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.db import Database, make_engine, migrate
from voxhub.engines.base import EngineError, TranscribeOptions
from voxhub.engines.remote import RemoteConfig, RemoteSynthesizer, RemoteTranscriber, RemoteTranslator
from voxhub.engines.textnorm import estimate_seconds
from voxhub.pipelines.synthesize import SynthesizeParams, synthesize_file
from voxhub.workspaces.flows import create_user

# ---- a second voxhub, the remote one ----


@dataclass
class RemoteVoxhub:
    """Another voxhub deployment (its own database and data) with an owner and a `write` API key."""

    server: LiveServer
    owner: Person
    key: str

    @property
    def v1(self) -> str:
        return f"{self.server.url}/v1"

    def config(self, model: str = "whisper-1", *, key: str | None = None) -> RemoteConfig:
        return RemoteConfig(base_url=self.v1, api_key=key or self.key, model=model, timeout_s=120)

    def transcriptions_served(self) -> int:
        """How many transcriptions this voxhub's audit log holds."""
        with httpx.Client(base_url=self.server.url, timeout=60) as http:
            answer = http.get(
                f"/api/v1/workspaces/{self.owner.workspace_id}/audit-log",
                headers=self.owner.headers,
                params={"action": "openai.transcription", "limit": 200},
            )
        assert answer.status_code == 200, answer.text
        return len(answer.json()["items"])


@pytest.fixture(scope="module")
def remote_voxhub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteVoxhub]:
    """Always on its own SQLite database: sharing the tests' database, its job workers would take the other
    instance's jobs."""
    root = tmp_path_factory.mktemp("remote-voxhub")
    database_url = f"sqlite:///{root / 'voxhub.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    engine.dispose()
    port = free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "var",
        database_url=database_url,
        secret_key="remote-voxhub-secret-" + "r" * 32,
        public_url=f"http://127.0.0.1:{port}",
        run_periodic_tasks=False,
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )
    email = "owner@remote.example.com"
    database = Database(settings)
    with database.session() as db:
        user_id = create_user(
            db, email=email, password=PASSWORD, name="Remote owner", actor=Actor.system(), verified=True
        ).id
    database.dispose()
    server = LiveServer(settings, port)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            tokens = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            workspace_id = http.get("/api/v1/workspaces", headers=headers).json()["items"][0]["id"]
            owner = Person(user_id, email, PASSWORD, tokens["access_token"], tokens["refresh_token"], workspace_id)
            yield RemoteVoxhub(server, owner, create_api_key(http, owner, "write"))
    finally:
        server.stop()


# ---- speech to send it ----


@dataclass(frozen=True)
class Speech:
    english: Path  # 16 kHz mono WAV, as the pipelines hand engines their audio
    spanish: Path


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    root = tmp_path_factory.mktemp("remote-speech")
    settings = Settings(_env_file=None, data_dir=root / "var")  # type: ignore[call-arg]

    def speak(text: str, name: str, language: str | None = None) -> Path:
        scratch = root / f"{name}-scratch"
        scratch.mkdir()
        made, _known, _voice = synthesize_file(
            settings, text, SynthesizeParams(format="wav", language=language), scratch, progress=lambda *_: None
        )
        target = root / name
        ffmpeg("-i", str(made), "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(target))
        return target

    return Speech(speak(SENTENCE, "english.wav"), speak(SPANISH, "spanish.wav", "es"))


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes() / handle.getframerate()


# ---- recognition and synthesis through another voxhub ----


def test_remote_transcriber_reads_another_voxhubs_verbose_json(remote_voxhub: RemoteVoxhub, speech: Speech) -> None:
    progress: list[tuple[float, float]] = []
    result = RemoteTranscriber(remote_voxhub.config()).transcribe(
        speech.english, TranscribeOptions(), on_progress=lambda done, total: progress.append((done, total))
    )
    duration = wav_seconds(speech.english)
    assert result.language == "en" and result.model == "whisper-1"
    assert result.duration_s == pytest.approx(duration, abs=0.05)
    assert progress == [(result.duration_s, result.duration_s)]
    text = " ".join(segment.text for segment in result.segments)
    assert word_error_rate(SENTENCE, text) <= 0.15, text
    assert [segment.id for segment in result.segments] == list(range(len(result.segments)))
    words = [word for segment in result.segments for word in segment.words]
    assert len(words) == len(words_of(text))
    for segment in result.segments:
        assert 0 <= segment.start < segment.end <= duration + 0.01
        # Spaced as Whisper writes them, the words spell the segment, so voxhub's subtitles use their times.
        assert "".join(word.word for word in segment.words).strip() == segment.text
        for word in segment.words:
            assert segment.start - 0.01 <= word.start <= word.end <= segment.end + 0.01
    assert [word.start for word in words] == sorted(word.start for word in words)


def test_remote_transcriber_translates_through_translations(remote_voxhub: RemoteVoxhub, speech: Speech) -> None:
    result = RemoteTranscriber(remote_voxhub.config()).transcribe(
        speech.spanish, TranscribeOptions(task="translate", language="es")
    )
    assert result.language == "en"  # a translation is English
    heard = set(words_of(" ".join(segment.text for segment in result.segments)))
    assert {"good", "morning", "water", "please"} <= heard, heard


def test_remote_synthesizer_speaks_24khz_pcm_that_transcribes_back(remote_voxhub: RemoteVoxhub, tmp_path: Path) -> None:
    engine = RemoteSynthesizer(remote_voxhub.config("tts-1"))
    voice = next(voice for voice in engine.voices() if voice.id == "alloy")
    chunks = list(engine.synthesize(SENTENCE, voice))
    assert chunks and {chunk.sample_rate for chunk in chunks} == {24000}
    pcm = b"".join(chunk.pcm for chunk in chunks)
    seconds = len(pcm) / 2 / 24000
    assert 0.5 * estimate_seconds(SENTENCE) <= seconds <= 2 * estimate_seconds(SENTENCE)
    faster = b"".join(chunk.pcm for chunk in engine.synthesize(SENTENCE, voice, speed=2.0))
    assert len(faster) < 0.7 * len(pcm)

    spoken = tmp_path / "spoken.wav"
    with wave.open(str(spoken), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(24000)
        writer.writeframes(pcm)
    heard = RemoteTranscriber(remote_voxhub.config()).transcribe(
        spoken, TranscribeOptions(language="en", word_timestamps=False)
    )
    assert word_error_rate(SENTENCE, " ".join(segment.text for segment in heard.segments)) <= 0.15


def test_remote_failures_say_whether_to_retry(remote_voxhub: RemoteVoxhub, speech: Speech) -> None:
    def failure(config: RemoteConfig) -> EngineError:
        with pytest.raises(EngineError) as failed:
            RemoteTranscriber(config).transcribe(speech.english, TranscribeOptions())
        return failed.value

    wrong_key = failure(remote_voxhub.config(key="vx_0123456789abcdef_" + "x" * 40))
    assert (wrong_key.code, wrong_key.transient) == ("remote_auth_failed", False)
    assert "The API key is not valid." in wrong_key.message
    unknown_model = failure(remote_voxhub.config("whisper-9"))
    assert (unknown_model.code, unknown_model.transient) == ("remote_error", False)
    assert "404" in unknown_model.message and "whisper-9" in unknown_model.message
    nobody_there = failure(RemoteConfig(f"http://127.0.0.1:{free_port()}/v1", "key", "whisper-1", timeout_s=5))
    assert (nobody_there.code, nobody_there.transient) == ("remote_unreachable", True)
    with httpx.Client(base_url=remote_voxhub.server.url, timeout=60) as http:
        read_only = create_api_key(http, remote_voxhub.owner, "read")
    engine = RemoteSynthesizer(remote_voxhub.config("tts-1", key=read_only))
    with pytest.raises(EngineError) as refused:
        list(engine.synthesize("Hello.", engine.voices()[0]))
    assert (refused.value.code, refused.value.transient) == ("remote_auth_failed", False)


# ---- a transcribe job on instance A whose remote engine is instance B ----


@pytest.fixture(params=["settings", "provider_key"])
def remote_via(request: pytest.FixtureRequest) -> str:
    """How instance A is pointed at B: its settings, or the workspace's stored `openai` provider key."""
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, remote_voxhub: RemoteVoxhub, remote_via: str) -> Settings:
    if remote_via == "settings":
        return settings.model_copy(update={"remote_asr_url": remote_voxhub.v1, "remote_api_key": remote_voxhub.key})
    return settings  # the default remote URL is OpenAI's, unreachable here: only the provider key leads to B


def point_workspace_at(client: TestClient, person: Person, remote: RemoteVoxhub) -> None:
    answer = client.put(
        f"/api/v1/workspaces/{person.workspace_id}/provider-keys/openai",
        headers=person.headers,
        json={"api_key": remote.key, "base_url": remote.v1},
    )
    assert answer.status_code == 200, answer.text


def test_transcribe_job_runs_on_the_remote_voxhub(
    client: TestClient, people: People, remote_voxhub: RemoteVoxhub, remote_via: str, speech: Speech
) -> None:
    owner = people.create()
    if remote_via == "provider_key":
        point_workspace_at(client, owner, remote_voxhub)
    with speech.english.open("rb") as audio:
        uploaded = client.post(
            f"/api/v1/workspaces/{owner.workspace_id}/files", headers=owner.headers, files={"file": audio}
        )
    assert uploaded.status_code == 201, uploaded.text
    served_before = remote_voxhub.transcriptions_served()

    jobs = f"/api/v1/workspaces/{owner.workspace_id}/jobs"
    created = client.post(
        jobs,
        headers=owner.headers,
        json={
            "type": "transcribe",
            "input": {"file_id": uploaded.json()["id"]},
            "params": {"engine": "remote", "language": "en"},
        },
    )
    assert created.status_code == 202, created.text
    job = wait_for_job(client, owner, created.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    assert job["result"]["model"] == "whisper-1" and job["result"]["language"] == "en"
    assert job["result"]["words"] > 0
    assert word_error_rate(SENTENCE, job["result"]["text"]) <= 0.15, job["result"]["text"]
    assert remote_voxhub.transcriptions_served() == served_before + 1


@pytest.mark.parametrize("remote_via", ["provider_key"], indirect=True)
def test_v1_route_uses_the_workspace_remote_engine(
    client: TestClient, people: People, settings: Settings, remote_voxhub: RemoteVoxhub, speech: Speech
) -> None:
    settings.asr_engine = "remote"
    owner = people.create()
    point_workspace_at(client, owner, remote_voxhub)
    key = create_api_key(client, owner, "write")
    served_before = remote_voxhub.transcriptions_served()
    with speech.english.open("rb") as audio:
        answer = client.post(
            "/v1/audio/transcriptions",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("speech.wav", audio, "audio/wav")},
            data={"model": "whisper-1", "language": "en"},
        )
    assert answer.status_code == 200, answer.text
    assert word_error_rate(SENTENCE, answer.json()["text"]) <= 0.15
    assert remote_voxhub.transcriptions_served() == served_before + 1


# ---- translation through a chat-completions server ----


class ChatServer(LocalHTTPServer):
    """A minimal OpenAI chat-completions server: `reply(texts)` writes the assistant's answer to the JSON array of
    texts it is sent; `status` other than 200 answers every call with that error."""

    methods = ("POST",)

    def __init__(self, reply: Callable[[list[str]], str]) -> None:
        super().__init__()
        self.reply = reply
        self.status = 200
        self.calls: list[dict[str, Any]] = []

    def respond(self, request: RecordedRequest) -> Reply:
        body = request.json()
        self.calls.append({"path": request.path, "authorization": request.headers.get("authorization"), **body})
        if self.status != 200:
            return json_reply(self.status, {"error": {"message": f"status {self.status}", "type": "server_error"}})
        message = {"role": "assistant", "content": self.reply(json.loads(body["messages"][-1]["content"]))}
        return json_reply(200, {"object": "chat.completion", "choices": [{"index": 0, "message": message}]})


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    with ChatServer(reply=lambda texts: json.dumps([f"[pt] {text}" for text in texts])) as chat:
        yield chat


def translator(chat: ChatServer) -> RemoteTranslator:
    return RemoteTranslator(RemoteConfig(base_url=f"{chat.url}/v1", api_key="chat-key", model="gpt-test", timeout_s=10))


def test_translator_sends_batches_and_keeps_the_order(chat_server: ChatServer) -> None:
    texts = [f"Sentence number {index}." for index in range(45)]
    assert translator(chat_server).translate(texts, source="en", target="pt") == [f"[pt] {text}" for text in texts]
    assert [len(json.loads(call["messages"][-1]["content"])) for call in chat_server.calls] == [40, 5]
    first = chat_server.calls[0]
    assert first["path"] == "/v1/chat/completions" and first["authorization"] == "Bearer chat-key"
    assert first["model"] == "gpt-test" and first["temperature"] == 0
    assert "'en'" in first["messages"][0]["content"] and "'pt'" in first["messages"][0]["content"]


def test_translator_asks_one_by_one_when_a_batch_comes_back_wrong(chat_server: ChatServer) -> None:
    def reply(texts: list[str]) -> str:
        if len(texts) > 1:
            return json.dumps([f"[pt] {text}" for text in texts[:-1]])  # one short: the batch cannot be trusted
        return f"```json\n{json.dumps(['[pt] ' + texts[0]])}\n```"  # fenced, as chat models often answer

    chat_server.reply = reply
    texts = ["One.", "Two.", "Three."]
    assert translator(chat_server).translate(texts, source="en", target="pt") == [
        "[pt] One.",
        "[pt] Two.",
        "[pt] Three.",
    ]
    assert [len(json.loads(call["messages"][-1]["content"])) for call in chat_server.calls] == [3, 1, 1, 1]


def test_translator_takes_a_bare_answer_but_never_returns_the_source(chat_server: ChatServer) -> None:
    answers = {"Hello, world.": "Olá, mundo.", "Bye.": '"Tchau."'}
    chat_server.reply = lambda texts: "Sure! Here they are." if len(texts) > 1 else answers[texts[0]]
    translated = translator(chat_server).translate(["Hello, world.", "Bye."], source="en", target="pt")
    assert translated == ["Olá, mundo.", "Tchau."]
    chat_server.reply = lambda texts: "[]"
    with pytest.raises(EngineError) as empty:
        translator(chat_server).translate(["Hello, world."], source="en", target="pt")
    assert (empty.value.code, empty.value.transient) == ("remote_error", False)


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [(401, "remote_auth_failed", False), (503, "remote_error", True), (429, "remote_error", True)],
)
def test_translator_errors_say_whether_to_retry(
    chat_server: ChatServer, status: int, code: str, transient: bool
) -> None:
    chat_server.status = status
    with pytest.raises(EngineError) as failed:
        translator(chat_server).translate(["Hello."], source="en", target="pt")
    assert (failed.value.code, failed.value.transient) == (code, transient)
    assert f"status {status}" in failed.value.message
