"""Dub units from word timings: sentences, one speaker's sentences joined across short gaps, the cap on a unit's
length, slots up to the next speech less a guard, and starts moved to where the speech is heard."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxhub.dubbing.units import GUARD_S, MAX_UNIT_S, make_units, with_slots


def _segment(speaker: str, *words: tuple[float, float, str]) -> dict[str, Any]:
    return {
        "start": words[0][0],
        "end": words[-1][1],
        "speaker": speaker,
        "text": " ".join(text for _s, _e, text in words),
        "words": [{"start": start, "end": end, "word": text} for start, end, text in words],
    }


def test_one_speakers_sentences_close_together_are_one_unit_and_a_new_speaker_starts_another() -> None:
    transcript = {
        "segments": [
            _segment("A", (0.0, 0.4, "Hello"), (0.4, 0.9, "there.")),
            _segment("A", (1.1, 1.5, "How"), (1.5, 1.8, "are"), (1.8, 2.2, "you?")),  # 200 ms later: joined
            _segment("B", (2.3, 2.7, "Fine,"), (2.7, 3.1, "thanks.")),  # another speaker
            _segment("B", (4.0, 4.5, "Really.")),  # a second later: its own unit
        ]
    }
    units = make_units(transcript, duration_s=10.0)
    assert [(unit.speaker, unit.text) for unit in units] == [
        ("A", "Hello there. How are you?"),
        ("B", "Fine, thanks."),
        ("B", "Really."),
    ]
    assert [unit.index for unit in units] == [0, 1, 2]
    # each slot runs to the next speech less the guard; the last one to the end of the recording
    assert [unit.slot_end for unit in units] == [round(2.3 - GUARD_S, 3), round(4.0 - GUARD_S, 3), 10.0]


def test_a_long_sentence_is_cut_after_a_comma_within_the_cap() -> None:
    words = [(0.5 * n, 0.5 * n + 0.4, f"word{n}" + ("," if n == 15 else "")) for n in range(40)]
    words[-1] = (words[-1][0], words[-1][1], "end.")
    units = make_units({"segments": [_segment("A", *words)]}, duration_s=30.0)
    assert all(unit.end - unit.start <= MAX_UNIT_S for unit in units)
    assert units[0].text.endswith("word15,")
    assert " ".join(unit.text for unit in units) == " ".join(text for _s, _e, text in words)


def test_a_segment_without_word_timings_is_one_unit() -> None:
    transcript = {"segments": [{"start": 1.0, "end": 3.0, "speaker": None, "text": " Plain text. ", "words": []}]}
    (unit,) = make_units(transcript, duration_s=5.0)
    assert (unit.start, unit.end, unit.text, unit.slot_end) == (1.0, 3.0, "Plain text.", 5.0)


def test_a_start_whisper_put_too_early_moves_to_where_the_speech_is_heard() -> None:
    rate = 16_000
    samples = np.full(5 * rate, 0.003, dtype=np.float32) * np.sin(np.arange(5 * rate) * 0.05)  # a quiet bed
    speech = slice(int(1.5 * rate), int(3.0 * rate))
    samples[speech] += 0.3 * np.sin(np.arange(speech.stop - speech.start) * 0.2)
    # Whisper stretched the first word back over the bed to 0.9 s
    transcript = {"segments": [_segment("A", (0.9, 1.9, "Hello"), (1.9, 2.8, "world."))]}
    (unit,) = make_units(transcript, duration_s=5.0, samples=samples, rate=rate)
    assert abs(unit.start - 1.5) <= 0.02 and abs(unit.end - 3.0) <= 0.02


def test_slots_follow_edited_times_and_never_end_before_their_unit() -> None:
    transcript = {"segments": [_segment("A", (0.0, 1.0, "One.")), _segment("A", (3.0, 4.0, "Two."))]}
    units = make_units(transcript, duration_s=6.0)
    units[1].start = 0.5  # an edit that overlaps the first unit
    units = with_slots(units, duration_s=6.0)
    assert units[0].slot_end == units[0].end  # squeezed, never shorter than the line itself


def test_a_word_whisper_put_on_the_wrong_side_of_a_pause_goes_with_the_words_it_is_heard_with() -> None:
    rate = 16_000
    samples = np.full(8 * rate, 0.003, dtype=np.float32) * np.sin(np.arange(8 * rate) * 0.05)
    for begin, end in ((0.5, 2.0), (5.0, 6.5)):  # two lines, the music alone between them
        speech = slice(int(begin * rate), int(end * rate))
        samples[speech] += 0.3 * np.sin(np.arange(speech.stop - speech.start) * 0.2)
    # "Thank" is said at 5.0 but timed straight after "warm", where only the music plays
    transcript = {
        "segments": [
            _segment("A", (0.5, 1.2, "will"), (1.2, 1.5, "be"), (1.5, 2.0, "warm")),
            _segment("A", (2.0, 2.8, "Thank"), (5.3, 5.8, "you"), (5.8, 6.5, "all.")),
        ]
    }
    units = make_units(transcript, duration_s=8.0, samples=samples, rate=rate)
    assert [unit.text for unit in units] == ["will be warm", "Thank you all."], units
    assert abs(units[1].start - 5.0) <= 0.05
