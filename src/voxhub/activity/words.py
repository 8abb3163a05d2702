"""The audit log's actions in words a member understands: "Ana uploaded interview.mp3", "Transcription of
interview.mp3 finished". One function per family of actions; an action nobody wrote words for yet still reads as a
sentence ("Ana created a share"), so a new audit action never breaks the feed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What a job of each type is called in a sentence; other types read as "<type> job".
JOB_NOUNS = {
    "transcribe": "transcription",
    "synthesize": "speech synthesis",
    "translate": "translation",
    "media.convert": "conversion",
    "insights": "summary",
    "dub": "dub",
    "dub_render": "dub render",
    "podcast_script": "podcast script",
    "podcast": "podcast episode",
}

ROLE_NOUNS = {"viewer": "a viewer", "member": "a member", "admin": "an admin", "owner": "an owner"}


@dataclass(frozen=True)
class JobFacts:
    type: str
    filename: str | None = None


@dataclass
class Names:
    """What the events of one page mention, looked up once for the page: people, API keys and the names of files,
    jobs, podcast episodes, dubs and conversations, by id."""

    users: dict[str, str] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, JobFacts] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # podcasts, dubs, conversations: id → title


@dataclass(frozen=True)
class Event:
    """The parts of an audit row a sentence is made of."""

    action: str
    actor_user_id: str | None
    actor_api_key_id: str | None
    target_type: str | None
    target_id: str | None
    summary: dict[str, Any]


def quoted(text: object) -> str:
    return f"“{text}”"


def capitalized(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:] if sentence else sentence


class Sentence:
    """Words for one event, given the names of its page."""

    def __init__(self, event: Event, names: Names) -> None:
        self.event = event
        self.names = names
        self.summary = event.summary or {}

    # ---- the parts ----

    @property
    def actor(self) -> str:
        """Who did it: a person's name, an API key, or voxhub itself."""
        if self.event.actor_user_id:
            return self.names.users.get(self.event.actor_user_id, "A former member")
        if self.event.actor_api_key_id:
            name = self.names.api_keys.get(self.event.actor_api_key_id)
            return f"The API key {quoted(name)}" if name else "An API key"
        return "voxhub"

    @property
    def target_user(self) -> str:
        return self.names.users.get(self.event.target_id or "", "a former member")

    def file(self, file_id: str | None = None) -> str:
        found = self.names.files.get(file_id or self.event.target_id or "")
        return found or str(self.summary.get("filename") or "a file")

    def job(self) -> str:
        """'transcription of interview.mp3', 'speech synthesis', 'podcast episode'."""
        facts = self.names.jobs.get(self.event.target_id or "")
        kind = facts.type if facts else str(self.summary.get("type") or "")
        noun = JOB_NOUNS.get(kind, f"{kind} job" if kind else "job")
        return f"{noun} of {facts.filename}" if facts and facts.filename else noun

    def title(self, what: str) -> str:
        title = self.names.titles.get(self.event.target_id or "") or self.summary.get("title")
        return f"the {what} {quoted(title)}" if title else f"a {what}"

    # ---- the sentence ----

    def text(self) -> str:
        action = self.event.action
        words = EXACT.get(action) or FAMILIES.get(action.split(".", 1)[0])
        return words(self) if words else self.generic()

    def generic(self) -> str:
        """For an action without words of its own: 'share.created' → 'Ana created a share'."""
        *nouns, verb = self.event.action.split(".")
        noun = " ".join(nouns).replace("_", " ") or "item"
        verb = verb.replace("_", " ")
        name = next((self.summary[k] for k in ("name", "title", "filename", "key") if self.summary.get(k)), None)
        thing = f"the {noun} {quoted(name)}" if name else f"a {noun}"
        if " " not in verb and verb.endswith("ed"):
            return f"{self.actor} {verb} {thing}"
        thing = f"{noun} {quoted(name)}" if name else noun
        return f"{capitalized(thing)} {verb} ({self.actor})"

    # ---- files and uploads ----

    def file_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        if verb == "uploaded":
            if not (self.event.actor_user_id or self.event.actor_api_key_id):
                return f"{self.file()} was made"  # a job's output
            return f"{self.actor} uploaded {self.file()}"
        if verb == "rejected":
            reason = self.summary.get("reason")
            return f"{self.file()} was rejected" + (f": {reason}" if reason else "")
        if verb == "renamed":
            return (
                f"{self.actor} renamed {self.summary.get('from', 'a file')} to {self.summary.get('to', 'a new name')}"
            )
        if verb == "download_link_issued":
            return f"{self.actor} downloaded {self.file()}"
        if verb == "deleted":
            return f"{self.actor} deleted {self.file()}"
        if verb == "expired":
            return f"{self.file()} was deleted after the workspace's retention period"
        return self.generic()

    def upload_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        name = self.summary.get("filename")
        if verb == "started":
            return f"{self.actor} started uploading {name or 'a file'}"
        if verb == "aborted":
            return f"{self.actor} canceled an upload"
        if verb == "expired":
            return "An unfinished upload expired"
        return self.generic()

    # ---- jobs and what they make ----

    def job_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        job = self.job()
        if verb == "created":
            return f"{self.actor} started a {job}"
        if verb == "succeeded":
            return f"{capitalized(job)} finished"
        if verb == "failed":
            code = self.summary.get("error_code")
            return f"{capitalized(job)} failed" + (f" ({code})" if code else "")
        if verb in ("canceled", "retried", "deleted"):
            return f"{self.actor} {verb} the {job}"
        return self.generic()

    def transcript_words(self) -> str:
        facts = self.names.jobs.get(self.event.target_id or "")
        of = f" of {facts.filename}" if facts and facts.filename else ""
        if self.event.action == "transcript.edited":
            return f"{self.actor} edited the transcript{of}"
        return self.generic()

    def podcast_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        episode = self.title("podcast episode")
        phrases = {
            "created": f"{self.actor} started {episode}",
            "updated": f"{self.actor} changed {episode}",
            "deleted": f"{self.actor} deleted {episode}",
            "retried": f"{self.actor} retried {episode}",
            "script_edited": f"{self.actor} edited the script of {episode}",
            "feed_token_created": f"{self.actor} published the podcast feed",
            "feed_turned_off": f"{self.actor} turned the podcast feed off",
        }
        return phrases.get(verb) or self.generic()

    def dub_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        dub = self.title("dub")
        if verb == "created":
            languages = ", ".join(self.summary.get("languages") or [])
            into = f" into {languages}" if languages else ""
            return f"{self.actor} started dubbing {self.file(self.summary.get('file_id'))}{into}"
        phrases = {
            "updated": f"{self.actor} changed {dub}",
            "deleted": f"{self.actor} deleted {dub}",
            "retried": f"{self.actor} retried {dub}",
            "approved": f"{self.actor} approved {dub}",
            "rendered": f"{self.actor} rendered {dub} again",
            "segments_edited": f"{self.actor} edited the lines of {dub}",
        }
        return phrases.get(verb) or self.generic()

    def conversation_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        conversation = self.title("conversation")
        phrases = {
            "created": f"{self.actor} started {conversation}",
            "renamed": f"{self.actor} renamed {conversation}",
            "deleted": f"{self.actor} deleted {conversation}",
            "message": f"{self.actor} asked a question in {conversation}",
        }
        return phrases.get(verb) or self.generic()

    def openai_words(self) -> str:
        what = {
            "openai.transcription": "transcribed audio",
            "openai.translation": "translated audio",
            "openai.speech": "made speech",
            "openai.embeddings": "made embeddings",
            "openai.chat": "asked the language model",
        }.get(self.event.action)
        return f"{self.actor} {what} through the OpenAI-compatible API" if what else self.generic()

    # ---- the workspace and its people ----

    def workspace_words(self) -> str:
        action = self.event.action
        if action == "workspace.created":
            return f"{self.actor} created the workspace {quoted(self.summary.get('name', ''))}"
        if action == "workspace.renamed":
            return f"{self.actor} renamed the workspace to {quoted(self.summary.get('to', ''))}"
        if action == "workspace.retention_changed":
            days = self.summary.get("to")
            kept = f"keeps files for {days} days" if days else "keeps files until they are deleted"
            return f"{self.actor} changed the retention: the workspace now {kept}"
        if action == "workspace.deleted":
            return f"{self.actor} deleted the workspace"
        if action == "workspace.member.role_changed":
            role = ROLE_NOUNS.get(str(self.summary.get("to")), str(self.summary.get("to")))
            return f"{self.actor} made {self.target_user} {role}"
        if action == "workspace.member.removed":
            return f"{self.actor} removed {self.target_user} from the workspace"
        if action == "workspace.member.left":
            return f"{capitalized(self.target_user)} left the workspace"
        if action == "workspace.invitation.accepted":
            role = ROLE_NOUNS.get(str(self.summary.get("role")), "a member")
            return f"{self.actor} joined the workspace as {role}"
        if action == "workspace.invitation.created":
            role = ROLE_NOUNS.get(str(self.summary.get("role")), "a member")
            return f"{self.actor} invited {self.summary.get('email', 'someone')} as {role}"
        if action == "workspace.invitation.revoked":
            return f"{self.actor} withdrew the invitation of {self.summary.get('email', 'someone')}"
        if action == "workspace.invitation.resent":
            return f"{self.actor} sent the invitation to {self.summary.get('email', 'someone')} again"
        return self.generic()

    def key_words(self) -> str:
        action = self.event.action
        name = quoted(self.summary.get("name", ""))
        if action == "api_key.created":
            return f"{self.actor} created the API key {name}"
        if action == "api_key.revoked":
            return f"{self.actor} revoked the API key {name}"
        provider = self.event.target_id or "a provider"
        verbs = {"provider_key.created": "added", "provider_key.updated": "replaced", "provider_key.deleted": "removed"}
        if action in verbs:
            return f"{self.actor} {verbs[action]} the {provider} key"
        return self.generic()

    def webhook_words(self) -> str:
        url = self.summary.get("url")
        to = f" to {url}" if url else ""
        phrases = {
            "webhook.created": f"{self.actor} added a webhook{to}",
            "webhook.updated": f"{self.actor} changed a webhook",
            "webhook.secret_rotated": f"{self.actor} rotated a webhook's signing secret",
            "webhook.deleted": f"{self.actor} removed the webhook{to}",
            "webhook.redelivered": f"{self.actor} sent a webhook delivery again",
        }
        return phrases.get(self.event.action) or self.generic()

    def billing_words(self) -> str:
        s = self.summary
        action = self.event.action
        if action == "billing.credits_granted":
            return f"{s.get('credits', 'Some')} credits were added" + (f" ({s['reason']})" if s.get("reason") else "")
        if action == "billing.credits_adjusted":
            return f"The credit balance was adjusted by {s.get('credits', 0)}"
        if action == "billing.plan_changed":
            plan = (s.get("after") or {}).get("plan")
            return f"The plan changed to {plan}" if plan else "The plan changed"
        if action == "billing.subscription_canceled":
            return f"{self.actor} canceled the {s.get('plan', '')} subscription".replace("  ", " ")
        if action == "billing.checkout_started":
            return f"{self.actor} started a checkout for {s.get('item', 'credits')}"
        if action == "billing.payment_received":
            amount = s.get("amount_cents")
            paid = f" of {amount / 100:.2f}" if isinstance(amount, int | float) else ""
            return f"A payment{paid} was received for {s.get('item', 'credits')}"
        if action == "billing.payment_failed":
            return "A payment failed"
        if action == "billing.payment_refunded":
            return "A payment was refunded"
        if action == "billing.refund_requested":
            amount = s.get("amount_cents")
            of = f" of {amount / 100:.2f}" if isinstance(amount, int | float) else ""
            return f"{self.actor} refunded a payment{of}"
        if action == "billing.webhook_rejected":
            return "A payment provider's notification was refused (its signature did not match)"
        return self.generic()

    # ---- what other rooms added: tags, fields, voices ----

    def tag_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        name = self.summary.get("name") or (self.summary.get("to") or {}).get("name")
        if verb in ("created", "deleted", "updated"):
            verb = {"updated": "changed"}.get(verb, verb)
            return f"{self.actor} {verb} the tag {quoted(name)}" if name else f"{self.actor} {verb} a tag"
        return self.generic()

    def field_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        key = self.summary.get("key")
        if verb in ("created", "deleted", "updated"):
            verb = {"updated": "changed"}.get(verb, verb)
            return f"{self.actor} {verb} the custom field {quoted(key)}" if key else f"{self.actor} {verb} a field"
        return self.generic()

    def voice_words(self) -> str:
        verb = self.event.action.split(".", 1)[1]
        name = self.summary.get("name")
        voice = f"the voice {quoted(name)}" if name else "a voice"
        if verb == "cloned":
            return f"{self.actor} cloned {voice}"
        if verb == "deleted":
            return f"{self.actor} deleted {voice}"
        return self.generic()

    def share_words(self) -> str:
        title = self.summary.get("title")
        if self.event.action == "share.created":
            return f"{self.actor} shared {quoted(title)}" if title else f"{self.actor} made a share link"
        if self.event.action == "share.revoked":
            return f"{self.actor} turned a share link off"
        return self.generic()

    def user_words(self) -> str:
        """An account's own events, where one is recorded in a workspace (sign-in alerts for its admins)."""
        if self.event.action == "user.sign_in_unrecognized":  # from a new country or device: admins see it
            place = ", ".join(str(part) for part in (self.summary.get("city"), self.summary.get("country")) if part)
            device = self.summary.get("device")
            new = " and ".join(str(r).replace("_", " ") for r in self.summary.get("reasons") or []) or "unrecognized"
            where = f" from {place}" if place else ""
            on = f" on {device}" if device else ""
            return f"{self.actor} signed in{where}{on} ({new})"
        phrases = {
            "user.logged_in": f"{self.actor} signed in",
            "user.logged_out": f"{self.actor} signed out",
            "user.password_changed": f"{self.actor} changed their password",
            "user.password_reset": f"{self.actor} reset their password",
            "user.session_revoked": f"{self.actor} signed a session out",
            "user.profile_updated": f"{self.actor} updated their profile",
            "user.deleted": f"{self.actor} deleted their account",
        }
        return phrases.get(self.event.action) or self.generic()

    def labels_changed(self) -> str:
        """'file.tags_changed' and its kin (tags or custom fields set on a file, job, podcast or dub)."""
        what, change = self.event.action.split(".", 1)
        thing = {"file": self.file(), "job": f"the {self.job()}"}.get(what, f"a {what}")
        if change == "tags_changed":
            added = ", ".join(quoted(t) for t in self.summary.get("added") or [])
            removed = ", ".join(quoted(t) for t in self.summary.get("removed") or [])
            parts = [f"tagged {thing} {added}" if added else "", f"untagged {removed}" if removed else ""]
            return f"{self.actor} " + (" and ".join(p for p in parts if p) or f"changed the tags of {thing}")
        return f"{self.actor} changed the custom fields of {thing}"


Words = Callable[[Sentence], str]

FAMILIES: dict[str, Words] = {
    "file": Sentence.file_words,
    "upload": Sentence.upload_words,
    "job": Sentence.job_words,
    "transcript": Sentence.transcript_words,
    "podcast": Sentence.podcast_words,
    "dub": Sentence.dub_words,
    "conversation": Sentence.conversation_words,
    "openai": Sentence.openai_words,
    "workspace": Sentence.workspace_words,
    "api_key": Sentence.key_words,
    "provider_key": Sentence.key_words,
    "webhook": Sentence.webhook_words,
    "billing": Sentence.billing_words,
    "tag": Sentence.tag_words,
    "custom_field": Sentence.field_words,
    "voice": Sentence.voice_words,
    "share": Sentence.share_words,
    "user": Sentence.user_words,
}
EXACT: dict[str, Words] = {
    f"{what}.{change}": Sentence.labels_changed
    for what in ("file", "job", "podcast", "dub")
    for change in ("tags_changed", "fields_changed")
}


def sentence(event: Event, names: Names) -> str:
    """The event in words, with the names its page looked up."""
    return Sentence(event, names).text()
