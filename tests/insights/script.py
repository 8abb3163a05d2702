"""A known script with three planted topics, and the transcript a recogniser would make of it: a community centre's
planning meeting on its solar roof, its sourdough baking class and its charity marathon team, each with a decision
someone takes on. Word times advance at a steady speaking pace, so where each topic begins is known to the second."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SECONDS_PER_WORD = 0.4
PAUSE_S = 0.6  # between sentences


@dataclass(frozen=True)
class Topic:
    name: str
    key_terms: tuple[str, ...]  # words the topic keeps coming back to
    decision: tuple[str, ...]  # words any fair statement of its action item contains
    sentences: tuple[str, ...]


SOLAR = Topic(
    name="solar roof",
    key_terms=("solar panels", "inverter"),
    decision=("quotes", "installer"),
    sentences=(
        "Good morning everyone, let us start with the solar panels for the roof of the community centre.",
        "The old roof is finally repaired, so the solar panels can go up this spring.",
        "Our electricity bill last winter was far higher than we expected.",
        "With twenty solar panels on the south side we could cover most of that bill.",
        "The engineer said each panel produces about four hundred watts on a sunny day.",
        "We also need a new inverter, because the panels make direct current.",
        "A good inverter costs around two thousand dollars, and it lasts about ten years.",
        "Some people asked whether a battery would be worth it for the evenings.",
        "A battery stores the solar power from the afternoon for the lights at night.",
        "The grant from the city pays for half of the panels if we apply before June.",
        "The installer we spoke to last year has since closed his business.",
        "So we need fresh quotes from solar installers before we can apply for the grant.",
        "Maria, you offered to handle that.",
        "Yes, I will get three quotes from solar installers by Friday.",
        "Great, then we can compare the inverter and the panels in the next meeting.",
        "Let us move on to the next item on the agenda.",
    ),
)

BAKING = Topic(
    name="sourdough class",
    key_terms=("sourdough", "rye flour"),
    decision=("rye", "flour"),
    sentences=(
        "The second item is the sourdough baking class in the community kitchen.",
        "Twelve people signed up for the first sourdough class, which is more than we hoped.",
        "Every student needs a jar of starter, and the starter has to be fed the day before.",
        "Ben has kept a starter alive for six years, so he will bring some of it.",
        "We bake with a mix of wheat flour and rye flour, because rye makes the dough easier to handle.",
        "The kitchen has two ovens, and each oven holds four loaves at a time.",
        "A loaf needs about forty five minutes in the oven at two hundred and thirty degrees.",
        "The dough should rest overnight in the fridge, so the class runs over two evenings.",
        "Last time we ran out of rye flour halfway through the second evening.",
        "The students shaped their loaves with wheat flour only, and the bread came out flat.",
        "So we must have enough rye flour in the pantry before the class begins.",
        "Ben, can you take care of the flour order?",
        "Sure, I will order twenty kilos of rye flour from the mill this week.",
        "Thank you, Ben, and please ask the mill about a discount for the community kitchen.",
        "Students can take their sourdough starter home in the jars after the class.",
        "That is all for the baking class.",
    ),
)

MARATHON = Topic(
    name="charity marathon",
    key_terms=("marathon", "runners"),
    decision=("register", "team"),
    sentences=(
        "The last item is the charity marathon in the autumn.",
        "Eight runners from the centre want to run the city marathon together as a team.",
        "Every runner collects donations for the youth football club.",
        "Most of our runners have never run more than ten kilometres.",
        "The coach suggested a sixteen week training plan with three runs every week.",
        "The long run on Sunday grows by two kilometres every second week.",
        "Good running shoes matter more than anything else, and they cost about one hundred dollars.",
        "A local sports shop offered a discount on shoes for our runners.",
        "The marathon route goes along the river and finishes in the old market square.",
        "Team registration for the marathon closes at the end of March.",
        "If we miss that date, every runner has to pay the full entry fee alone.",
        "Priya, you organised the team last year.",
        "Yes, I will register our team for the city marathon before the end of March.",
        "Perfect, and we will print shirts with the name of the centre for the runners.",
        "The runners meet for the first training run next Sunday at the park.",
        "That brings us to the end of the meeting, thank you all for coming.",
    ),
)

TOPICS = (SOLAR, BAKING, MARATHON)


def transcript_of(topics: tuple[Topic, ...] = TOPICS) -> tuple[dict[str, Any], list[float]]:
    """The transcript document (as transcribe jobs store it) of the topics spoken one after another, and the times
    at which the second and later topics begin."""
    segments: list[dict[str, Any]] = []
    changes: list[float] = []
    clock = 0.5
    for number, topic in enumerate(topics):
        if number:
            changes.append(round(clock, 2))
        for sentence in topic.sentences:
            words = []
            for word in sentence.split():
                words.append(
                    {"start": round(clock, 2), "end": round(clock + SECONDS_PER_WORD - 0.05, 2), "word": " " + word,
                     "probability": 0.95}
                )  # fmt: skip
                clock += SECONDS_PER_WORD
            segments.append(
                {
                    "id": len(segments),
                    "start": words[0]["start"],
                    "end": words[-1]["end"],
                    "text": sentence,
                    "words": words,
                }
            )
            clock += PAUSE_S
    document = {
        "language": "en",
        "language_probability": 1.0,
        "duration_s": round(clock + 0.5, 2),
        "model": "script",
        "segments": segments,
        "diarization": "off",
    }
    return document, changes
