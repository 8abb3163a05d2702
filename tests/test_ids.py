"""Ids sort by creation: lists ordered by id ("newest first") keep the order things happened in, even within one
millisecond (a failed sign-in and the lockout it causes are written in the same request)."""

from __future__ import annotations

import uuid

from voxhub.ids import new_id


def test_ids_made_in_a_burst_sort_in_the_order_they_were_made() -> None:
    made = [new_id() for _ in range(20_000)]  # many per millisecond

    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_are_uuid_version_7() -> None:
    parsed = uuid.UUID(new_id())

    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
