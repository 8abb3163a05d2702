"""Transcript exports, read back the way a player reads them: SubRip through `srt`, WebVTT through `webvtt-py`.
Every subtitle file must parse, keep every word in order, and respect the layout: line length, lines per cue,
cue duration, no overlaps, nothing outside the audio."""

from __future__ import annotations

import html
import itertools
import json
import math
import random
import re
from dataclasses import dataclass
from typing import Any

import pytest
import srt
import webvtt

from voxhub.errors import BadRequest
from voxhub.transcripts.formats import CONTENT_TYPES, FORMATS, cues, render, to_srt, to_tsv, to_txt, to_vtt

FOX = "The quick brown fox jumps over the lazy dog."


# ---- transcripts shaped like faster-whisper's ----


def whisper_segment(
    start: float, text: str, *, seconds_per_word: float = 0.4, speaker: str | None = None, with_words: bool = True
) -> dict[str, Any]:
    """A segment as faster-whisper stores it: text and words with leading spaces, words one after another."""
    spelled = [" " + word for word in text.split()]
    words = []
    at = start
    for word in spelled:
        words.append(
            {"start": round(at, 3), "end": round(at + 0.8 * seconds_per_word, 3), "word": word, "probability": 0.9}
        )
        at += seconds_per_word
    segment: dict[str, Any] = {
        "id": 0,
        "start": start,
        "end": round(at, 3),
        "text": "".join(spelled),
        "avg_logprob": -0.2,
        "no_speech_prob": 0.01,
        "words": words if with_words else [],
    }
    if speaker is not None:
        segment["speaker"] = speaker
    return segment


def make_transcript(
    *segments: dict[str, Any], duration_s: float | None = None, speakers: dict[str, str] | None = None
) -> dict[str, Any]:
    for number, segment in enumerate(segments):
        segment["id"] = number
    end = max((segment["end"] for segment in segments), default=0.0)
    transcript: dict[str, Any] = {
        "language": "en",
        "language_probability": 0.99,
        "duration_s": duration_s if duration_s is not None else end + 1.0,
        "model": "base",
        "segments": list(segments),
    }
    if speakers is not None:
        transcript["speakers"] = speakers
    return transcript


def spoken_words(transcript: dict[str, Any]) -> list[str]:
    in_time_order = sorted(transcript["segments"], key=lambda segment: segment["start"])
    return " ".join(segment["text"] for segment in in_time_order).split()


# ---- reading the files back ----


@dataclass
class Shown:
    """A cue as a player shows it."""

    start: float
    end: float
    lines: list[str]
    speaker: str | None


def read_srt(text: str, speakers: tuple[str, ...] = ()) -> list[Shown]:
    subtitles = list(srt.parse(text))
    assert [subtitle.index for subtitle in subtitles] == list(range(1, len(subtitles) + 1))
    shown = []
    for subtitle in subtitles:
        lines = subtitle.content.split("\n")
        speaker = next((name for name in speakers if lines[0].startswith(f"{name}: ")), None)
        if speaker:
            lines[0] = lines[0].removeprefix(f"{speaker}: ")
        shown.append(Shown(subtitle.start.total_seconds(), subtitle.end.total_seconds(), lines, speaker))
    return shown


def read_vtt(text: str) -> list[Shown]:
    assert text.startswith("WEBVTT\n")
    shown = []
    for caption in webvtt.from_string(text).captions:
        lines = list(caption.lines)
        lines[0] = re.sub(r"^<v [^>]*>", "", lines[0])
        assert not any(re.search(r"[<>]|&(?!amp;|lt;|gt;)", line) for line in lines), "markup is escaped"
        voice = html.unescape(caption.voice) if caption.voice else None
        start, end = caption.start_time.in_milliseconds() / 1000, caption.end_time.in_milliseconds() / 1000
        shown.append(Shown(start, end, [html.unescape(line) for line in lines], voice))
    return shown


def assert_well_laid_out(
    shown: list[Shown],
    transcript: dict[str, Any],
    *,
    max_line_chars: int = 42,
    max_lines: int = 2,
    max_cue_s: float = 7.0,
) -> None:
    for cue in shown:
        assert 0 <= cue.start < cue.end <= transcript["duration_s"], cue
        assert cue.end - cue.start <= max_cue_s + 1e-9, cue
        assert 1 <= len(cue.lines) <= max_lines, cue
        for line in cue.lines:
            assert line and line == line.strip(), cue
            assert len(line) <= max_line_chars or " " not in line, f"only a single long word may overflow: {line!r}"
    for before, after in itertools.pairwise(shown):
        assert before.end <= after.start, (before, after)
    assert " ".join(" ".join(cue.lines) for cue in shown).split() == spoken_words(transcript)


def a_conversation() -> dict[str, Any]:
    return make_transcript(
        whisper_segment(0.0, FOX, speaker="S1"),
        whisper_segment(4.2, "Is it? I never saw a fox that quick, nor a dog that lazy.", speaker="S2"),
        whisper_segment(9.5, "Foxes are quick, dogs are lazy, and everyone knows that.", speaker="S1"),
        whisper_segment(
            15.0,
            "Well, I have heard that some dogs are rather quick and that some foxes sleep most of the day, "
            "which is not very different from what my own dog does on a Sunday afternoon after a long walk.",
            speaker="S2",
            seconds_per_word=0.3,
        ),
        speakers={"S1": "Alice", "S2": "Bob"},
    )


# ---- subtitles ----


def test_srt_reads_back_as_well_laid_out_cues_with_every_word_in_order() -> None:
    transcript = a_conversation()

    shown = read_srt(to_srt(transcript), speakers=("Alice", "Bob"))

    assert_well_laid_out(shown, transcript)
    assert len(shown) == len(cues(transcript)) > len(transcript["segments"]), "the long turn is split"
    assert [cue.speaker for cue in shown[:3]] == ["Alice", "Bob", "Alice"]
    assert {cue.speaker for cue in shown[3:]} == {"Bob"}


def test_vtt_reads_back_as_well_laid_out_cues_with_voices() -> None:
    transcript = a_conversation()

    shown = read_vtt(to_vtt(transcript))

    assert_well_laid_out(shown, transcript)
    assert [cue.speaker for cue in shown] == [cue.speaker for cue in cues(transcript)]
    assert [cue.speaker for cue in shown[:3]] == ["Alice", "Bob", "Alice"]


@pytest.mark.parametrize("seed", range(12))
def test_any_transcript_and_layout_give_subtitles_that_parse_and_keep_every_word(seed: int) -> None:
    rng = random.Random(seed)
    vocabulary = ["a", "the", "fox", "dog", "runs", "over", "quickly", "and", "then", "well,", "yes.", "no?", "wow!"]
    vocabulary += ["extraordinarily-long-hyphenated-compound-word", "straße", "日本語", "café"]
    segments = []
    at = 0.0
    for _ in range(rng.randint(1, 25)):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 60)))
        segment = whisper_segment(
            at,
            text,
            seconds_per_word=rng.choice([0.0, 0.05, 0.3, 0.8]),
            speaker=rng.choice([None, "S1", "S2"]),
            with_words=rng.random() < 0.6,
        )
        segments.append(segment)
        at = segment["end"] + rng.choice([0.0, 0.01, 0.5, 3.0])
    transcript = make_transcript(*segments, speakers={"S1": "Alice"})
    layout: dict[str, Any] = {
        "max_line_chars": rng.choice([12, 32, 42]),
        "max_lines": rng.choice([1, 2, 3]),
        "max_cue_s": rng.choice([1.5, 7.0]),
    }

    from_srt = read_srt(render(transcript, "srt", **layout), speakers=("Alice", "S2"))
    from_vtt = read_vtt(render(transcript, "vtt", **layout))

    assert_well_laid_out(from_srt, transcript, **layout)
    assert_well_laid_out(from_vtt, transcript, **layout)
    assert from_srt == from_vtt


def test_a_long_segment_is_split_at_word_boundaries_timed_by_its_words() -> None:
    segment = whisper_segment(
        10.0,
        "and so the long story went on and on without a single pause for breath while everybody in the room "
        "slowly fell asleep one after another until only the storyteller was left awake",
        seconds_per_word=0.6,
    )
    transcript = make_transcript(segment)
    words = segment["words"]

    shown = read_srt(to_srt(transcript))

    assert_well_laid_out(shown, transcript)
    assert len(shown) >= 3
    first_word = 0
    for cue in shown:
        count = len(" ".join(cue.lines).split())
        assert cue.start == words[first_word]["start"]
        assert cue.end == words[first_word + count - 1]["end"]
        first_word += count
    assert first_word == len(words)


def test_a_split_prefers_to_fall_after_punctuation() -> None:
    transcript = make_transcript(whisper_segment(0.0, "One two three. Four five six seven eight nine ten."))

    shown = read_srt(to_srt(transcript, max_line_chars=20, max_lines=1))

    assert shown[0].lines == ["One two three."]
    assert_well_laid_out(shown, transcript, max_line_chars=20, max_lines=1)


def test_a_segment_without_words_is_split_in_proportion_to_its_characters() -> None:
    segment = whisper_segment(3.0, f"{FOX} {FOX} {FOX} {FOX}", seconds_per_word=0.7, with_words=False)
    transcript = make_transcript(segment)

    shown = read_vtt(to_vtt(transcript))

    assert_well_laid_out(shown, transcript)
    assert len(shown) > 1
    assert shown[0].start == segment["start"] and shown[-1].end == segment["end"]
    assert all(before.end == after.start for before, after in itertools.pairwise(shown)), "no gaps"
    per_char = (segment["end"] - segment["start"]) / len(segment["text"].strip())
    for cue in shown:
        assert cue.end - cue.start == pytest.approx(per_char * (len(" ".join(cue.lines)) + 1), abs=0.01 + per_char)


def test_words_that_do_not_spell_the_text_are_ignored_for_timing() -> None:
    segment = whisper_segment(0.0, FOX * 3, seconds_per_word=0.9)
    segment["words"] = segment["words"][:3]  # a truncated word list
    transcript = make_transcript(segment)

    shown = read_srt(to_srt(transcript))

    assert_well_laid_out(shown, transcript)
    assert shown[-1].end == segment["end"]


def test_lines_are_wrapped_at_words_and_balanced() -> None:
    transcript = make_transcript(
        whisper_segment(0.0, "The quick brown fox jumps over the lazy dog and keeps on running")
    )

    [cue] = read_srt(to_srt(transcript))

    assert len(cue.lines) == 2
    assert all(len(line) <= 42 for line in cue.lines)
    assert abs(len(cue.lines[0]) - len(cue.lines[1])) <= 8, cue.lines


def test_a_word_longer_than_a_line_stays_whole_on_its_own_line() -> None:
    transcript = make_transcript(whisper_segment(0.0, "It was supercalifragilisticexpialidocious indeed"))

    shown = read_srt(to_srt(transcript, max_line_chars=10, max_lines=2))

    assert "supercalifragilisticexpialidocious" in [line for cue in shown for line in cue.lines]
    assert_well_laid_out(shown, transcript, max_line_chars=10)


def test_words_without_spaces_are_wrapped_without_adding_spaces() -> None:
    words = ["今日", "は", "とても", "いい", "天気", "です", "ね。", "散歩", "に", "行き", "ましょう", "か。"]
    segment = whisper_segment(0.0, " ".join(words))
    for word in segment["words"]:
        word["word"] = word["word"].strip()  # Whisper's Japanese words carry no spaces
    segment["text"] = "".join(words)
    transcript = make_transcript(segment)

    shown = read_vtt(to_vtt(transcript, max_line_chars=8, max_lines=1))

    assert len(shown) > 1
    assert "".join(line for cue in shown for line in cue.lines) == segment["text"]
    assert all(len(cue.lines[0]) <= 8 for cue in shown)


# ---- speakers and escaping ----


def test_speakers_are_named_in_every_cue_and_never_share_one() -> None:
    transcript = make_transcript(
        whisper_segment(0.0, "Hi.", speaker="S1"),
        whisper_segment(0.5, "Hello.", speaker="S2"),
        whisper_segment(1.5, "How are you today?", speaker="S1"),
        whisper_segment(3.0, "Fine, thanks.", speaker=None),
        speakers={"S1": "Alice"},
    )

    srt_text = to_srt(transcript)
    shown = read_srt(srt_text, speakers=("Alice", "S2"))
    voices = [cue.speaker for cue in read_vtt(to_vtt(transcript))]

    assert [cue.lines for cue in shown] == [["Hi."], ["Hello."], ["How are you today?"], ["Fine, thanks."]]
    assert [cue.speaker for cue in shown] == voices == ["Alice", "S2", "Alice", None]
    assert "Alice: Hi.\n" in srt_text and "S2: Hello.\n" in srt_text


def test_vtt_escapes_markup_in_text_and_speaker_names() -> None:
    transcript = make_transcript(
        whisper_segment(0.0, "Tom & Jerry <3 --> a <b>bold</b> move", speaker="S1"),
        speakers={"S1": "Q&A <host>"},
    )

    vtt_text = to_vtt(transcript)
    [cue] = read_vtt(vtt_text)

    assert "<v Q&amp;A &lt;host&gt;>Tom &amp; Jerry &lt;3 --&gt; a &lt;b&gt;bold&lt;/b&gt; move" in vtt_text
    assert cue.lines == ["Tom & Jerry <3 --> a <b>bold</b> move"]
    assert cue.speaker == "Q&A <host>"


# ---- times ----


def test_hours_beyond_99_still_render_and_parse() -> None:
    transcript = make_transcript(
        whisper_segment(2 * 3600 + 5.25, "Two hours in."),
        whisper_segment(100 * 3600 + 0.5, "A hundred hours in."),
    )

    srt_text, vtt_text = to_srt(transcript), to_vtt(transcript)

    assert "02:00:05,250 --> " in srt_text and "100:00:00,500 --> " in srt_text
    assert "02:00:05.250 --> " in vtt_text and "100:00:00.500 --> " in vtt_text
    assert [cue.start for cue in read_srt(srt_text)] == [7205.25, 360000.5]
    assert [cue.start for cue in read_vtt(vtt_text)] == [7205.25, 360000.5]
    assert to_tsv(transcript).splitlines()[2].startswith("360000500\t")


def test_negative_and_nan_times_are_clamped_to_zero() -> None:
    segment = whisper_segment(0.0, "Before the start.")
    segment.update(start=-2.0, end=math.nan)
    for word in segment["words"]:
        word.update(start=-1.0, end=math.nan)
    transcript = make_transcript(segment, duration_s=5.0)

    [cue] = read_srt(to_srt(transcript))

    assert cue.start == 0.0 and cue.end == 0.2
    assert to_tsv(transcript).splitlines()[1] == "0\t0\tBefore the start."


def test_cues_never_overlap_and_last_long_enough_to_read_where_there_is_room() -> None:
    transcript = make_transcript(
        whisper_segment(5.0, "Later.", with_words=False),  # out of order in the list
        whisper_segment(1.0, "Blip.", seconds_per_word=0.05, with_words=False),
        whisper_segment(1.1, "Right after.", with_words=False),
        whisper_segment(3.0, "Same start.", with_words=False),
        whisper_segment(3.0, "Same start again.", with_words=False),
        whisper_segment(4.0, "No time.", seconds_per_word=0.0, with_words=False),
        duration_s=6.0,
    )
    transcript["segments"].append({"id": 9, "start": 5.9, "end": 5.95, "text": " Past the end?"})

    shown = read_srt(to_srt(transcript))

    assert [(cue.start, cue.end) for cue in shown] == [
        (1.0, 1.1),  # shorter than 0.2 s: the next cue starts sooner
        (1.1, 1.9),
        (3.0, 3.8),
        (3.8, 4.0),  # starts when the cue before it ends, and ends when the next one starts
        (4.0, 4.2),  # a segment without duration is shown for 0.2 s
        (5.0, 5.4),
        (5.9, 6.0),  # not past the end of the audio
    ]
    assert_well_laid_out(shown, transcript)


def test_a_cue_ends_with_the_audio_even_when_its_segment_runs_past() -> None:
    transcript = make_transcript(whisper_segment(10.0, FOX), duration_s=12.3)
    transcript["segments"][0]["end"] = 12.9

    shown = read_vtt(to_vtt(transcript, max_cue_s=30))

    assert shown[-1].end <= 12.3


# ---- empty, unicode ----


@pytest.mark.parametrize(
    "transcript",
    [
        {},
        make_transcript(),
        make_transcript({"start": 0.0, "end": 1.0, "text": "  ", "words": []}, {"start": 1.0, "end": 2.0, "text": ""}),
    ],
)
def test_a_transcript_without_text_renders_valid_empty_files(transcript: dict[str, Any]) -> None:
    assert to_srt(transcript) == ""
    assert list(srt.parse(to_srt(transcript))) == []
    assert to_vtt(transcript) == "WEBVTT\n"
    assert webvtt.from_string(to_vtt(transcript)).captions == []
    assert to_tsv(transcript) == "start\tend\ttext\n"
    assert to_txt(transcript) == ""
    assert cues(transcript) == []
    assert json.loads(render(transcript, "json")) == transcript


def test_unicode_text_survives_every_format() -> None:
    text = "Ça va très bien, naïve café — straße 日本語のテキスト 🎉 ünïcödé"
    transcript = make_transcript(whisper_segment(0.0, text, speaker="S1"), speakers={"S1": "Zoë"})

    assert_well_laid_out(read_srt(to_srt(transcript), speakers=("Zoë",)), transcript)
    assert_well_laid_out(read_vtt(to_vtt(transcript)), transcript)
    assert to_txt(transcript) == f"Zoë: {text}\n"
    assert to_tsv(transcript).splitlines()[1].split("\t")[2:] == [text, "Zoë"]
    assert "日本語のテキスト 🎉" in render(transcript, "json")
    assert json.loads(render(transcript, "json")) == transcript


# ---- txt, tsv, json ----


def test_txt_is_paragraphs_by_speaker_turn_without_whisper_spaces() -> None:
    transcript = make_transcript(
        whisper_segment(0.0, "Hello there.", speaker="S1"),
        whisper_segment(1.0, "How are you?", speaker="S1"),
        whisper_segment(2.5, "Fine.", speaker="S2"),
        whisper_segment(3.0, "Good to hear.", speaker="S1"),
        speakers={"S1": "Alice"},
    )

    assert to_txt(transcript) == "Alice: Hello there. How are you?\n\nS2: Fine.\n\nAlice: Good to hear.\n"


def test_txt_without_speakers_starts_a_paragraph_after_a_long_pause() -> None:
    transcript = make_transcript(
        whisper_segment(0.0, "First thought."),
        whisper_segment(1.0, "Still the first."),
        whisper_segment(10.0, "After a long pause."),
    )

    assert to_txt(transcript) == "First thought. Still the first.\n\nAfter a long pause.\n"


def test_tsv_has_whisper_millisecond_rows_and_a_speaker_column_only_when_labelled() -> None:
    segment = whisper_segment(1.2345, "tab\there")
    segment["text"] = " tab\there and\nnewline"
    plain = make_transcript(segment)
    labelled = make_transcript(
        whisper_segment(0.0, "Hi.", speaker="S1"), whisper_segment(1.0, "Hey."), speakers={"S1": "Alice"}
    )

    assert to_tsv(plain) == f"start\tend\ttext\n1234\t{round(segment['end'] * 1000)}\ttab here and newline\n"
    assert [row.split("\t") for row in to_tsv(labelled).splitlines()] == [
        ["start", "end", "text", "speaker"],
        ["0", "400", "Hi.", "Alice"],
        ["1000", "1400", "Hey.", ""],
    ]


def test_json_is_the_transcript_as_stored() -> None:
    transcript = a_conversation()

    rendered = render(transcript, "json")

    assert json.loads(rendered) == transcript
    assert "\n" not in rendered


# ---- render ----


def test_render_serves_every_format_with_its_content_type() -> None:
    transcript = a_conversation()

    assert set(CONTENT_TYPES) == set(FORMATS)
    assert render(transcript, "srt") == to_srt(transcript)
    assert render(transcript, "vtt") == to_vtt(transcript)
    assert render(transcript, "txt") == to_txt(transcript)
    assert render(transcript, "tsv") == to_tsv(transcript)
    narrow = read_srt(render(transcript, "srt", max_line_chars=16, max_lines=1, max_cue_s=2.0), ("Alice", "Bob"))
    assert_well_laid_out(narrow, transcript, max_line_chars=16, max_lines=1, max_cue_s=2.0)


def test_render_refuses_an_unknown_format() -> None:
    with pytest.raises(BadRequest) as refused:
        render(a_conversation(), "docx")

    assert refused.value.status_code == 400
    assert refused.value.code == "unsupported_format"


@pytest.mark.parametrize("layout", [{"max_line_chars": 0}, {"max_lines": 0}, {"max_cue_s": 0.0}])
def test_an_impossible_layout_is_refused(layout: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        cues(a_conversation(), **layout)
