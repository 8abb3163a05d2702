"""Schemathesis against voxhub's own OpenAPI description: a seeded workspace to aim at (seed.py) and one bounded,
deterministic run of every check, summarised by check (run.py)."""
