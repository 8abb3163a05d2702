"""One module per job type; importing this package registers them all."""

from voxhub.pipelines import media_convert, synthesize, transcribe, translate  # noqa: F401
