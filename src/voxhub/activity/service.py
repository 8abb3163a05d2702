"""The activity feed: a workspace's audit log told in words, each event shown only to those who may read what it
mentions (viewers see files, jobs and what they made; members also see billing and uploads; admins see everything,
as they see the audit log itself)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from voxhub.accounts.models import User
from voxhub.activity.words import Event, JobFacts, Names, sentence
from voxhub.apikeys.models import ApiKey
from voxhub.audit.models import AuditEvent
from voxhub.dubbing.models import Dub
from voxhub.files.models import File
from voxhub.jobs.models import Job
from voxhub.pagination import paginate
from voxhub.podcasts.models import Podcast
from voxhub.search.models import Conversation
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess


@dataclass(frozen=True)
class Visibility:
    """The least role that sees events of an action: `pattern` is an exact action, or a prefix ending in '.'."""

    pattern: str
    role: Role


# What each role may read elsewhere in the API (tests/test_permissions.py) decides what it sees here. An action no
# rule names is shown to admins only: they read the audit log it comes from.
VISIBILITY: tuple[Visibility, ...] = (
    # viewers read files, jobs, transcripts, episodes, dubs, conversations, members, tags and voices
    *(
        Visibility(pattern, Role.VIEWER)
        for pattern in (
            "file.",
            "job.",
            "transcript.",
            "podcast.",
            "dub.",
            "conversation.",
            "workspace.created",
            "workspace.renamed",
            "workspace.retention_changed",
            "workspace.deleted",
            "workspace.member.",
            "workspace.invitation.accepted",
            "tag.",
            "custom_field.",
            "voice.",
        )
    ),
    # members upload, call the OpenAI-compatible API, read billing and share what they made
    *(Visibility(pattern, Role.MEMBER) for pattern in ("upload.", "openai.", "billing.", "share.")),
    # ... but a refused provider notification (with the sender's address) is the operators' business
    Visibility("billing.webhook_rejected", Role.ADMIN),
)


def _matches(pattern: str) -> ColumnElement[bool]:
    if pattern.endswith("."):
        return AuditEvent.action.startswith(pattern, autoescape=True)
    return AuditEvent.action == pattern


def _covers(broad: str, narrow: str) -> bool:
    return broad != narrow and broad.endswith(".") and narrow.startswith(broad)


def visible_to(role: Role) -> ColumnElement[bool] | None:
    """The condition on audit rows this role sees; None: all of them."""
    if role.at_least(Role.ADMIN):
        return None
    allowed = [rule.pattern for rule in VISIBILITY if role.at_least(rule.role)]
    denied = [rule.pattern for rule in VISIBILITY if not role.at_least(rule.role)]
    clauses = []
    for pattern in allowed:
        exceptions = [_matches(narrow) for narrow in denied if _covers(pattern, narrow)]
        clauses.append(and_(_matches(pattern), *[~exception for exception in exceptions]))
    return or_(*clauses) if clauses else false()


def can_see(role: Role, action: str) -> bool:
    """The same rule in Python (for tests and anyone holding an action already): the most specific pattern wins."""
    if role.at_least(Role.ADMIN):
        return True
    matching = [rule for rule in VISIBILITY if rule.pattern == action or _covers(rule.pattern, action)]
    if not matching:
        return False
    return role.at_least(max(matching, key=lambda rule: len(rule.pattern)).role)


@dataclass(frozen=True)
class ActivityEntry:
    """One event of the feed, in words, with who did it and what it was about."""

    event: AuditEvent
    text: str
    actor_name: str | None


def feed(
    db: Session, *, access: WorkspaceAccess, cursor: str | None, limit: int
) -> tuple[list[ActivityEntry], str | None]:
    """One page of the workspace's activity as the caller may see it, newest first, and the next cursor."""
    query = select(AuditEvent).where(AuditEvent.workspace_id == access.workspace_id)
    condition = visible_to(access.role)
    if condition is not None:
        query = query.where(condition)
    rows, next_cursor = paginate(db, query, AuditEvent.id, cursor=cursor, limit=limit)
    names = _names(db, workspace_id=access.workspace_id, rows=rows)
    entries = []
    for row in rows:
        event = Event(
            action=row.action,
            actor_user_id=row.actor_user_id,
            actor_api_key_id=row.actor_api_key_id,
            target_type=row.target_type,
            target_id=row.target_id,
            summary=row.summary or {},
        )
        actor = names.users.get(row.actor_user_id or "") or names.api_keys.get(row.actor_api_key_id or "")
        entries.append(ActivityEntry(event=row, text=sentence(event, names), actor_name=actor))
    return entries, next_cursor


def _ids(rows: Iterable[AuditEvent], target_type: str) -> set[str]:
    return {row.target_id for row in rows if row.target_type == target_type and row.target_id}


def _names(db: Session, *, workspace_id: str, rows: list[AuditEvent]) -> Names:
    """Everything the page mentions, looked up in one query per kind of thing, within this workspace."""
    names = Names()
    user_ids = {row.actor_user_id for row in rows if row.actor_user_id} | _ids(rows, "user")
    if user_ids:
        for user_id, name, email in db.execute(select(User.id, User.name, User.email).where(User.id.in_(user_ids))):
            names.users[user_id] = name or email.split("@", 1)[0]
    key_ids = {row.actor_api_key_id for row in rows if row.actor_api_key_id}
    if key_ids:
        keys = select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids), ApiKey.workspace_id == workspace_id)
        names.api_keys.update({key_id: name for key_id, name in db.execute(keys)})
    job_ids = _ids(rows, "job")
    job_files: dict[str, str | None] = {}
    if job_ids:
        jobs = select(Job.id, Job.type, Job.input).where(Job.id.in_(job_ids), Job.workspace_id == workspace_id)
        for job_id, job_type, job_input in db.execute(jobs):
            job_files[job_id] = _input_file(job_input)
            names.jobs[job_id] = JobFacts(type=job_type)
    file_ids = _ids(rows, "file") | {file_id for file_id in job_files.values() if file_id}
    file_ids |= {
        str(row.summary["file_id"]) for row in rows if isinstance(row.summary, dict) and row.summary.get("file_id")
    }
    if file_ids:
        files = select(File.id, File.filename).where(File.id.in_(file_ids), File.workspace_id == workspace_id)
        names.files.update({file_id: filename for file_id, filename in db.execute(files)})
    for job_id, file_id in job_files.items():
        names.jobs[job_id] = JobFacts(type=names.jobs[job_id].type, filename=names.files.get(file_id or ""))
    for model, target_type in ((Podcast, "podcast"), (Dub, "dub"), (Conversation, "conversation")):
        ids = _ids(rows, target_type)
        if ids:
            titles = select(model.id, model.title).where(model.id.in_(ids), model.workspace_id == workspace_id)
            names.titles.update({row_id: title for row_id, title in db.execute(titles)})
    return names


def _input_file(job_input: Any) -> str | None:
    """The file a job works on, where its input names one."""
    if isinstance(job_input, dict) and isinstance(job_input.get("file_id"), str):
        return str(job_input["file_id"])
    return None
