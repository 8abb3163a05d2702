"""ElevenLabs and Unreal Speech at the edge of the internet: real HTTP servers on loopback speaking the parts of their
APIs voxhub uses, answering with real audio (a sine tone per voice, as long as the text would take to say) so what
voxhub makes of it can be checked with ffprobe."""

from __future__ import annotations

import email.parser
import email.policy
import hmac
import json
import math
import secrets
import struct
import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_http import LocalHTTPServer, RecordedRequest, Reply

SECONDS_PER_CHAR = 0.05  # ~12 characters a second, about how fast people speak


def sine_pcm(seconds: float, *, rate: int, frequency: float) -> bytes:
    """Mono 16-bit little-endian samples of a tone at half scale."""
    count = int(seconds * rate)
    return struct.pack(f"<{count}h", *(int(16000 * math.sin(2 * math.pi * frequency * n / rate)) for n in range(count)))


def sine_mp3(seconds: float, *, frequency: float) -> bytes:
    """An MP3 of a tone, made by ffmpeg as Unreal Speech would send its speech."""
    tone = f"sine=frequency={frequency}:sample_rate=24000:duration={seconds:.3f}"
    encode = ["-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3", "pipe:1"]
    made = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", tone, *encode],
        capture_output=True,
        check=True,
    )
    return made.stdout


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def of_json(cls, status: int, body: Any) -> Answer:
        return cls(status, json.dumps(body).encode())


class FakeTTSProvider(LocalHTTPServer):
    """A TTS provider's API. Set `fail_with` to an (status, JSON body) to make every answer that error (an outage, a
    refused key, a spent quota), or only the next `failures_left` answers."""

    thread_name = "fake-tts"
    methods = ("GET", "POST", "DELETE")

    def __init__(self, *, token: str) -> None:
        super().__init__()
        self.token = token
        self.fail_with: tuple[int, Any] | None = None
        self.failures_left: int | None = None  # with fail_with: answer that error this many times, then recover

    def respond(self, request: RecordedRequest) -> Reply:
        with self._lock:
            failing = self.fail_with
            if failing and self.failures_left is not None:
                self.failures_left -= 1
                if self.failures_left <= 0:
                    self.fail_with = self.failures_left = None
        answer = Answer.of_json(*failing) if failing else self.answer(request)
        return answer.status, answer.content_type, answer.body, {}

    def answer(self, request: RecordedRequest) -> Answer:
        raise NotImplementedError

    def calls(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and urlsplit(r.path).path.startswith(path_prefix)]


@dataclass(frozen=True)
class UploadedFile:
    name: str
    data: bytes


def multipart_form(request: RecordedRequest) -> tuple[dict[str, str], list[UploadedFile]]:
    """A multipart/form-data body's fields and files, parsed as a server would."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields, files = {}, []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is not None:
            files.append(UploadedFile(filename, payload))
        else:
            fields[str(name)] = payload.decode()
    return fields, files


class FakeElevenLabs(FakeTTSProvider):
    """`GET /v1/voices`, `POST /v1/text-to-speech/{voice_id}?output_format=pcm_24000|mp3_44100_128`,
    `POST /v1/voices/add` (multipart: name, files) and `DELETE /v1/voices/{voice_id}`, behind `xi-api-key`."""

    thread_name = "fake-elevenlabs"
    PREMADE = {"21m00Tcm4TlvDq8ikWAM": ("Rachel", "female", 440.0), "AZnzlk1XvdvUeBnXmlld": ("Domi", "female", 550.0)}

    def __init__(self, *, token: str = "elevenlabs-test-key-for-the-fake") -> None:
        super().__init__(token=token)
        self.cloned: dict[str, dict[str, Any]] = {}

    @staticmethod
    def error(status: int, code: str, message: str) -> Answer:
        return Answer.of_json(status, {"detail": {"status": code, "message": message}})

    def answer(self, request: RecordedRequest) -> Answer:
        if not hmac.compare_digest(request.headers.get("xi-api-key", ""), self.token):
            return self.error(401, "invalid_api_key", "Invalid API key")
        url = urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        if request.method == "GET" and url.path == "/v1/voices":
            return Answer.of_json(200, {"voices": self._voices()})
        if request.method == "POST" and parts[:2] == ["v1", "text-to-speech"] and len(parts) == 3:
            return self._speak(parts[2], parse_qs(url.query), request)
        if request.method == "POST" and url.path == "/v1/voices/add":
            return self._clone(request)
        if request.method == "DELETE" and parts[:2] == ["v1", "voices"] and len(parts) == 3:
            if self.cloned.pop(parts[2], None) is None:
                return self.error(404, "voice_not_found", f"A voice with the voice_id {parts[2]} was not found.")
            return Answer.of_json(200, {"status": "ok"})
        return Answer.of_json(404, {"detail": "Not Found"})

    def _voices(self) -> list[dict[str, Any]]:
        premade = [
            {"voice_id": vid, "name": name, "category": "premade", "labels": {"gender": gender, "accent": "american"}}
            for vid, (name, gender, _tone) in self.PREMADE.items()
        ]
        cloned = [
            {"voice_id": vid, "name": voice["name"], "category": "cloned", "labels": voice["labels"]}
            for vid, voice in self.cloned.items()
        ]
        return premade + cloned

    def _speak(self, voice_id: str, query: dict[str, list[str]], request: RecordedRequest) -> Answer:
        known = {vid: tone for vid, (_n, _g, tone) in self.PREMADE.items()} | dict.fromkeys(self.cloned, 660.0)
        if voice_id not in known:
            return self.error(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")
        body = request.json()
        if not body.get("text") or not body.get("model_id"):
            return Answer.of_json(422, {"detail": [{"loc": ["body", "text"], "msg": "field required"}]})
        seconds = max(0.3, len(body["text"]) * SECONDS_PER_CHAR)
        output_format = (query.get("output_format") or ["mp3_44100_128"])[0]
        if output_format == "pcm_24000":
            return Answer(200, sine_pcm(seconds, rate=24000, frequency=known[voice_id]), "application/octet-stream")
        if output_format == "mp3_44100_128":
            return Answer(200, sine_mp3(seconds, frequency=known[voice_id]), "audio/mpeg")
        return self.error(400, "invalid_output_format", f"output_format {output_format} is not supported")

    def _clone(self, request: RecordedRequest) -> Answer:
        fields, files = multipart_form(request)
        if not fields.get("name") or not files:
            return Answer.of_json(422, {"detail": [{"loc": ["body", "files"], "msg": "field required"}]})
        voice_id = secrets.token_hex(10)
        labels = json.loads(fields.get("labels") or "{}")
        self.cloned[voice_id] = {"name": fields["name"], "labels": labels, "files": files, "fields": fields}
        return Answer.of_json(200, {"voice_id": voice_id, "requires_verification": False})


class FakeUnrealSpeech(FakeTTSProvider):
    """Unreal Speech's v8 `POST /stream` (JSON: Text up to 1,000 characters, VoiceId, Bitrate, Speed, Pitch, Codec)
    answering MP3, behind `Authorization: Bearer`."""

    thread_name = "fake-unrealspeech"
    VOICES = {"Scarlett": 330.0, "Dan": 220.0, "Will": 247.0, "Liv": 392.0, "Amy": 349.0, "Noah": 262.0}

    def __init__(self, *, token: str = "unrealspeech-test-key-for-the-fake") -> None:
        super().__init__(token=token)

    def answer(self, request: RecordedRequest) -> Answer:
        if not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {self.token}"):
            return Answer(401, b"Unauthorized", "text/plain")
        if (request.method, urlsplit(request.path).path) != ("POST", "/stream"):
            return Answer.of_json(404, {"message": "Not found"})
        body = request.json()
        text, voice = str(body.get("Text") or ""), body.get("VoiceId")
        if voice not in self.VOICES:
            return Answer.of_json(400, {"message": f"Invalid VoiceId: {voice}"})
        if not text or len(text) > 1000:
            return Answer.of_json(400, {"message": "Text must be 1 to 1000 characters"})
        seconds = max(0.3, len(text) * SECONDS_PER_CHAR)
        return Answer(200, sine_mp3(seconds, frequency=self.VOICES[voice]), "audio/mpeg")
