"""Text made ready for TTS: spoken forms (English), language-neutral cleanup, sentence chunks and duration."""

from __future__ import annotations

import random

import pytest

from voxhub.engines.textnorm import estimate_seconds, normalize, split_sentences

PORTUGUESE = "Ação, coração e pão."
CHINESE_SENTENCES = ["你好。", "今天天气很好\uff01", "我们走吧\uff1f"]  # full-width ! and ?

# ---- normalize: English spoken forms ----


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("$25", "25 dollars"),
        ("$1", "1 dollar"),
        ("$3.50", "3 dollars 50 cents"),
        ("$2.5", "2 dollars 50 cents"),
        ("$0.99", "99 cents"),
        ("$0.01", "1 cent"),
        ("$1,000", "1,000 dollars"),
        ("$1.5 million", "1.5 million dollars"),
        ("$5k", "5 thousand dollars"),
        ("$3M", "3 million dollars"),
        ("€10", "10 euros"),
        ("€1", "1 euro"),
        ("10€", "10 euros"),
        ("2,50 €", "2 euros 50 cents"),
        ("£5", "5 pounds"),
        ("£2.50", "2 pounds 50 pence"),
        ("It costs $25.", "It costs 25 dollars."),
    ],
)
def test_money_is_spoken_as_amount_then_unit(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [("50%", "50 percent"), ("Up 3.5% today", "Up 3.5 percent today"), ("a 100 % refund", "a 100 percent refund")],
)
def test_percentages_are_spoken(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Dr. Smith is here.", "Doctor Smith is here."),
        ("Mr. and Mrs. Jones", "Mister and Missus Jones"),
        ("Ms. Lee", "Miz Lee"),
        ("Prof. Ada", "Professor Ada"),
        ("We flew to St. Louis.", "We flew to Saint Louis."),
        ("fruit, e.g. apples", "fruit, for example apples"),
        ("E.g. this one", "For example this one"),
        ("one thing, i.e. this", "one thing, that is this"),
        ("apples, pears, etc., and more", "apples, pears, et cetera, and more"),
        ("Lakers vs. Celtics vs Bulls", "Lakers versus Celtics versus Bulls"),
        ("I use VS Code", "I use VS Code"),
    ],
)
def test_abbreviations_are_spelled_out(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


def test_a_swallowed_sentence_ending_period_is_kept() -> None:
    assert normalize("Bring apples, pears, etc. Then go.") == "Bring apples, pears, et cetera. Then go."
    assert normalize("See you at 9 a.m. Bring coffee.") == "See you at 9 AM. Bring coffee."
    assert normalize("Open from 9 a.m. until noon") == "Open from 9 AM until noon"


def test_ampersand_and_at_are_words() -> None:
    assert normalize("Tom & Jerry") == "Tom and Jerry"
    assert normalize("R&D") == "R and D"
    assert normalize("ping @alice") == "ping at alice"


def test_numbers_and_ordinals_stay_digits_for_espeak() -> None:
    text = "On the 3rd of May 2024, 25 people ran 3.5 km; 1st place won 1,000 points."
    assert normalize(text) == text


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("3:30 pm", "3 30 PM"),
        ("at 3:30pm", "at 3 30 PM"),
        ("7:00 AM", "7 AM"),
        ("at 5 p.m. and", "at 5 PM and"),
        ("10:05", "10 oh 5"),
        ("9:00", "9 o'clock"),
        ("15:00", "15 hundred"),
        ("23:45:10", "23 45 and 10 seconds"),
        ("a 45:10 run", "a 45:10 run"),
    ],
)
def test_clock_times_are_spoken(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Mail john.smith@example.com today", "Mail john dot smith at example dot com today"),
        ("See https://www.example.com/docs.", "See www dot example dot com slash docs."),
        ("visit voxhub.io now", "visit voxhub dot io now"),
        ("Go to Google.com", "Go to Google dot com"),
        ("(https://en.wikipedia.org/wiki/A_(b))", "(en dot wikipedia dot org slash wiki slash A underscore (b))"),
        ("We won.It was great", "We won.It was great"),
    ],
)
def test_addresses_are_readable(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("\u201cIt\u2019s fine\u201d \u2014 she said", '"It\'s fine", she said'),
        ("pages 10\u201320", "pages 10 to 20"),
        ("the Paris\u2013London train", "the Paris-London train"),
        ("well-known", "well-known"),
        ("It was \u20135\u00b0C", "It was -5 degrees Celsius"),
        ("a \u22123 change", "a -3 change"),
        ("wait -- what", "wait, what"),
        ('"I was\u2014"', '"I was"'),
    ],
)
def test_quotes_and_dashes_are_plain(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Great job \U0001f389\U0001f44d\U0001f3fd!", "Great job!"),
        ("Hi \U0001f44b, there", "Hi, there"),
        ("x \u2192 y \u2714 done", "x y done"),
        ("\u00a9 2024 Acme\u2122\u00ae", "copyright 2024 Acme"),
        ("It is 20\u00b0C or 68 \u00b0F", "It is 20 degrees Celsius or 68 degrees Fahrenheit"),
        ("#1 fan, ~5 min", "number 1 fan, about 5 min"),
        ("\u2022 milk\n\u2022 eggs", "milk\neggs"),
    ],
)
def test_symbols_get_words_or_are_dropped(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


def test_whitespace_collapses_and_control_characters_go() -> None:
    assert normalize("Hello\t\t  world\x00\x07 !\r\n\n\n  Bye\u200b now\u00a0 ") == "Hello world!\nBye now"


def test_english_variants_get_english_rules() -> None:
    assert normalize("$25", "en-US") == "25 dollars"
    assert normalize("$25", "en_GB") == "25 dollars"


def test_other_languages_get_only_language_neutral_cleanup() -> None:
    text = "Olá\u200b  mundo\x00\n\n\u201cTchau\u201d, Dr. Silva: $25 & 50% \U0001f389"
    assert normalize(text, "pt") == 'Olá mundo\n"Tchau", Dr. Silva: $25 & 50% \U0001f389'


@pytest.mark.parametrize("language", ["en", "pt", "zh"])
def test_accents_and_cjk_are_preserved(language: str) -> None:
    assert normalize(PORTUGUESE, language) == PORTUGUESE
    assert normalize("".join(CHINESE_SENTENCES), language) == "".join(CHINESE_SENTENCES)
    assert normalize("ca\u0303o", language) == "c\u00e3o"  # decomposed accents are composed, not lost


def test_plain_words_are_never_dropped() -> None:
    rng = random.Random(7)
    words = ["the", "quick", "Brown", "fox", "não", "café", "it's", "well-known", "42", "3rd", "x", "OK"]
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        assert normalize(text) == text


# ---- split_sentences ----


def test_splits_after_sentences_not_after_abbreviations_or_decimals() -> None:
    text = "Dr. Smith arrived at 3.5 km/h. Then he left!"
    assert split_sentences(text) == ["Dr. Smith arrived at 3.5 km/h.", "Then he left!"]
    assert split_sentences(normalize(text)) == ["Doctor Smith arrived at 3.5 km/h.", "Then he left!"]


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        ("J. R. R. Tolkien wrote it. It sold well.", ["J. R. R. Tolkien wrote it.", "It sold well."]),
        ("Use a fruit, e.g. an apple. Done.", ["Use a fruit, e.g. an apple.", "Done."]),
        ("It costs approx. five euros. OK.", ["It costs approx. five euros.", "OK."]),
        ("Wait\u2026 What? No!", ["Wait\u2026", "What?", "No!"]),
        ("Wait... really?! Yes.", ["Wait...", "really?!", "Yes."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("(It was late.) We slept.", ["(It was late.)", "We slept."]),
        ("Title\n\nFirst paragraph. Second one.\nLast line", ["Title", "First paragraph.", "Second one.", "Last line"]),
        ("1. Buy milk\n2. Call Mom", ["1. Buy milk", "2. Call Mom"]),
        ("Olá, tudo bem? Sim. Obrigado!", ["Olá, tudo bem?", "Sim.", "Obrigado!"]),
    ],
)
def test_sentence_boundaries(text: str, chunks: list[str]) -> None:
    assert split_sentences(text) == chunks


def test_cjk_sentences_split_without_spaces() -> None:
    assert split_sentences("".join(CHINESE_SENTENCES)) == CHINESE_SENTENCES


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t \r\n", "\u200b"])
def test_empty_or_blank_text_gives_no_chunks(text: str) -> None:
    assert split_sentences(normalize(text)) == []
    assert split_sentences(text.replace("\u200b", " ")) == []


def test_long_sentence_splits_at_a_clause_mark_before_the_limit() -> None:
    clause = "the quick brown fox jumps over the lazy dog"  # 43 characters
    sentence = ", ".join([clause] * 6) + "."
    chunks = split_sentences(sentence, max_chars=100)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert all(chunk.endswith(",") for chunk in chunks[:-1])
    assert " ".join(chunks) == sentence


def test_long_sentence_without_clause_marks_splits_at_spaces() -> None:
    sentence = " ".join(f"word{i}" for i in range(500))
    chunks = split_sentences(sentence, max_chars=80)
    assert len(chunks) > 1
    assert all(0 < len(chunk) <= 80 and chunk == chunk.strip() for chunk in chunks)
    assert " ".join(chunks) == sentence


def test_a_word_longer_than_the_limit_is_not_cut() -> None:
    long_word = "x" * 50
    assert split_sentences(f"a {long_word} b", max_chars=10) == ["a", long_word, "b"]


def test_long_cjk_run_is_cut_between_characters() -> None:
    text = "\u6c49" * 1000
    chunks = split_sentences(text, max_chars=400)
    assert [len(chunk) for chunk in chunks] == [400, 400, 200]
    assert "".join(chunks) == text


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_sentences("Hello.", max_chars=0)


_VOCABULARY = [
    *["alpha", "Beta", "gamma", "Delta", "não", "café", "3.5", "1,000", "km/h", "x" * 60],
    *["end.", "stop!", "why?", "wait\u2026", "so,", "then;", "note:", '"quoted."', "(aside.)"],
    *["Dr.", "Mr.", "e.g.", "J.", "U.S.", "etc.", "$3.50", "50%", "3:30", "pm", "&", "\u2014", "\n", "\n\n"],
]


def test_chunks_keep_every_word_in_order_within_the_limit() -> None:
    rng = random.Random(20240611)
    for _ in range(500):
        text = " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(0, 200)))
        max_chars = rng.choice([1, 10, 40, 100, 400])
        for source in (text, normalize(text)):
            chunks = split_sentences(source, max_chars=max_chars)
            assert " ".join(chunks).split() == source.split()
            for chunk in chunks:
                assert chunk and chunk == chunk.strip() and "\n" not in chunk
                assert len(chunk) <= max_chars or " " not in chunk  # only a single overlong word may exceed it


def test_hundred_thousand_characters_normalize_and_split() -> None:
    rng = random.Random(5)
    words = [*_VOCABULARY, "Smith", "she@example.com", "www.example.com", "10\u201320", "\U0001f389", "你好。"]
    words.append(PORTUGUESE)
    text = " ".join(rng.choice(words) for _ in range(30_000))[:100_000]
    normalized = normalize(text)
    chunks = split_sentences(normalized)
    assert len(text) == 100_000
    assert len(chunks) > 1000
    assert " ".join(chunks).split() == normalized.split()
    assert all(len(chunk) <= 400 or " " not in chunk for chunk in chunks)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000,
        "." * 100_000,
        "a." * 50_000,
        "1," * 50_000,
        "$1" * 50_000,
        "!" + ")" * 100_000 + "x",
        "http://x" + ")" * 100_000,
        "a." * 49_999 + "@",
        "\u2014" * 100_000,
        "Dr. " * 25_000,
        "A. " * 33_000,
    ],
    ids=["letters", "dots", "dotted", "commas", "dollars", "closers", "url", "email", "dashes", "titles", "initials"],
)
def test_pathological_long_inputs_finish(text: str) -> None:
    for language in ("en", "pt"):
        normalized = normalize(text, language)
        chunks = split_sentences(normalized)
        assert " ".join(chunks).split() == normalized.split()
        assert estimate_seconds(text) > 0


# ---- estimate_seconds ----


def test_estimate_is_about_fifteen_characters_a_second() -> None:
    assert estimate_seconds("x" * 150) == pytest.approx(10.0)
    assert estimate_seconds("x" * 150, speed=2.0) == pytest.approx(5.0)
    assert estimate_seconds("x" * 150, speed=0.5) == pytest.approx(20.0)


def test_estimate_ignores_extra_whitespace_and_empty_text() -> None:
    assert estimate_seconds("") == 0.0
    assert estimate_seconds(" \n\t ") == 0.0
    assert estimate_seconds("hello    world\n\n") == estimate_seconds("hello world")


def test_estimate_counts_cjk_characters_as_syllables() -> None:
    assert estimate_seconds("\u4f60" * 50) == pytest.approx(10.0)


def test_estimate_needs_a_positive_speed() -> None:
    with pytest.raises(ValueError):
        estimate_seconds("hello", speed=0)
