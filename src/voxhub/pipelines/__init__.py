"""One module per job type, each defining its `JOB_TYPE`. The app and the worker register them when they are
assembled (`register_all`); the jobs room below knows job types only through its registry."""

from voxhub.jobs import ready_mail
from voxhub.jobs.registry import JobType, register
from voxhub.pipelines import dub, insights, media_convert, podcast, synthesize, transcribe, translate

JOB_TYPES: tuple[JobType, ...] = (
    transcribe.JOB_TYPE,
    translate.JOB_TYPE,
    synthesize.JOB_TYPE,
    media_convert.JOB_TYPE,
    insights.JOB_TYPE,
    podcast.SCRIPT_JOB_TYPE,
    podcast.EPISODE_JOB_TYPE,
    dub.JOB_TYPE,
    dub.RENDER_JOB_TYPE,
)


def register_all() -> None:
    """Make every job type known to the jobs room of this process (idempotent)."""
    for job_type in JOB_TYPES:
        register(job_type)
    ready_mail.connect()
