"""What a voice reads: markup is never read aloud, and addresses, symbols and abbreviations come out as words, in
English or Portuguese."""

from __future__ import annotations

import re

import pytest

from voxhub.podcasts.speakable import plain, speakable

# Characters a voice would read as a word, or choke on, when they reach it.
MARKUP = re.compile(r"[*#<>\[\]_`|~=+&%$€£°@/\\{}^]|https?:|www\.")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("**Solar** panels are _cheap_ now.", "Solar panels are cheap now."),
        ("See [our guide](https://example.com/guide?x=1) today.", "See our guide today."),
        ("An image: ![a rooftop](roof.png)", "An image: a rooftop"),
        ("Call <b>now</b>, <i>really</i>.<br>Thanks &amp; bye", "Call now, really. Thanks and bye"),
        ("# Costs\n\n- panels\n- batteries\n1. first\n> quoted", "Costs. panels. batteries. first. quoted"),
        ("Use `pip install` and ~~not~~ this", "Use pip install and not this"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a, b. 1, 2"),
        ("<Person1>Hello there.</Person1><Person2>Hi!</Person2>", "Hello there. Hi!"),
    ],
)
def test_markup_is_never_read_aloud(text: str, said: str) -> None:
    assert speakable(text) == said


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Sure (laughs) that works.", "Sure that works."),
        ("*sighs* Fine, *clears throat* go on.", "Fine, go on."),
        ("A sentence that wraps\nat the end of a line.", "A sentence that wraps at the end of a line."),
        ("[music plays] Welcome back. [1]", "Welcome back."),
        ("Host 1: Welcome to the show.", "Welcome to the show."),
        ("Speaker B: Thanks!", "Thanks!"),
        ("Great news 🎉🚀 today", "Great news today"),
        ("Costs went up (by a lot) this year.", "Costs went up (by a lot) this year."),
    ],
)
def test_stage_directions_labels_and_emoji_are_dropped_but_asides_stay(text: str, said: str) -> None:
    assert plain(text) == said


def test_a_hosts_name_before_the_words_is_dropped() -> None:
    assert plain("Alex: So, the panels.", speakers=["Alex", "Sam"]) == "So, the panels."
    assert plain("**Sam:** Right.", speakers=["Alex", "Sam"]) == "Right."
    # A name inside the sentence is what the host says.
    assert plain("Sam, what do you think?", speakers=["Alex", "Sam"]) == "Sam, what do you think?"


@pytest.mark.parametrize(
    ("text", "english", "portuguese"),
    [
        ("Visit https://www.lisboa.pt/solar.", "Visit lisboa dot pt.", "Visit lisboa ponto pt."),
        ("Docs at voxhub.io/docs", "Docs at voxhub dot io", "Docs at voxhub ponto io"),
        (
            "Mail ana.silva@example.com",
            "Mail ana dot silva at example dot com",
            "Mail ana ponto silva arroba example ponto com",
        ),
        ("It fell 90%", "It fell 90 percent", "It fell 90 por cento"),
        ("It costs $5,000.", "It costs 5,000 dollars.", "It costs 5,000 dólares."),
        ("It costs €1", "It costs 1 euro", "It costs 1 euro"),
        ("A €2.5bn plan", "A 2.5 billion euros plan", "A 2.5 bilhões de euros plan"),
        ("R$ 3 milhões", "3 million reais", "3 milhões de reais"),
        ("It was 30°C", "It was 30 degrees Celsius", "It was 30 graus Celsius"),
        ("Salt & pepper", "Salt and pepper", "Salt e pepper"),
        ("x = 5 + 3", "x equals 5 plus 3", "x igual a 5 mais 3"),
        ("C++ vs. Rust", "C plus plus versus Rust", "C mais mais versus Rust"),
        ("e.g. solar", "for example, solar", "por exemplo, solar"),
        ("input/output", "input slash output", "input ou output"),
        ("2010–2020", "2010 to 2020", "2010 a 2020"),  # noqa: RUF001
        ("#1 in #energy", "number 1 in hashtag energy", "número 1 in hashtag energy"),
        ("Dr. Silva said", "Doctor Silva said", "doutor Silva said"),
    ],
)
def test_addresses_symbols_and_abbreviations_are_said_as_words(text: str, english: str, portuguese: str) -> None:
    assert speakable(text, "en") == english
    assert speakable(text, "pt-BR") == portuguese


def test_other_languages_get_english_words_and_numbers_are_left_to_the_voice() -> None:
    assert speakable("50% & 24/7, 1/2", "de") == "50 percent and 24/7, 1/2"
    assert speakable("p. ex. 3 vs 4", "pt") == "por exemplo, 3 versus 4"


def test_a_markdown_document_comes_out_without_anything_a_voice_would_spell() -> None:
    document = """# Rooftop solar

**3,200 homes** have panels (see [the map](https://lisboa.pt/map)); the goal is 10,000 by 2030.

* Panels fell ~90% in price — from €50,000 to €5,000.
* Batteries: `4 kWh`, about $4k each <small>(2024)</small>.

> Contact: solar@lisboa.pt | #solar | @lisboa

---
Temperature: 30°C; input/output = 1 + 1 & more_words [1]
"""
    said = speakable(document)

    assert not MARKUP.search(said), said
    for words in (
        "3,200 homes",
        "the map",
        "approximately 90 percent",
        "5,000 euros",
        "4 thousand dollars",
        "solar at lisboa dot pt",
        "hashtag solar",
        "at lisboa",
        "30 degrees Celsius",
        "more words",
    ):
        assert words in said, (words, said)  # fmt: skip
