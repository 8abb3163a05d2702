"""The search room's periodic work: bringing the index up to date with the transcripts."""

from __future__ import annotations

from voxhub.periodic import PeriodicTask
from voxhub.search.index import run_periodic

PERIODIC = (PeriodicTask("search.index", 5, run_periodic),)
