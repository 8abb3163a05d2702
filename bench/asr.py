"""Benchmark: `transcribe` jobs through voxhub's HTTP API, against faster-whisper called directly on the same audio.

In the same run:
- the audio: about `--minutes` of English speech made with voxhub's own TTS (`synthesize_file`, piper's joe voice,
  raw 16 kHz PCM), paragraph by paragraph, from a text written here that repeats with variation; the text spoken is
  kept as the reference for the word error rate. All of it goes into one 16 kHz mono WAV.
- baseline: faster-whisper's WhisperModel loaded from the directory voxhub resolves the model name to, with voxhub's
  device, compute type and options (VAD, word timestamps, default beam size, language detected), or
  BatchedInferencePipeline with voxhub's batch size for `batched`; the WAV read into samples and the segment generator
  consumed to the end, all timed.
- voxhub: `voxhub serve` (local executor, fresh SQLite data dir) with one user made by the CLI; the WAV is uploaded
  once, then for each model and mode one `transcribe` job is posted with params {model, batched} and polled until it
  succeeds. Its time runs from just before the POST to the job's `finished_at`; its transcript is read back through
  the API for the WER. Where the job's time went (queue, then each stage as polling first saw it) is printed with it.
Before anything is timed each side transcribes a 10-s clip once per model and mode, so both run with the model loaded.
With --repeats N each side runs N times, taking turns at going first, and the fastest run of each is reported.
Printed per run: seconds, real-time factor (audio seconds / processing seconds), CPU seconds (the baseline's own
process; the server's process and the ffmpeg it ran), WER, and the ratio voxhub speed / raw speed (target >= 0.9),
with the same ratio by CPU seconds beside it: on a shared machine wall time moves with whatever else runs, CPU time
far less. With a CUDA GPU (ctranslate2 sees one) everything runs again on cuda/float16; otherwise the run says so.
Progress goes to stderr, the figures to stdout; a failed job or a ratio under the target makes the run exit 1.

    .venv/bin/python bench/asr.py [--minutes 10] [--models base,tiny.en] [--modes sequential,batched] [--repeats 1]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

# `api` is bench/api.py (the script's folder is on sys.path): its way of running a server in its own process group.
from api import EMAIL, HOST, PASSWORD, Server, free_port, voxhub_command, voxhub_env

from voxhub.config import Settings
from voxhub.engines.asr import SAMPLE_RATE, resolve
from voxhub.pipelines.speech import decode_to_wav
from voxhub.pipelines.synthesize import SynthesizeParams, synthesize_file

TARGET_RATIO = 0.9
WARM_CLIP_S = 10.0
SMOKE_WARM_CLIP_S = 3.0
PARAGRAPH_PAUSE_S = 0.5
SENTENCES_PER_PARAGRAPH = 3
POLL_S = 0.5
MODES = {"sequential": False, "batched": True}
FINAL = ("succeeded", "failed", "canceled")

# ---- the text ----

# Written for this benchmark in the manner of an old country almanac, free to use. No digits, abbreviations, or words
# with two accepted spellings, so a correct transcript has only one way to be written.
SENTENCES = (
    "The river ran slowly past the old mill, and the swallows dipped low over the brown water.",
    "In the spring the farmers wait for the frost to leave the ground before they plant their seed.",
    "A good lamp, a warm coat, and a sound pair of boots will carry a walker through most winters.",
    "The baker opened his shop long before sunrise, and the smell of fresh bread filled the narrow street.",
    "Nobody could say who had built the stone bridge, but everyone agreed that it was older than the church.",
    "When the geese fly south early, the old people say that the snow will come before the harvest is in.",
    "The schoolmaster kept a small garden behind the school, where he grew beans, onions, and yellow roses.",
    "On market day the square was crowded with carts, and the sound of bargaining could be heard from the hill.",
    "A letter from the city arrived at the farm, and the whole family gathered in the kitchen to hear it read.",
    "The road to the coast was long and dusty, and the horses had to rest at every well along the way.",
    "She planted a row of apple trees along the fence, hoping that her grandchildren would pick the fruit.",
    "The lighthouse keeper wrote down the weather every evening in a thick book with a green cover.",
    "After the storm the fishermen walked along the shore, looking for nets and timber washed up by the waves.",
    "The miller said that a wheel which turns too fast will grind the flour too fine and wear out the stone.",
    "Every autumn the village held a fair, with music, dancing, and a contest for the largest pumpkin.",
    "The forest was so quiet that they could hear the leaves falling from the tall beech trees.",
    "A careful shepherd counts his flock twice before nightfall and once again before he goes to sleep.",
    "The old clock in the hall had stopped years ago, but no one in the house had the heart to move it.",
    "They crossed the meadow at dawn, when the grass was still wet and the mist hung over the stream.",
    "The blacksmith could shoe a horse in the time it took his brother to drink a cup of tea.",
    "It is said that a house with a cat by the fire is never lonely, however cold the night may be.",
    "The children ran down to the pond to watch the ducks, and came home with muddy shoes and red cheeks.",
    "The doctor rode out to the farms once a week, carrying medicine, news, and a basket of letters.",
    "Some drivers prefer the mountain road for its views, but the valley road is safer in bad weather.",
    "The library in the town hall was small, but it held a map of every river in the country.",
    "A wise cook tastes the soup before she adds the salt, and again before she carries it to the table.",
    "In the evening the sailors sang old songs about ships that had sailed away and never come back.",
    "The hills turned gold in the late summer, and the farmers worked from morning until the stars came out.",
    "His grandfather had taught him to read the clouds, and he was seldom caught outside without a coat.",
    "The widow kept bees at the edge of the orchard, and her honey was sold in every shop in the valley.",
)
NAMES = ("Anna", "Thomas", "Mary", "John", "Helen", "Peter", "Clara", "Walter", "Martha", "Henry")
PLACES = ("the river", "the market", "the old mill", "the churchyard", "the orchard", "the station", "the bakery")
THINGS = ("a basket of eggs", "a bundle of firewood", "a jar of honey", "a new hat", "a sack of flour", "a lantern")
WEATHER = ("cold", "wet", "windy", "bright", "foggy", "gentle", "long")
TEMPLATES = (
    "{name} walked down to {place} before breakfast and came back with {thing}.",
    "Nobody in the village remembered a winter as {weather} as the one that {name} described.",
    "When the wind turned, {name} closed the shutters and lit a lamp in the kitchen.",
    "{name} had promised to meet {other} at {place}, but the morning was {weather} and the road was slow.",
    "At {place} the talk was all of the {weather} weather and the price of {thing}.",
    "{other} asked {name} for {thing}, and in return offered to mend the gate by the barn.",
    "It was a {weather} afternoon when {name} first saw the ship come into the bay.",
    "{name} and {other} sat by the window until the candle burned down, talking about {place}.",
)


def paragraphs(seed: int = 7) -> Iterator[str]:
    """Paragraphs of the almanac text: every fixed sentence once per round, in a new order, with filled-in templates
    between them, so the text repeats with variation for as long as it is asked for."""
    rng = random.Random(seed)
    while True:
        deck = list(SENTENCES)
        rng.shuffle(deck)
        sentences: list[str] = []
        for sentence in deck:
            sentences.append(sentence)
            if rng.random() < 0.5:
                name, other = rng.sample(NAMES, 2)
                sentences.append(
                    rng.choice(TEMPLATES).format(
                        name=name,
                        other=other,
                        place=rng.choice(PLACES),
                        thing=rng.choice(THINGS),
                        weather=rng.choice(WEATHER),
                    )
                )
        for start in range(0, len(sentences), SENTENCES_PER_PARAGRAPH):
            yield " ".join(sentences[start : start + SENTENCES_PER_PARAGRAPH])


def text_of(characters: int) -> str:
    """At least `characters` of the almanac text, whole paragraphs."""
    chosen: list[str] = []
    for paragraph in paragraphs():
        chosen.append(paragraph)
        if sum(len(piece) + 1 for piece in chosen) >= characters:
            return "\n".join(chosen)
    raise AssertionError("unreachable")


# ---- the speech ----


def make_speech(target: Path, minutes: float, scratch: Path) -> tuple[str, float]:
    """About `minutes` of speech as a 16 kHz mono WAV, made paragraph by paragraph with voxhub's synthesize_file;
    the text spoken and the audio's length in seconds."""
    settings = Settings(data_dir=scratch / "data")
    params = SynthesizeParams(voice=settings.tts_voice, format="pcm", sample_rate=SAMPLE_RATE)
    pause = b"\0\0" * int(SAMPLE_RATE * PARAGRAPH_PAUSE_S)
    spoken: list[str] = []
    samples = 0
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for paragraph in paragraphs():
            if samples >= minutes * 60 * SAMPLE_RATE:
                break
            pcm_path, _info, _voice = synthesize_file(settings, paragraph, params, scratch, progress=lambda *_: None)
            pcm = (pause if spoken else b"") + pcm_path.read_bytes()
            out.writeframes(pcm)
            samples += len(pcm) // 2
            spoken.append(paragraph)
    return "\n".join(spoken), samples / SAMPLE_RATE


def cut_clip(source: Path, target: Path, seconds: float) -> None:
    with wave.open(str(source), "rb") as whole, wave.open(str(target), "wb") as clip:
        clip.setparams(whole.getparams())
        clip.writeframes(whole.readframes(int(seconds * whole.getframerate())))


def read_samples(path: Path) -> np.ndarray:
    """The WAV as float32 samples in [-1, 1], as faster-whisper takes them."""
    with wave.open(str(path), "rb") as handle:
        frames = handle.readframes(handle.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


# ---- word error rate ----


def words(text: str) -> list[str]:
    """Lower case, hyphens as spaces, punctuation gone: what the WER compares."""
    return [word.strip("'") for word in re.findall(r"[a-z0-9']+", text.lower().replace("-", " ")) if word.strip("'")]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance over words."""
    numbers: dict[str, int] = {}
    ref = [numbers.setdefault(word, len(numbers)) for word in words(reference)]
    hyp = [numbers.setdefault(word, len(numbers)) for word in words(hypothesis)]
    previous = list(range(len(hyp) + 1))
    for row, ref_word in enumerate(ref, 1):
        current = [row]
        for column, hyp_word in enumerate(hyp, 1):
            current.append(
                min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (ref_word != hyp_word))
            )
        previous = current
    return previous[-1] / max(len(ref), 1)


# ---- measuring ----


@dataclass(frozen=True)
class Device:
    name: str
    compute_type: str

    @property
    def label(self) -> str:
        return f"{self.name}/{self.compute_type}"


@dataclass(frozen=True)
class Timed:
    seconds: float
    cpu_s: float
    text: str
    detail: str = ""


@dataclass(frozen=True)
class Comparison:
    device: Device
    model: str
    mode: str
    audio_s: float
    raw: Timed
    voxhub: Timed
    raw_wer: float
    voxhub_wer: float

    @property
    def ratio(self) -> float:
        return self.raw.seconds / self.voxhub.seconds

    @property
    def cpu_ratio(self) -> float:
        """raw CPU seconds / voxhub's: moved far less than wall time by other load on the machine."""
        return self.raw.cpu_s / self.voxhub.cpu_s


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    """A process's CPU seconds, all its threads and the children it has waited for (ffmpeg)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- the baseline ----


class RawWhisper:
    """faster-whisper on its own, set up as voxhub sets it up (voxhub.engines.asr.WhisperTranscriber)."""

    def __init__(self, location: str, device: Device, batch_size: int) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(location, device=device.name, compute_type=device.compute_type, cpu_threads=0)
        self.batch_size = batch_size

    def transcribe(self, wav: Path, *, batched: bool) -> Timed:
        from faster_whisper import BatchedInferencePipeline

        options: dict[str, Any] = {
            "language": None,
            "task": "transcribe",
            "initial_prompt": None,
            "hotwords": None,
            "word_timestamps": True,
            "vad_filter": True,
        }
        cpu = own_cpu_s()
        started = time.perf_counter()
        samples = read_samples(wav)
        if batched:
            pieces, _info = BatchedInferencePipeline(self.model).transcribe(
                samples, batch_size=self.batch_size, **options
            )
        else:
            pieces, _info = self.model.transcribe(samples, **options)
        text = " ".join(text for piece in pieces if (text := piece.text.strip()))
        return Timed(time.perf_counter() - started, own_cpu_s() - cpu, text)


# ---- voxhub ----


class Voxhub:
    """`voxhub serve` on a fresh data dir with one user (made with the CLI), signed in, the given files uploaded."""

    def __init__(self, workdir: Path, device: Device, batch_size: int) -> None:
        self.home = workdir / f"voxhub-{device.name}"
        self.home.mkdir()
        self.settings = Settings(data_dir=self.home / "data")
        env = {
            **voxhub_env(self.settings.data_dir, token_ttl_s=24 * 3600),
            "VOXHUB_ASR_DEVICE": device.name,
            "VOXHUB_ASR_COMPUTE_TYPE": device.compute_type,
            "VOXHUB_ASR_BATCH_SIZE": str(batch_size),
            "VOXHUB_ASR_ALLOW_DOWNLOAD": "false",
            "VOXHUB_MODEL_IDLE_TTL_S": "0",  # a model warmed up stays loaded however long the other runs take
        }
        made = subprocess.run(
            [*voxhub_command(), "admin", "create-user", EMAIL, "--password", PASSWORD],
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise RuntimeError(f"voxhub admin create-user failed:\n{made.stdout}{made.stderr}")
        port = free_port()
        self.server = Server(
            f"voxhub-{device.name}",
            [*voxhub_command(), "serve", "--host", HOST, "--port", str(port)],
            env=env,
            workdir=self.home,
            port=port,
        )
        self.client = httpx.Client(base_url=self.server.url, timeout=120.0)
        self.workspace_id = ""

    def start(self) -> None:
        self.server.start("/healthz")
        tokens = self.client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        tokens.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {tokens.json()['access_token']}"
        workspaces = self.client.get("/api/v1/workspaces")
        workspaces.raise_for_status()
        self.workspace_id = workspaces.json()["items"][0]["id"]

    def stop(self) -> None:
        self.client.close()
        self.server.stop()

    @property
    def jobs_url(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}/jobs"

    def upload(self, path: Path) -> str:
        with path.open("rb") as handle:
            answer = self.client.post(
                f"/api/v1/workspaces/{self.workspace_id}/files", files={"file": (path.name, handle, "audio/wav")}
            )
        answer.raise_for_status()
        if answer.json()["status"] != "ready":
            raise RuntimeError(f"the uploaded {path.name} is not ready: {answer.json()}")
        return str(answer.json()["id"])

    def transcribe(self, file_id: str, *, model: str, batched: bool) -> Timed:
        """One job, from just before its POST to its `finished_at`; the stages as polling first saw them."""
        body = {"type": "transcribe", "input": {"file_id": file_id}, "params": {"model": model, "batched": batched}}
        server_pid = self.server.process.pid if self.server.process else 0
        cpu = process_cpu_s(server_pid)
        posted = time.time()
        answer = self.client.post(self.jobs_url, json=body)
        if answer.status_code != 202:
            raise RuntimeError(f"POST jobs answered {answer.status_code}: {answer.text}")
        job = answer.json()
        stages: dict[str, float] = {}
        while job["status"] not in FINAL:
            if self.server.process is not None and self.server.process.poll() is not None:
                raise RuntimeError(f"voxhub exited with {self.server.process.returncode}:\n{self.server.log_tail()}")
            time.sleep(POLL_S)
            polled = self.client.get(f"{self.jobs_url}/{job['id']}")
            polled.raise_for_status()
            job = polled.json()
            if job.get("stage"):
                stages.setdefault(job["stage"], time.time())
        cpu = process_cpu_s(server_pid) - cpu
        if job["status"] != "succeeded":
            raise RuntimeError(f"the transcribe job did not succeed: {job.get('error') or job}")
        transcript = self.client.get(f"{self.jobs_url}/{job['id']}/transcript")
        transcript.raise_for_status()
        text = " ".join(segment["text"] for segment in transcript.json()["segments"])
        started, finished = timestamp(job["timings"]["started_at"]), timestamp(job["timings"]["finished_at"])
        return Timed(finished - posted, cpu, text, stage_times(posted, started, finished, stages))


def timestamp(value: str) -> float:
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def stage_times(posted: float, started: float, finished: float, stages: dict[str, float]) -> str:
    """POST → claimed, then each stage from when polling first saw it to when it first saw the next (± POLL_S)."""
    parts = [f"queue {started - posted:.2f} s"]
    seen = sorted((item for item in stages.items() if item[1] < finished), key=lambda item: item[1])
    for index, (stage, since) in enumerate(seen):
        until = seen[index + 1][1] if index + 1 < len(seen) else finished
        parts.append(f"{stage} ~{max(until - since, 0):.1f} s")
    return ", ".join(parts)


# ---- the run ----


def bench_device(
    device: Device,
    workdir: Path,
    speech: Path,
    clip: Path,
    args: argparse.Namespace,
    reference: str,
    audio_s: float,
    servers: list[Voxhub],
) -> list[Comparison]:
    batch_size = Settings().asr_batch_size
    voxhub = Voxhub(workdir, device, batch_size)
    servers.append(voxhub)
    log(f"[{device.label}] starting voxhub, uploading the speech and the warm-up clip")
    voxhub.start()
    speech_id, clip_id = voxhub.upload(speech), voxhub.upload(clip)
    comparisons = []
    try:
        for model in args.models:
            # voxhub's own resolution, on its data dir: both sides load the very same files.
            raw = RawWhisper(resolve(model, voxhub.settings), device, batch_size)
            for mode in args.modes:
                batched = MODES[mode]
                log(f"[{device.label}] {model} {mode}: warming up both sides on the clip")
                voxhub.transcribe(clip_id, model=model, batched=batched)
                raw.transcribe(clip, batched=batched)
                raw_runs, voxhub_runs = [], []
                for repeat in range(args.repeats):
                    # Taking turns at going first, so neither side always runs on a warmer (or busier) machine.
                    for side in ("raw", "voxhub") if repeat % 2 == 0 else ("voxhub", "raw"):
                        log(f"[{device.label}] {model} {mode}: {side} on {audio_s:.0f} s ({repeat + 1}/{args.repeats})")
                        if side == "raw":
                            raw_runs.append(raw.transcribe(speech, batched=batched))
                        else:
                            voxhub_runs.append(voxhub.transcribe(speech_id, model=model, batched=batched))
                raw_run = min(raw_runs, key=lambda run: run.seconds)
                voxhub_run = min(voxhub_runs, key=lambda run: run.seconds)
                comparison = Comparison(
                    device,
                    model,
                    mode,
                    audio_s,
                    raw_run,
                    voxhub_run,
                    word_error_rate(reference, raw_run.text),
                    word_error_rate(reference, voxhub_run.text),
                )
                comparisons.append(comparison)
                print("\n".join(describe(comparison)), flush=True)
            del raw
            gc.collect()
    finally:
        voxhub.stop()
    return comparisons


def describe(comparison: Comparison) -> list[str]:
    lines = [f"[{comparison.device.label}] {comparison.model} {comparison.mode}"]
    for name, run, wer in (
        ("raw faster-whisper", comparison.raw, comparison.raw_wer),
        ("voxhub job", comparison.voxhub, comparison.voxhub_wer),
    ):
        lines.append(
            f"  {name:19} {run.seconds:7.1f} s  RTF {comparison.audio_s / run.seconds:6.1f}x  "
            f"CPU {run.cpu_s:6.1f} s  WER {wer:6.1%}" + (f"  ({run.detail})" if run.detail else "")
        )
    same = "identical" if comparison.raw.text == comparison.voxhub.text else "DIFFERENT"
    verdict = "ok" if comparison.ratio >= TARGET_RATIO else "BELOW TARGET"
    lines.append(
        f"  ratio voxhub/raw speed {comparison.ratio:.2f} {verdict} (by CPU seconds {comparison.cpu_ratio:.2f}); "
        f"transcripts {same}"
    )
    return lines


def summary(comparisons: list[Comparison]) -> int:
    print(
        f"\n{'device':13} {'model':8} {'mode':10} {'raw s':>7} {'voxhub s':>8} {'raw RTF':>8} {'vox RTF':>8} "
        f"{'raw WER':>8} {'vox WER':>8} {'ratio':>6} {'by CPU':>6}  verdict"
    )
    below = 0
    for c in comparisons:
        ok = c.ratio >= TARGET_RATIO
        below += not ok
        print(
            f"{c.device.label:13} {c.model:8} {c.mode:10} {c.raw.seconds:7.1f} {c.voxhub.seconds:8.1f} "
            f"{c.audio_s / c.raw.seconds:7.1f}x {c.audio_s / c.voxhub.seconds:7.1f}x "
            f"{c.raw_wer:8.1%} {c.voxhub_wer:8.1%} {c.ratio:6.2f} {c.cpu_ratio:6.2f}  {'ok' if ok else 'BELOW TARGET'}"
        )
    print(f"target: voxhub speed >= {TARGET_RATIO} of raw faster-whisper's")
    return 1 if below else 0


def devices() -> list[Device]:
    import ctranslate2

    found = [Device("cpu", "int8")]
    if ctranslate2.get_cuda_device_count() > 0:
        found.append(Device("cuda", "float16"))
    else:
        log("no CUDA GPU (ctranslate2 sees none): GPU figures skipped")
    return found


def comma_list(allowed: Callable[[str], bool], what: str) -> Callable[[str], list[str]]:
    def parse(value: str) -> list[str]:
        items = [item.strip() for item in value.split(",") if item.strip()]
        wrong = [item for item in items if not allowed(item)]
        if not items or wrong:
            raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(wrong) or value!r}")
        return items

    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="Length of the speech transcribed, minutes.")
    parser.add_argument(
        "--models", type=comma_list(lambda _: True, "model"), default=["base", "tiny.en"], help="Comma-separated."
    )
    parser.add_argument(
        "--modes",
        type=comma_list(lambda mode: mode in MODES, "mode"),
        default=list(MODES),
        help="sequential, batched, or both (comma-separated).",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="Timed runs per side, taking turns; the fastest of each is reported."
    )
    parser.add_argument("--timeout-s", type=int, default=3 * 3600, help="Give up (and clean up) after this long.")
    parser.add_argument("--smoke", action="store_true", help="A few seconds, tiny sizes: fails on errors, not targets.")
    args = parser.parse_args()
    if args.smoke:  # one paragraph of speech (~15 s), tiny.en, sequential, once, a 3-s warm-up clip
        args.minutes, args.models, args.modes, args.repeats = 0.1, ["tiny.en"], ["sequential"], 1
        args.timeout_s = min(args.timeout_s, 300)

    def give_up(signum: int, _frame: object) -> None:
        if signum == signal.SIGALRM:
            raise TimeoutError(f"the benchmark ran past --timeout-s {args.timeout_s}")
        raise SystemExit(143)

    # SIGTERM and the time limit take the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout_s)
    workdir = Path(tempfile.mkdtemp(prefix="voxhub-bench-asr-"))
    servers: list[Voxhub] = []
    try:
        speech, clip = workdir / "speech.wav", workdir / "clip.wav"
        log(f"making {args.minutes:g} min of speech with piper in {workdir}")
        started = time.perf_counter()
        (workdir / "tts").mkdir()
        reference, audio_s = make_speech(speech, args.minutes, workdir / "tts")
        made_s = time.perf_counter() - started
        cut_clip(speech, clip, min(SMOKE_WARM_CLIP_S if args.smoke else WARM_CLIP_S, audio_s))
        started = time.perf_counter()
        decode_to_wav(Settings(), speech, workdir / "decoded.wav", expected_s=audio_s, on_progress=lambda _: None)
        decode_s = time.perf_counter() - started
        print(
            f"{audio_s:.1f} s of speech ({len(words(reference))} words, made in {made_s:.0f} s); "
            f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}; "
            f"the job's ffmpeg pass to 16 kHz WAV alone takes {decode_s:.2f} s",
            flush=True,
        )
        comparisons = []
        for device in devices():
            comparisons += bench_device(device, workdir, speech, clip, args, reference, audio_s, servers)
        log(f"load average at the end {os.getloadavg()[0]:.1f}")
        status = summary(comparisons)
        return 0 if args.smoke else status  # a failed job has raised already
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception:
        for voxhub in servers:
            log(f"---- last lines of {voxhub.server.name}'s log ----\n{voxhub.server.log_tail()}")
        raise
    finally:
        signal.alarm(0)
        # Cleanup is bounded (each stop escalates to SIGKILL); a second Ctrl-C or SIGTERM must not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for voxhub in reversed(servers):
            voxhub.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
