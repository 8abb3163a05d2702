"""Podcast episodes through the HTTP API, on the local executor: extractive scripts (VOXHUB_LLM_ENGINE=none) unless a
test asks for the local language model, real voices, mix and encoders. NOTES is a known set of notes with three
topics, each with terms a fair episode about it says."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Mailbox, People, Person
from tests.fixtures.workers import STALE_AFTER_S, on_executor
from voxhub.config import Settings

EPISODE_TIMEOUT_S = 600.0  # two cores shared by several test processes

TOPICS = {
    "beekeeping": ("hive", "honey", "queen"),
    "rainwater": ("rain barrel", "gutter", "overflow"),
    "composting": ("compost", "nitrogen", "worms"),
}

NOTES = """\
# Spring on the allotment: bees, rain and compost

## Beekeeping
Our first hive arrived in April from a keeper in the next village. A hive holds one queen, a few hundred drones and
tens of thousands of worker bees. The queen lays up to two thousand eggs a day in late spring. Workers live about six
weeks in summer, and most of that time they forage for nectar and pollen within three kilometres of the hive.
We inspect the hive every nine days to look for queen cells, because a colony that raises a new queen may swarm.
Honey is harvested only from the supers above the brood box, never from the frames the bees need for winter.
Last year a strong hive gave us eighteen kilograms of honey, and we left twenty kilograms for the bees.
Varroa mites are the biggest danger to a hive; we count mites on a sticky board after a sugar dusting each month.
When the count passes three mites a day we treat the colony with oxalic acid, but only in winter, when there is no
brood for the mites to hide in. A calm colony lets us work without gloves; an angry one usually means the queen is
missing or a wasp nest is close by. Bees need water as much as flowers, so we keep a shallow tray with floating corks
next to the hive, and the workers queue at it on hot afternoons. In autumn we fit a mouse guard across the entrance,
because a mouse in a hive eats wax and honey and upsets the cluster all winter. The hive stands on two breeze blocks
facing south east, so the morning sun wakes the bees early and the damp ground never touches the floor. Neighbours
were nervous at first, so we planted a hedge that makes the bees fly up and over the path instead of across it.

## Rainwater
The shed roof collects about six hundred litres of rain from a single heavy storm. A gutter along the low edge leads
into a rain barrel of two hundred litres, so most of a storm runs to waste unless the barrels are linked. We joined
three barrels with short hoses near the bottom, so they fill and empty together. The overflow pipe from the last
barrel runs into a gravel soakaway, which keeps the path by the shed from turning to mud. A fine mesh on the gutter
outlet keeps leaves and mosquito larvae out of the water. In a dry July the barrels last about ten days of watering
for the tomatoes and beans. Rainwater is softer than tap water, and the blueberries clearly prefer it.
Before the barrels we carried about forty watering cans a week from the tap at the gate, which took most of an
evening. Each barrel has a tap raised on a stand, so a watering can fits underneath and fills in half a minute.
In the autumn we clean the gutter by hand and flush the barrels, because a layer of silt at the bottom turns the
water green and blocks the hoses. Before the first frost the barrels are drained and the taps left open, since ice
can split the plastic along its seams. A lid on every barrel is the law on our site, both for safety and to stop
mosquitoes laying eggs on still water. This year we added a diverter to the down pipe, which sends the first dirty
flush of a storm to the soakaway and lets the cleaner water after it into the barrels. The whole system cost less
than a new hose reel, and the water bill for the plot fell by more than half.

## Composting
A good compost heap needs both green and brown material. Green material such as grass cuttings and vegetable peels
brings nitrogen; brown material such as dry leaves, straw and cardboard brings carbon. Roughly two parts brown to one
part green keeps the heap from turning slimy or smelling. We turn the heap every two weeks with a fork so air reaches
the middle, where the heat does the work. A hot heap reaches sixty degrees and kills most weed seeds. The worm bin
next to the heap takes kitchen scraps; the worms turn them into rich castings in about three months. Finished compost
is dark, crumbly and smells of forest soil, and we spread it on the beds every autumn.
Meat, dairy and cooked food stay out of the heap, because they draw rats and foxes to the plot. Weeds with seed heads
and the roots of bindweed go in the council bin instead, unless the heap is hot enough to kill them. A heap that is
too wet gets more cardboard torn into strips; a heap that is too dry gets a can of rainwater from the barrels. The
bays are built from old pallets, three side by side, so one fills while one heats and the last one matures. Tiger
worms in the bin like it dark and damp, and they slow down in a frost, so the bin gets an old carpet on top in
winter. Leaves from the lane go into a separate wire cage, where they rot slowly into leaf mould over two years.
Leaf mould is poor in nitrogen but holds water well, and we use it to cover the soil around the fruit bushes.
"""


@pytest.fixture
def people(client: TestClient, app: Any, mailbox: Mailbox) -> People:
    """People on the free plan, without credits: five episodes a month, from the plan's allowance."""
    app.state.test_mailbox = mailbox
    return People(client, app)


@pytest.fixture
def executor_kind() -> str:
    return "local"


@pytest.fixture
def settings(settings: Settings, executor_kind: str, request: pytest.FixtureRequest) -> Settings:
    return on_executor(
        settings, executor_kind, request, job_stale_after_s=STALE_AFTER_S, workers=1, llm_engine="none"
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _nothing_left_running(nothing_left_running: None) -> None:
    """No podcast test leaves a job queued or running for the next one."""


def podcasts_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/podcasts"


def start_podcast(client: TestClient, person: Person, **body: Any) -> httpx2.Response:
    return client.post(podcasts_url(person), headers=person.headers, json={"notes": NOTES, **body})


def wait_for_podcast(
    client: TestClient, person: Person, podcast_id: str, *, until: tuple[str, ...] = (), timeout: float = 300.0
) -> dict[str, Any]:
    """Poll the episode until its status is one of `until` (default: any that no job is working on)."""
    until = until or ("awaiting_review", "succeeded", "failed", "canceled")
    deadline = time.monotonic() + timeout
    while True:
        episode = client.get(f"{podcasts_url(person)}/{podcast_id}", headers=person.headers).json()
        if episode["status"] in until:
            return dict(episode)
        assert time.monotonic() < deadline, f"the episode stayed {episode['status']}: {episode}"
        time.sleep(0.5)


def make_podcast(client: TestClient, person: Person, **body: Any) -> dict[str, Any]:
    accepted = start_podcast(client, person, **body)
    assert accepted.status_code == 202, accepted.text
    return wait_for_podcast(client, person, accepted.json()["id"], timeout=EPISODE_TIMEOUT_S)


def error_of(answer: httpx2.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])
