"""How a long transcript is cut for a language model's window: every line read once, in order, no chunk over the
budget, and a small last chunk joined to the one before (never standing alone for the rest, never dropped)."""

from __future__ import annotations

import random

import pytest

from voxhub.insights.generative import SMALL_TAIL, plan_chunks


def _lines(chunks: list[range]) -> list[int]:
    return [index for chunk in chunks for index in chunk]


def test_a_transcript_that_fits_is_one_chunk() -> None:
    assert plan_chunks([10] * 20, 500) == [range(0, 20)]


def test_a_small_trailing_chunk_joins_the_one_before() -> None:
    # 100 lines of 10 tokens in chunks of 300: 30, 30, 30 and a tail of 10 lines (100 tokens, under a quarter).
    counts = [10] * 100
    chunks = plan_chunks(counts, 450)
    assert _lines(chunks) == list(range(100))
    assert all(sum(counts[i] for i in chunk) <= 450 for chunk in chunks)
    assert len(chunks[-1]) * 10 >= SMALL_TAIL * 450


def test_a_tail_that_cannot_join_splits_the_last_two_evenly() -> None:
    counts = [10] * 95  # chunks of 300: three full ones and a tail of 50 tokens; 350 would not fit
    chunks = plan_chunks(counts, 300)
    assert _lines(chunks) == list(range(95))
    last_two = [sum(counts[i] for i in chunk) for chunk in chunks[-2:]]
    assert max(last_two) <= 300 and min(last_two) >= 0.4 * sum(last_two), last_two


@pytest.mark.parametrize("seed", range(50))
def test_every_line_is_read_once_in_order_within_the_budget(seed: int) -> None:
    rng = random.Random(seed)
    budget = rng.randint(50, 600)
    counts = [rng.randint(1, 80) for _ in range(rng.randint(1, 300))]
    chunks = plan_chunks(counts, budget)
    assert _lines(chunks) == list(range(len(counts)))
    for chunk in chunks:
        assert len(chunk) >= 1
        assert sum(counts[i] for i in chunk) <= budget or len(chunk) == 1
    if len(chunks) >= 2:
        assert (
            sum(counts[i] for i in chunks[-1]) >= SMALL_TAIL * budget
            or len(chunks[-1]) == 1
            or (sum(counts[i] for i in chunks[-2]) + sum(counts[i] for i in chunks[-1]) > budget)
        )
