"""A generated corpus for search and chat: transcripts of meetings and a podcast (10 to 20 minutes each, 2 or 3
speakers, segments of 3 to 12 s) whose talk wanders over overlapping topics (launches, budgets, hiring, customers,
outages), with facts (names, numbers, dates, decisions) planted at known segments and discussed for a line or two,
and the questions a user would ask of them.

Questions come in three kinds: `exact` uses the fact's own distinctive terms ("Zephyr-9 marketing budget"),
`paraphrase` asks the same thing in other words ("how much money can we spend promoting the release?"), `follow_up`
leans on an earlier question with a pronoun ("which magazine did she book first?").

Everything is deterministic from the seed. Another seed plants other values (another product, other people, other
numbers) in the same kind of talk: `make_corpus(seed=1)` is a second workspace with similar content, whose planted
terms (`Corpus.planted_terms`) never occur in seed 0's. Seeds that are equal modulo 3 plant the same values."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

QuestionKind = Literal["exact", "paraphrase", "follow_up"]


@dataclass(frozen=True)
class Recording:
    name: str  # a file name, as an upload would have
    language: str
    document: dict[str, Any]  # as voxhub.transcripts.service.save_from_job takes it


@dataclass(frozen=True)
class Question:
    kind: QuestionKind
    text: str
    recording: int  # index into Corpus.recordings
    segment_id: int  # the gold segment: where the answer is said
    previous: str | None = None  # for a follow-up: the earlier question its pronoun points back to


@dataclass(frozen=True)
class Corpus:
    seed: int
    recordings: list[Recording]
    questions: list[Question]
    planted_terms: list[str] = field(default_factory=list)  # distinctive words only this seed's facts contain

    def of_kind(self, kind: QuestionKind) -> list[Question]:
        return [question for question in self.questions if question.kind == kind]

    def gold(self, question: Question) -> dict[str, Any]:
        """The segment that answers `question`."""
        segments = self.recordings[question.recording].document["segments"]
        segment = segments[question.segment_id]
        assert segment["id"] == question.segment_id
        return dict(segment)


# ---- planted values: one column per seed (modulo 3) ----

VALUES: dict[str, tuple[str, str, str]] = {
    # launch planning
    "product": ("Zephyr-9", "Aurora-5", "Halcyon-3"),
    "launch_date": ("March 14th", "September 9th", "May 22nd"),
    "budget": ("240,000", "185,000", "310,000"),
    "marketing_lead": ("Priya Raman", "Greta Lindqvist", "Amara Okafor"),
    "magazine": ("Retail Weekly", "Logistics Today", "Storefront Monthly"),
    # platform stand-up
    "cluster": ("Orion", "Vega", "Cassini"),
    "minutes": ("43", "27", "58"),
    "cause": ("an expired TLS certificate", "a full disk on the primary", "a misrouted DNS record"),
    "pg_version": ("16", "15", "17"),
    "deadline": ("the end of June", "the end of April", "the end of September"),
    "oncall": ("Marcus", "Dmitri", "Kenji"),
    "oncall_backup": ("Lena", "Sofia", "Ines"),
    "fixer": ("Kofi", "Rahul", "Bjorn"),
    # podcast
    "guest": ("Helena Vasquez", "Miriam Adebayo", "Claire Dubois"),
    "study": ("Harbor", "Lantern", "Meridian"),
    "days": ("three", "two", "four"),
    "book": ("The Quiet Desk", "Fewer Meetings", "Async by Default"),
    "book_month": ("October", "February", "November"),
    "chapter": ("seven", "four", "nine"),
    # hiring committee
    "candidate": ("Tomasz Wojcik", "Rafael Mendes", "Yusuf Demir"),
    "salary": ("95,000", "88,000", "102,000"),
    "band": ("E4", "E3", "E5"),
    "start_date": ("the first of August", "the fifteenth of July", "the first of October"),
    # customer advisory board
    "customer": ("Northwind Logistics", "Bluepeak Freight", "Calder Shipping"),
    "sso_deadline": ("the end of the year", "the end of March", "the summer"),
    "discount": ("12", "15", "9"),
    "term": ("18", "24", "30"),
    "feature": ("offline mode", "bulk export", "custom roles"),
    "contact": ("Ingrid Holm", "Fatima Zahra", "Olga Petrova"),
    # finance review
    "revenue": ("4.2", "3.8", "5.1"),
    "growth": ("6", "4", "9"),
    "margin": ("61", "58", "64"),
    "vendor": ("Stratus", "Nimbus", "Cirrus"),
    "freeze_until": ("July", "June", "August"),
    "cfo": ("Daniel", "Henrik", "Paolo"),
    "offer_by": ("the end of the month", "next Friday", "mid-October"),
    # design review
    "participants": ("14", "12", "18"),
    "drop": ("22", "35", "18"),
    "screen": ("Welcome Tour", "Quick Setup", "First Project"),
    "color": ("Indigo 600", "Teal 500", "Coral 400"),
    "contrast": ("7.2", "5.8", "6.4"),
    "dark_version": ("3.2", "2.4", "4.1"),
    "designer": ("Nadia", "Chloe", "Mei"),
    "proto_day": ("Thursday", "next Tuesday", "Friday"),
    # reunião em Lisboa
    "pt_date": ("2 de junho", "15 de setembro", "10 de março"),
    "pt_budget": ("80", "120", "95"),
    "supplier": ("Ferreira & Filhos", "Costa Obras", "Almeida Construções"),
    "pt_manager": ("Joana Carvalho", "Beatriz Santos", "Marta Sousa"),
    "pt_month": ("julho", "outubro", "abril"),
    "pt_hires": ("doze", "oito", "quinze"),
}

# The values whose words name this seed's facts and nothing in the filler: a search for one in another seed's
# workspace must find nothing.
DISTINCTIVE = ("product", "cluster", "guest", "candidate", "customer", "contact", "vendor", "screen", "supplier")


def values_for(seed: int) -> dict[str, str]:
    chosen = {name: options[seed % 3] for name, options in VALUES.items()}
    for name in ("marketing_lead", "candidate", "contact", "pt_manager"):
        chosen[name + "_first"] = chosen[name].split()[0]
    chosen["customer_short"] = chosen["customer"].split()[0]
    return chosen


# ---- the recordings: who speaks, what they talk about, which facts are planted where ----


@dataclass(frozen=True)
class Fact:
    """A planted segment: `text` said by `speaker` about `at` (0 to 1) of the way through the recording. The facts of
    a recording are in order of `at`; a follow-up's fact comes a few segments after the one it continues."""

    key: str
    speaker: str
    at: float
    text: str
    exact: str | None = None
    paraphrase: str | None = None
    follow_up: tuple[str, str] | None = None  # (the fact whose question it follows, the follow-up question)
    # The talk around it, (speaker, text): facts are discussed, not dropped into unrelated chatter.
    before: tuple[tuple[str, str], ...] = ()
    after: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Plan:
    name: str
    language: str
    speakers: tuple[str, ...]
    topics: tuple[str, ...]  # the main topic first; the others come up less often
    facts: tuple[Fact, ...]


PLANS: tuple[Plan, ...] = (
    Plan(
        "launch-planning-sync.m4a",
        "en",
        ("S1", "S2", "S3"),
        ("launch", "finance", "design"),
        (
            Fact(
                "launch_date",
                "S1",
                0.22,
                "Okay, so it's decided: the launch date for {product} is {launch_date}, and we announce it at the "
                "partner webinar that morning.",
                exact="{product} launch date",
                paraphrase="When will the product go live?",
                before=(
                    (
                        "S2",
                        "Before we go on, marketing needs to know when this thing goes out, so where did we land?",
                    ),
                ),
                after=(
                    ("S3", "That works for support, as long as the help articles are up a few days earlier."),
                    ("S2", "Great, I'll tell the partners today so they can plan their own posts."),
                ),
            ),
            Fact(
                "budget",
                "S2",
                0.48,
                "The total marketing budget for {product} is {budget} euros, and most of it goes to paid ads in the "
                "first six weeks.",
                exact="{product} marketing budget",
                paraphrase="How much money can we spend promoting the release?",
                before=(("S1", "Next item is money: how much do we actually have for the campaign?"),),
                after=(("S3", "That's more than last year, but ad prices went up too."),),
            ),
            Fact(
                "press",
                "S3",
                0.72,
                "{marketing_lead} will own the press outreach, she already has contacts at three trade magazines.",
                exact="{marketing_lead} press outreach",
                paraphrase="Who is in charge of talking to journalists?",
                before=(("S1", "Who is handling the reporters and the interviews?"),),
                after=(("S2", "Good, she knows those editors well from her last job."),),
            ),
            Fact(
                "magazine",
                "S3",
                0.76,
                "{marketing_lead_first} booked the first interview with {magazine} for the week before we go out.",
                follow_up=("press", "Which magazine did she book first?"),
            ),
        ),
    ),
    Plan(
        "platform-standup.mp3",
        "en",
        ("S1", "S2", "S3"),
        ("infra", "hiring", "launch"),
        (
            Fact(
                "outage",
                "S2",
                0.18,
                "The outage on the {cluster} cluster lasted {minutes} minutes, and the root cause was {cause}.",
                exact="{cluster} cluster outage",
                paraphrase="How long were our servers down in the last incident?",
                before=(("S1", "Let's start with the incident from the weekend, what happened exactly?"),),
                after=(("S3", "Customers noticed before our monitoring did, which is the embarrassing part."),),
            ),
            Fact(
                "fix",
                "S2",
                0.22,
                "{fixer} is adding a check that pages us a week before that can happen again.",
                follow_up=("outage", "Who is making sure it does not happen again?"),
            ),
            Fact(
                "migration",
                "S1",
                0.5,
                "We agreed to finish the move to PostgreSQL {pg_version} by {deadline}, no exceptions this time.",
                exact="PostgreSQL {pg_version} migration",
                paraphrase="By when must the database upgrade be done?",
                before=(("S3", "What about the database work, are we still on the old version?"),),
                after=(("S2", "Then we need a maintenance window and a tested restore before we switch."),),
            ),
            Fact(
                "oncall",
                "S3",
                0.78,
                "{oncall} takes the on-call pager starting Monday, and {oncall_backup} is the backup if he is "
                "unreachable.",
                exact="{oncall} on-call pager",
                paraphrase="Who will handle the alerts next week?",
                before=(("S1", "Last thing, the rotation for next week."),),
                after=(("S2", "Please update the escalation list so the alerts reach the right phone."),),
            ),
        ),
    ),
    Plan(
        "work-in-progress-podcast-ep12.mp3",
        "en",
        ("S1", "S2"),
        ("remote", "hiring", "design"),
        (
            Fact(
                "guest",
                "S1",
                0.04,
                "My guest today is doctor {guest}, who studies how teams work when nobody shares an office.",
                exact="doctor {guest}",
                paraphrase="Who was interviewed on the podcast episode?",
                before=(("S1", "Welcome back to Work in Progress, the show about how we work."),),
                after=(("S2", "Thanks for having me, I've listened to the show for years."),),
            ),
            Fact(
                "study",
                "S2",
                0.4,
                "In the {study} survey, people who worked from home {days} days a week reported the lowest burnout "
                "scores.",
                exact="{study} survey burnout",
                paraphrase="How many days of remote work leave people least exhausted?",
                before=(("S1", "You ran a big survey on this last year, what did you find?"),),
                after=(
                    (
                        "S2",
                        "Fewer days than that and people felt isolated, more and they stopped switching off at night.",
                    ),
                ),
            ),
            Fact(
                "book",
                "S2",
                0.82,
                "My book, {book}, comes out in {book_month}, and it is mostly about meetings that should have been "
                "emails.",
                exact="{book} book",
                paraphrase="When is the guest's book being published?",
                before=(("S1", "Before we wrap up, tell us about what you've been writing."),),
                after=(("S1", "We'll put a link to the preorder in the show notes."),),
            ),
            Fact(
                "chapter",
                "S2",
                0.86,
                "If you only read one part, start with chapter {chapter}, the one about making decisions in writing.",
                follow_up=("book", "Which chapter does she say to read first?"),
            ),
        ),
    ),
    Plan(
        "hiring-committee-backend.wav",
        "en",
        ("S1", "S2", "S3"),
        ("hiring", "finance", "infra"),
        (
            Fact(
                "candidate",
                "S1",
                0.2,
                "We're making an offer to {candidate}, the strongest system design interview we've seen this year.",
                exact="offer to {candidate}",
                paraphrase="Which applicant did the committee choose for the backend role?",
                before=(("S2", "Okay, the backend position. We saw four people in the final round."),),
                after=(("S2", "Agreed, the debrief scores were clearly the highest."),),
            ),
            Fact(
                "concern",
                "S3",
                0.25,
                "My only worry about {candidate_first} is that he has never carried a pager for a production system.",
                follow_up=("candidate", "Were there any concerns about him?"),
            ),
            Fact(
                "salary",
                "S2",
                0.52,
                "The salary we can offer is {salary} euros a year, which is the top of band {band}.",
                exact="salary band {band}",
                paraphrase="How much will we pay the new engineer?",
                before=(("S3", "What can we actually offer in compensation?"),),
                after=(("S3", "That should be competitive, the last two offers we lost were lower."),),
            ),
            Fact(
                "start_date",
                "S1",
                0.8,
                "If {candidate_first} accepts, the start date would be {start_date}, right after the notice period.",
                exact="{candidate_first} start date",
                paraphrase="When would the new hire begin working with us?",
                before=(("S2", "And timing, when could they join the team?"),),
                after=(("S3", "That gives us time to get the laptop and the accounts ready."),),
            ),
        ),
    ),
    Plan(
        "customer-advisory-board.mp4",
        "en",
        ("S1", "S2", "S3"),
        ("customers", "launch", "design"),
        (
            Fact(
                "churn",
                "S2",
                0.16,
                "{customer} told us they will not renew unless single sign-on ships before {sso_deadline}.",
                exact="{customer} single sign-on",
                paraphrase="Which customer is at risk of leaving?",
                before=(("S1", "The hardest conversation this quarter was about one of our biggest accounts."),),
                after=(("S3", "That's a real risk, they're one of our top five accounts by revenue."),),
            ),
            Fact(
                "contact",
                "S2",
                0.2,
                "Their main contact is {contact}, the head of operations, and she wants a call every two weeks.",
                follow_up=("churn", "Who is our contact there, and how often does she want to talk?"),
            ),
            Fact(
                "discount",
                "S1",
                0.46,
                "To keep {customer_short} we offered a {discount} percent discount if they sign for {term} months.",
                exact="{customer_short} discount",
                paraphrase="What price reduction did we propose to keep the account?",
                before=(("S3", "Did we put anything on the table commercially?"),),
                after=(("S2", "They said they'd take it to their procurement team."),),
            ),
            Fact(
                "feature",
                "S3",
                0.74,
                "The most requested feature was {feature}: eleven of the fourteen members asked for it.",
                exact="{feature} requests",
                paraphrase="What do customers most want us to build next?",
                before=(("S1", "Let's look at the wish list from the members."),),
                after=(("S2", "It was near the top of the list last time as well."),),
            ),
        ),
    ),
    Plan(
        "q3-finance-review.m4a",
        "en",
        ("S1", "S2"),
        ("finance", "hiring", "customers"),
        (
            Fact(
                "revenue",
                "S1",
                0.14,
                "Revenue for the quarter came in at {revenue} million, {growth} percent above plan.",
                exact="quarterly revenue {revenue} million",
                paraphrase="How much money did the company bring in over the last three months?",
                before=(("S2", "Let's start with the top line for the quarter."),),
                after=(("S2", "Mostly driven by the larger accounts renewing early."),),
            ),
            Fact(
                "margin",
                "S1",
                0.42,
                "Gross margin was {margin} percent, down two points because of the new {vendor} hosting contract.",
                exact="{vendor} hosting contract",
                paraphrase="Why is the business less profitable this quarter?",
                before=(("S2", "The margin looks worse than last quarter, what happened there?"),),
                after=(("S1", "The new contract costs more than the old one for the same capacity."),),
            ),
            Fact(
                "renegotiate",
                "S2",
                0.46,
                "{cfo} is renegotiating with {vendor} and expects a better offer by {offer_by}.",
                follow_up=("margin", "What are we doing about it?"),
            ),
            Fact(
                "freeze",
                "S2",
                0.76,
                "The board approved a hiring freeze until {freeze_until}, except for the two open security roles.",
                exact="hiring freeze until {freeze_until}",
                paraphrase="Can we hire new people at the moment?",
                before=(("S1", "On headcount, we discussed it with the board last week."),),
                after=(("S1", "So any other open positions stay on hold until then."),),
            ),
        ),
    ),
    Plan(
        "app-redesign-review.webm",
        "en",
        ("S1", "S2", "S3"),
        ("design", "customers", "launch"),
        (
            Fact(
                "usability",
                "S2",
                0.2,
                "In the usability test with {participants} participants, {drop} percent got stuck on the {screen} "
                "screen.",
                exact="{screen} screen usability test",
                paraphrase="Which part of the app confused the test users?",
                before=(("S1", "What came out of the testing sessions last week?"),),
                after=(("S3", "People didn't understand what the first step was asking them to do."),),
            ),
            Fact(
                "redo",
                "S1",
                0.25,
                "{designer} will redo the {screen} screen and have a clickable prototype by {proto_day}.",
                follow_up=("usability", "Who is going to fix it, and by when?"),
            ),
            Fact(
                "color",
                "S3",
                0.5,
                "We're going with {color} as the primary color, it passed the accessibility check with a contrast of "
                "{contrast} to one.",
                exact="{color} primary color",
                paraphrase="Which main colour did the team pick for the interface?",
                before=(("S1", "We need to close the discussion about the palette today."),),
                after=(("S2", "Good, the buttons finally stand out against the background."),),
            ),
            Fact(
                "dark_mode",
                "S1",
                0.78,
                "Decision: dark mode is postponed to version {dark_version}, we don't have time for it before launch.",
                exact="dark mode version {dark_version}",
                paraphrase="Will the night mode ship with this release?",
                before=(("S2", "The most upvoted request in the beta forum is a darker look for the whole app."),),
                after=(("S3", "That's a shame, but better to do it properly later."),),
            ),
        ),
    ),
    Plan(
        "reuniao-escritorio-lisboa.mp3",
        "pt",
        ("S1", "S2", "S3"),
        ("pt_office", "pt_team"),
        (
            Fact(
                "opening",
                "S1",
                0.2,
                "Ficou decidido: a inauguração do escritório de Lisboa será no dia {pt_date}.",
                exact="inauguração do escritório",
                paraphrase="Quando vamos abrir o escritório de Lisboa?",
                before=(("S2", "Então, já temos data para abrir as portas?"),),
                after=(("S3", "Ótimo, assim os clientes de Lisboa podem vir à festa."),),
            ),
            Fact(
                "works",
                "S2",
                0.48,
                "O orçamento das obras é de {pt_budget} mil euros, e quem faz as remodelações é a {supplier}.",
                exact="orçamento das obras {supplier}",
                paraphrase="Quanto vai custar a reforma do espaço?",
                before=(("S3", "E quanto é que isto tudo vai custar?"),),
                after=(("S1", "É um bocado mais do que esperávamos, mas inclui a cozinha."),),
            ),
            Fact(
                "manager",
                "S1",
                0.74,
                "A {pt_manager} vai ser a diretora do escritório e começa a contratar em {pt_month}.",
                exact="{pt_manager} diretora",
                paraphrase="Quem vai liderar a equipa portuguesa?",
                before=(("S2", "Falta decidir quem fica responsável pelo escritório."),),
                after=(("S3", "Ela conhece bem o mercado português, é uma boa escolha."),),
            ),
            Fact(
                "hires",
                "S3",
                0.79,
                "A {pt_manager_first} quer contratar {pt_hires} pessoas até ao fim do ano.",
                follow_up=("manager", "E quantas pessoas ela quer contratar?"),
            ),
        ),
    ),
)


# ---- the talk around the facts ----

# Slots filled at random: {person}, {weekday}, {n}, {team}. None of these words is a planted value.
SLOTS: dict[str, tuple[str, ...]] = {
    "person": ("Alex", "Sam", "Jordan", "Chris", "Robin", "Taylor", "Morgan", "Jamie"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Friday"),
    "n": ("two", "three", "four", "five", "six", "ten"),
    "team": ("support", "sales", "the platform team", "the mobile team", "finance", "legal"),
    "pt_person": ("Rui", "Tiago", "Nuno", "Pedro", "Inês", "Catarina"),
}

TOPICS: dict[str, tuple[str, ...]] = {
    "launch": (
        "We still need the landing page copy before anything goes out.",
        "The press kit is mostly done, the screenshots are the missing piece.",
        "I'd rather slip a week than ship with the checkout bug still open.",
        "{person} asked whether the announcement email goes to the whole list or just active customers.",
        "The partner webinar invitations go out on {weekday}.",
        "Paid ads are cheaper in the first weeks, so we should front-load the spend.",
        "Let's not promise a date to customers until engineering confirms it.",
        "The beta group sent us {n} pages of feedback, mostly about the pricing page.",
        "Sales wants a one-pager they can attach to every quote.",
        "Did anyone check the translations of the release notes?",
        "The demo video is too long, we should cut it to ninety seconds.",
        "We could do a soft launch with the beta customers first and see what breaks.",
        "The social posts are scheduled, but the copy still says coming soon.",
        "Remember last time, the announcement went out before the download link worked.",
        "I'll share the launch checklist in the channel after this call.",
        "Support needs the FAQ at least a week before the release.",
        "What's our plan if the app store review takes longer than usual?",
        "Marketing and product still disagree on the tagline, we should settle it on {weekday}.",
        "Our last campaign got most of its signups from the newsletter, not from ads.",
        "{team} should get a preview build so nobody is surprised on the day.",
        "The waitlist is at a few thousand people, which is more than we expected.",
        "Do we have a rollback plan for the release, just in case?",
        "The website redesign and the launch should not land in the same week.",
        "We need a quote from a customer for the announcement, ideally a well known one.",
        "I talked to {person} about the event booth, it is expensive for what we get.",
    ),
    "infra": (
        "The deploy pipeline took {n} times longer yesterday, something is wrong with the cache.",
        "We should move the nightly backups to the new storage bucket.",
        "Staging is broken again, someone pushed a bad config on {weekday}.",
        "I upgraded the load balancer last night, no downtime this time.",
        "Can we get the error budget dashboard on the big screen?",
        "Memory on the workers keeps creeping up after each release.",
        "The flaky test in the payments suite failed {n} times this week.",
        "Let's write a postmortem for every incident, even a short one.",
        "I'll pair with {person} on the queue latency problem this afternoon.",
        "Alerts are too noisy, half the pages last night were false alarms.",
        "Database connections maxed out during the traffic spike on {weekday}.",
        "We need to rotate the API keys before the security audit.",
        "Certificate monitoring only checks the main domain right now.",
        "The Kubernetes upgrade is scheduled for {weekday} night.",
        "Logs from the mobile clients still don't reach the central store.",
        "The search service needs more replicas during peak hours.",
        "Rolling back took longer than the deploy itself.",
        "I'm blocked on the code review for the caching change.",
        "The disk on the reporting server is almost full again.",
        "We should have a runbook for restoring a single customer's data.",
        "Most of our cloud bill is storage we forgot to clean up.",
        "The read replicas lag behind by a few seconds when the batch jobs run.",
        "{team} keeps asking for a status page, and honestly they are right.",
        "I'd like everyone to try the new local development setup this week.",
    ),
    "remote": (
        "When I started working from home I kept my laptop on the kitchen table, which was a mistake.",
        "The research says commuting is one of the least liked parts of anyone's day.",
        "Teams that write things down tend to make decisions faster.",
        "A shared calendar with blocks of no meetings changed a lot for us.",
        "Loneliness is the thing people underestimate about remote work.",
        "Some managers measure presence instead of results, and people feel it.",
        "We tried core hours from eleven to three, and it mostly worked.",
        "Video calls are tiring in a way that sitting in the same room is not.",
        "Our listeners wrote in with a lot of questions after the last episode.",
        "Written updates only work if people actually read them.",
        "Bringing new people on board remotely is harder than anything else.",
        "I walk around the block before my first call, that's my commute now.",
        "The office is still useful for workshops and for celebrating things together.",
        "People in other time zones end up with the worst meeting slots.",
        "We'll put the links in the show notes as usual.",
        "Thanks to everyone who left a review, it really helps the show.",
        "Hybrid is hard because the people in the room always have more context.",
        "Messages after seven in the evening send a signal about the culture.",
        "Burnout shows up first as cynicism, long before people feel exhausted.",
        "My advice is to treat writing as a core skill for every role.",
        "Managers told us they trust people more once they see the work, not the hours.",
        "The kids came home from school in the middle of a call more than once.",
        "A good headset matters more than a fancy camera.",
        "Some people were more productive, but they also worked longer days.",
    ),
    "hiring": (
        "We have {n} candidates in the final round for the backend role.",
        "The take-home assignment is too long, good people drop out.",
        "The references were excellent, both former managers would hire that person again.",
        "I'd like someone from the platform team on every interview loop.",
        "The system design interview should be about trade-offs, not trivia.",
        "Recruiting says the market is slower than last year.",
        "We need to decide faster, we lost two people to other offers last month.",
        "Can we agree on a scorecard before the debrief?",
        "The job description still mentions tools we don't use anymore.",
        "Relocation support is something candidates ask about a lot.",
        "I'm worried about the interview load, some people did {n} interviews this week.",
        "The junior candidate was promising but not ready for the on-call rotation.",
        "Let's make sure every offer mentions the learning budget.",
        "The pipeline is more diverse this quarter, which is good to see.",
        "Someone should send feedback to the candidates we turned down.",
        "Referrals brought in most of our hires last year.",
        "{person} wants to open a role in {team}, but we have not talked about it yet.",
        "We should pay people for the time the take-home assignment takes.",
        "Our careers page has not been updated in a year.",
        "Onboarding the last hire took almost two months, we can do better.",
    ),
    "customers": (
        "Three customers mentioned slow reports at the end of the month.",
        "The mobile app gets better reviews than the web version.",
        "Support tickets about billing doubled after the pricing change.",
        "Customers want to see the roadmap, even a rough one.",
        "Churn is concentrated in small accounts during their first ninety days.",
        "One member said our warehouse integration saves them hours every week.",
        "Renewal conversations start about three months before a contract ends.",
        "They asked whether we plan to support more languages.",
        "Several members complained that the email notifications are too frequent.",
        "Our satisfaction score went up {n} points since the spring.",
        "Larger customers keep asking about keeping their data in Europe.",
        "Account managers should join these sessions more often.",
        "The onboarding calls are the part customers like most.",
        "A couple of members would pay more for priority support.",
        "{person} from {team} collected the feature requests in a spreadsheet.",
        "The members want a way to vote on what we build.",
        "Integrations with accounting tools came up again.",
        "Thanks everyone for joining the advisory board again this quarter.",
        "Some customers still export everything to spreadsheets every {weekday}.",
        "We heard that our invoices are hard to read for their finance teams.",
    ),
    "finance": (
        "Operating costs are in line with the forecast except for travel.",
        "Cloud spend went up with the new customers, roughly {n} percent.",
        "We should revisit the pricing for annual plans.",
        "Cash runway is comfortable at the current burn rate.",
        "Receivables are higher than usual, two large invoices are late.",
        "Marketing spent less than budgeted because the conference was cancelled.",
        "Headcount is the largest cost line, as always.",
        "The auditors want the revenue recognition policy written down.",
        "Currency effects hurt us a little this quarter.",
        "Software subscriptions keep creeping up, we pay for tools nobody uses.",
        "The forecast for next quarter assumes the launch happens on time.",
        "Let's separate one-off costs from recurring ones in the deck.",
        "The board will want to see unit economics per customer segment.",
        "The travel budget for the offsite still needs approval.",
        "{team} asked for more budget, but they have not spent what they had.",
        "We're closing the books on {weekday}, so send your expenses before then.",
        "Annual prepayments helped our cash position a lot.",
        "The budget for next year is due to the board in six weeks.",
    ),
    "design": (
        "The new navigation tested well on desktop, less so on phones.",
        "The icons are inconsistent, some are outlined and some are filled.",
        "The accessibility review found a few buttons without labels.",
        "The design system needs a proper spacing scale.",
        "Users didn't notice the search field in the header.",
        "I like the empty states, they finally tell people what to do.",
        "The settings page has become a junk drawer.",
        "We should test with people who have never seen the product.",
        "Font sizes on Android look too small in the mockups.",
        "Engineering says the animation will be slow on older phones.",
        "Error messages should say how to fix the problem, not just what went wrong.",
        "The dashboard cards are too dense, people skim past them.",
        "Let's keep the old layout available for a few weeks as an option.",
        "{person} is collecting screenshots of every dialog we have.",
        "The illustrations feel a bit childish for our customers.",
        "We need a decision on the logo before {weekday}.",
        "The charts are hard to read for colour blind users.",
        "Mobile and web should share the same words for the same things.",
    ),
    "chatter": (
        "Can everyone hear me okay?",
        "Sorry, I was on mute.",
        "Let me share my screen.",
        "Okay, let's move on to the next item.",
        "Good point, let's take that offline.",
        "I'll write that down in the notes.",
        "Does anyone have anything else on this?",
        "Right, that makes sense.",
        "Give me a second, my connection is a bit unstable.",
        "Let's come back to that at the end if we have time.",
        "Yeah, I agree with {person} on this one.",
        "Who's taking notes today?",
        "We're running a bit over, so let's be quick.",
        "Can you drop that in the chat?",
        "I'm not sure, let me check and get back to you.",
        "Okay, cool.",
        "Sorry, go ahead.",
        "That's fair.",
    ),
    "pt_office": (
        "A mudança dos computadores fica para a última semana.",
        "O senhorio ainda não assinou a renovação do contrato de arrendamento.",
        "Precisamos de mais salas de reunião pequenas, as grandes ficam sempre vazias.",
        "A internet de fibra só é instalada depois das obras.",
        "O estacionamento perto do escritório é caro, talvez seja melhor pagar o passe dos transportes.",
        "As cadeiras chegam em duas entregas diferentes.",
        "Os vizinhos pediram para não fazermos barulho antes das nove.",
        "O {pt_person} vai tratar das licenças com a câmara municipal.",
        "A cozinha vai ter máquina de café e um frigorífico grande.",
        "Temos de decidir se a receção fica no rés-do-chão ou no primeiro andar.",
        "O ar condicionado da sala grande tem de ser substituído.",
        "A luz natural no segundo andar é ótima para trabalhar.",
        "O elevador só vai estar pronto no fim das obras.",
        "Falta escolher a empresa de limpeza.",
        "As plantas para o escritório foram ideia da {pt_person}.",
        "Precisamos de cacifos para quem vem só alguns dias por semana.",
    ),
    "pt_team": (
        "Recebemos mais de {n_pt} candidaturas para a vaga de suporte.",
        "A equipa de Lisboa vai trabalhar também com os clientes de Espanha.",
        "As entrevistas podem ser em inglês ou em português.",
        "Vamos organizar um jantar de equipa quando o espaço estiver pronto.",
        "O horário flexível é importante para quem tem filhos.",
        "A formação dos novos colegas vai demorar umas três semanas.",
        "O {pt_person} acha que devíamos ter alguém de vendas em Lisboa.",
        "Os colegas de Londres querem vir cá na primeira semana.",
        "Temos de explicar bem como funcionam as férias e os feriados.",
        "Estão a ouvir-me bem?",
        "Desculpem, estava sem som.",
        "Vou partilhar o ecrã.",
        "Muito bem, passamos ao ponto seguinte.",
        "Concordo com o {pt_person}.",
        "Eu tomo nota disso.",
        "Mais alguma coisa sobre este assunto?",
        "Pois, faz sentido.",
        "Vamos voltar a isso no fim.",
    ),
}
SLOTS["n_pt"] = ("duzentas", "cem", "trezentas", "cinquenta")

# Openers and tails that make the same remark come out differently each time it is said.
HEDGES = {
    "en": ("", "", "", "So, ", "I think ", "Honestly, ", "Yeah, ", "To be fair, ", "Just quickly, ", "Also, "),
    "pt": ("", "", "", "Então, ", "Acho que ", "Olha, ", "Pois, ", "Sinceramente, "),
}
TAILS = {
    "en": ("",) * 12 + (" At least that's my impression.", " Let's see how it goes.", " Anyway."),
    "pt": ("",) * 10 + (" Pelo menos é o que eu acho.", " Vamos ver."),
}

WORDS_PER_SECOND = 2.6
MIN_SEGMENT_S, MAX_SEGMENT_S = 3.0, 12.0


def _fill(template: str, rng: random.Random, values: dict[str, str] | None = None) -> str:
    def slot(match: re.Match[str]) -> str:
        name = match.group(1)
        if values is not None and name in values:
            return values[name]
        return rng.choice(SLOTS[name])

    return re.sub(r"\{(\w+)\}", slot, template)


def _remark(rng: random.Random, bags: dict[str, list[str]], topic: str, language: str) -> str:
    """One sentence on `topic`, drawn from a shuffled bag so a recording repeats itself as little as possible."""
    bag = bags.setdefault(topic, [])
    if not bag:
        bag.extend(TOPICS[topic])
        rng.shuffle(bag)
    sentence = _fill(bag.pop(), rng)
    if topic == "chatter":
        return sentence
    hedge = rng.choice(HEDGES[language])
    if hedge and sentence[0].isupper() and not sentence.startswith(("I ", "I'")):
        sentence = hedge + sentence[0].lower() + sentence[1:]
    elif hedge:
        sentence = hedge + sentence
    return sentence + rng.choice(TAILS[language])


def _duration(text: str, rng: random.Random) -> float:
    seconds = len(text.split()) / WORDS_PER_SECOND * rng.uniform(0.9, 1.15)
    return round(min(MAX_SEGMENT_S, max(MIN_SEGMENT_S, seconds)), 2)


def _topic(rng: random.Random, plan: Plan) -> str:
    main, *others = plan.topics
    roll = rng.random()
    if plan.language == "pt":
        return main if roll < 0.6 else others[0]
    if roll < 0.5:
        return main
    if roll < 0.8:
        return rng.choice(others)
    return "chatter"


def _recording(plan: Plan, values: dict[str, str], rng: random.Random) -> tuple[Recording, dict[str, int]]:
    """The transcript of one recording and the segment id of each planted fact."""
    target_s = rng.uniform(600, 1200)
    facts = sorted(plan.facts, key=lambda fact: fact.at)
    bags: dict[str, list[str]] = {}
    segments: list[dict[str, Any]] = []
    planted: dict[str, int] = {}
    clock = rng.uniform(0.5, 3.0)
    speaker = plan.speakers[0]
    turn_left = rng.randint(1, 4)
    queued: list[tuple[str, str]] = []  # (speaker, text) of a fact's discussion still to be said
    while clock < target_s or len(planted) < len(facts) or queued:
        due = next((fact for fact in facts if fact.key not in planted and clock >= fact.at * target_s), None)
        if due is not None and not queued:
            planted[due.key] = len(segments) + len(due.before)
            queued = [*due.before, (due.speaker, due.text), *due.after]
        if queued:
            speaker, template = queued.pop(0)
            text = _fill(template, rng, values)
            turn_left = rng.randint(1, 2)
        else:
            if turn_left <= 0:
                speaker = rng.choice([label for label in plan.speakers if label != speaker])
                turn_left = rng.randint(1, 4)
            topic = _topic(rng, plan)
            text = _remark(rng, bags, topic, plan.language)
            if rng.random() < 0.35:
                second = _remark(rng, bags, topic, plan.language)
                if len((text + " " + second).split()) / WORDS_PER_SECOND <= MAX_SEGMENT_S:
                    text = f"{text} {second}"
        turn_left -= 1
        duration = _duration(text, rng)
        segments.append(
            {
                "id": len(segments),
                "start": round(clock, 2),
                "end": round(clock + duration, 2),
                "text": text,
                "speaker": speaker,
            }
        )
        clock += duration + rng.uniform(0.1, 0.9)
    document = {
        "language": plan.language,
        "duration": segments[-1]["end"],
        "text": " ".join(segment["text"] for segment in segments),
        "segments": segments,
        "speakers": {},
    }
    return Recording(name=plan.name, language=plan.language, document=document), planted


def make_corpus(seed: int = 0) -> Corpus:
    """Eight recordings (one in Portuguese) with their planted facts, and 24 exact, 24 paraphrase and 8 follow-up
    questions about them."""
    rng = random.Random(seed)
    values = values_for(seed)
    recordings: list[Recording] = []
    questions: list[Question] = []
    for index, plan in enumerate(PLANS):
        recording, planted = _recording(plan, values, rng)
        recordings.append(recording)
        by_key = {fact.key: fact for fact in plan.facts}
        for fact in plan.facts:
            segment_id = planted[fact.key]
            if fact.exact:
                questions.append(Question("exact", _fill(fact.exact, rng, values), index, segment_id))
            if fact.paraphrase:
                questions.append(Question("paraphrase", fact.paraphrase, index, segment_id))
            if fact.follow_up:
                earlier, text = fact.follow_up
                previous = by_key[earlier].paraphrase or _fill(by_key[earlier].exact or "", rng, values)
                questions.append(Question("follow_up", text, index, segment_id, previous=previous))
    planted_terms = [values[name] for name in DISTINCTIVE]
    return Corpus(seed=seed, recordings=recordings, questions=questions, planted_terms=planted_terms)
