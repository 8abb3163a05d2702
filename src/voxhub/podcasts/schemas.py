"""What a podcast episode is made of: the request, its outline and script (what the hosts say, segment by segment,
each line pointing at the notes it comes from), and the episode as the API shows it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

Format = Literal["deep_dive", "brief", "debate", "critique", "interview"]
ScriptEngine = Literal["local", "remote", "extractive"]
AudioFormat = Literal["mp3", "m4a"]

NOTES_MIN_CHARS = 100
NOTES_MAX_CHARS = 50_000
LINE_MAX_CHARS = 600  # one turn: a few sentences, never a monologue
# The hosts' speaking pace the word budget is counted in. Piper's joe, with the mix's pauses between turns, measured
# about 195 words a minute here; hosted voices speak nearer 150-160. 180 lands both inside a duration's range.
WORDS_PER_MINUTE = 180
# The notes' length is checked by the service (its error names the limits and the length given); the schema states it.
Notes = Annotated[str, WithJsonSchema({"type": "string", "minLength": NOTES_MIN_CHARS, "maxLength": NOTES_MAX_CHARS})]
Id = Annotated[str, StringConstraints(max_length=64)]
Point = Annotated[str, StringConstraints(max_length=NOTES_MAX_CHARS)]  # an extractive point is a sentence of the notes


class DurationKind(StrEnum):
    SHORT = "short"
    LONG = "long"
    MINUTES = "minutes"


# The target and the accepted range of each length, in minutes.
SHORT_MINUTES = (5.0, 3.5, 7.0)
LONG_MINUTES = (15.0, 11.0, 20.0)
MIN_MINUTES, MAX_MINUTES = 1.0, 60.0
RANGE_SHARE = 0.3  # a length in minutes is met within this share either side


class Minutes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(ge=MIN_MINUTES, le=MAX_MINUTES)


def duration_range(duration: DurationKind | Minutes) -> tuple[float, float, float]:
    """(target, lowest, highest) minutes of an episode of this length."""
    if isinstance(duration, Minutes):
        target = duration.minutes
        return target, target * (1 - RANGE_SHARE), target * (1 + RANGE_SHARE)
    return SHORT_MINUTES if duration == DurationKind.SHORT else LONG_MINUTES


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[^\n<>]+$")
    voice: str | None = Field(default=None, max_length=120, description="A voice id; default: a distinct one each.")
    persona: str | None = Field(default=None, max_length=300, description="Who the host is and how they talk.")


DEFAULT_HOSTS = (Host(name="Alex"), Host(name="Sam"))


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[Id] = Field(default_factory=list, max_length=20, description="Text files (UTF-8) to read.")
    job_ids: list[Id] = Field(default_factory=list, max_length=20, description="Transcribe jobs whose text to use.")


def _mp3_only() -> list[AudioFormat]:
    return ["mp3"]


class PodcastCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: Notes | None = Field(default=None, description=f"{NOTES_MIN_CHARS} to {NOTES_MAX_CHARS:,} characters.")
    source: Source | None = None
    title: str | None = Field(default=None, max_length=200)
    duration: DurationKind | Minutes = DurationKind.SHORT
    format: Format = "deep_dive"
    language: str | None = Field(default=None, max_length=16, description="Written and spoken; default: English.")
    focus: str | None = Field(default=None, max_length=500, description="What to dwell on.")
    hosts: list[Host] = Field(default_factory=lambda: list(DEFAULT_HOSTS), min_length=1, max_length=4)
    intro_file_id: Id | None = None
    outro_file_id: Id | None = None
    music_bed_file_id: Id | None = None
    review: StrictBool = Field(default=False, description="Wait in `awaiting_review` after the script, until approved.")
    formats: list[AudioFormat] = Field(
        default_factory=_mp3_only, min_length=1, max_length=2, description="Audio files to make: mp3, m4a."
    )

    @model_validator(mode="after")
    def _one_source(self) -> PodcastCreate:
        if self.notes is None and not (self.source and (self.source.file_ids or self.source.job_ids)):
            raise ValueError("give notes or a source")
        return self

    @field_validator("hosts")
    @classmethod
    def _distinct_names(cls, hosts: list[Host]) -> list[Host]:
        names = [host.name.strip().lower() for host in hosts]
        if len(set(names)) != len(names):
            raise ValueError("host names must differ")
        return hosts


class PodcastUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    notes: Notes | None = Field(default=None, description="Only before the script is written.")


# ---- the outline and the script ----


class OutlineSegment(BaseModel):
    title: str
    points: list[str] = Field(description="What this segment covers, from the notes.")
    words: int = Field(ge=1, description="Its share of the episode's word budget.")


class Outline(BaseModel):
    engine: ScriptEngine
    model: str | None = None
    segments: list[OutlineSegment]
    digest: list[str] | None = Field(
        default=None, description="Long notes summed up chunk by chunk before the outline was made of them."
    )


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1, max_length=40, description="A host's name.")
    text: str = Field(min_length=1, max_length=LINE_MAX_CHARS)
    source_refs: list[int] = Field(
        default_factory=list, max_length=100, description="Numbers of the notes' paragraphs it draws on."
    )


class ScriptSegment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    points: list[Point] = Field(default_factory=list, max_length=40)
    words: int = Field(default=0, ge=0, description="Its word budget.")
    lines: list[Line] = Field(min_length=1, max_length=200)


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: ScriptEngine = "extractive"
    model: str | None = None
    language: str = "en"
    segments: list[ScriptSegment] = Field(min_length=1, max_length=40)

    def words(self) -> int:
        return sum(len(line.text.split()) for segment in self.segments for line in segment.lines)


class ScriptIn(BaseModel):
    """An edited script (PUT …/script): the segments with their lines; speakers must be the episode's hosts. The
    script as GET gives it can be sent back: its engine, model and language are kept from the server's copy."""

    model_config = ConfigDict(extra="forbid")

    engine: ScriptEngine | None = Field(default=None, description="Ignored: the server's own record is kept.")
    model: str | None = Field(default=None, max_length=200, description="Ignored: the server's own record is kept.")
    language: str | None = Field(default=None, max_length=16, description="Ignored: the server's own record is kept.")

    segments: list[ScriptSegment] = Field(min_length=1, max_length=40)


# ---- the episode ----


class PodcastStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_REVIEW = "awaiting_review"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Outputs(BaseModel):
    mp3_file_id: str | None = None
    m4a_file_id: str | None = None
    chapters_file_id: str | None = None
    vtt_file_id: str | None = None
    srt_file_id: str | None = None
    script_file_id: str | None = None


class ChapterMark(BaseModel):
    start: float
    title: str


class PodcastOut(BaseModel):
    id: str
    workspace_id: str
    title: str
    status: PodcastStatus
    stage: str | None
    progress: float
    message: str | None
    error: dict[str, Any] | None
    job_id: str | None
    duration: DurationKind | Minutes
    target_minutes: float
    format: Format
    language: str
    focus: str | None
    hosts: list[Host]
    review: bool
    notes_chars: int
    script_engine: ScriptEngine | None
    duration_s: float | None = Field(description="The finished episode's length.")
    chapters: list[ChapterMark] | None
    outputs: Outputs
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    tags: list[str] = Field(default=[], description="The episode's tags, by name.")


class PodcastStatusOut(BaseModel):
    id: str
    status: PodcastStatus
    stage: str | None
    progress: float
    message: str | None
    error: dict[str, Any] | None
    job_id: str | None


class EstimateOut(BaseModel):
    target_minutes: float
    min_minutes: float
    max_minutes: float
    words: int = Field(description="The script's word budget.")
    notes_chars: int
    notes_minutes: float = Field(description="How long the notes themselves take to read aloud at the hosts' pace.")
    script_engine: ScriptEngine
    warnings: list[str] = Field(description="What would make the episode other than asked, said before it is made.")
    credits: int = Field(description="Credits the episode holds at its longest, past the plan's allowance.")
    allowance_left: float | int | None = Field(description="Episodes left in the plan's allowance (null: unlimited).")
    can_start: bool
    refusal: dict[str, Any] | None = Field(description="Why it would be refused now: the 402's error.")


class FeedOut(BaseModel):
    enabled: bool
    url: str | None = Field(description="With its token: shown once, when the token is made.")
    created_at: datetime | None


class VoiceOut(BaseModel):
    id: str
    description: str
    engine: str
    languages: list[str]
