"""The OpenAI-compatible audio API under /v1 (transcriptions, translations, speech, models), so code written for
OpenAI's clients runs against voxhub with only a new base URL and a voxhub API key."""
