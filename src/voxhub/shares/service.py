"""Share links: made by whoever may read the item, listed and revoked in the workspace, opened by anyone holding the
link. A link's token is the share's id signed with the secret key (purpose `share-link`): a made-up or altered token
is 404, an expired or revoked share is 410, a share's item that is gone is 410 too. A password, when set, is hashed
like an account's; wrong guesses are rate limited per share and address. Each opening counts one view."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.db import scope_to_workspace
from voxhub.dubbing import service as dubbing
from voxhub.dubbing.models import Dub
from voxhub.dubbing.schemas import DubStatus
from voxhub.dubbing.schemas import Outputs as DubOutputs
from voxhub.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable, VoxhubError
from voxhub.files import service as files
from voxhub.files.models import File, FileStatus
from voxhub.jobs.models import Job
from voxhub.pagination import paginate
from voxhub.podcasts import service as podcasts
from voxhub.podcasts.models import Podcast
from voxhub.podcasts.schemas import Outputs as PodcastOutputs
from voxhub.podcasts.schemas import PodcastStatus
from voxhub.security import Keyring, hash_password, verify_password
from voxhub.shares.models import Share
from voxhub.shares.schemas import (
    ShareCreate,
    SharedChapter,
    SharedItem,
    SharedMedia,
    SharedSegment,
    ShareOut,
    ShareStatus,
    ShareTarget,
)
from voxhub.storage import DownloadOptions, cdn
from voxhub.transcripts import service as transcripts
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

TOKEN_PURPOSE = "share-link"
MEDIA_TTL_S = 900  # a shared item's media link: short-lived, a page opened later asks again
PASSWORD_TRIES_PER_MINUTE = 10  # per share and address


class Gone(VoxhubError):
    status_code = 410
    code = "share_gone"
    message = "This share link no longer works."


# ---- the link's token ----


def token_for(keyring: Keyring, share_id: str) -> str:
    """The share's id (32 hex digits) and its signature (URL-safe base64): the only credential a link carries."""
    signature = bytes.fromhex(keyring.sign(share_id, purpose=TOKEN_PURPOSE))
    return f"{uuid.UUID(share_id).hex}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def share_id_of(keyring: Keyring, token: str) -> str | None:
    """The share id a genuine token names (signed by any key on the ring); None for anything else."""
    head, _, signature = token.partition(".")
    try:
        share_id = str(uuid.UUID(hex=head)) if len(head) == 32 else ""
        signed = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)).hex()
    except (ValueError, binascii.Error):
        return None
    if not share_id or not keyring.verify(share_id, signed, purpose=TOKEN_PURPOSE):
        return None
    return share_id


def page_url(ctx: AppContext, share: Share) -> str:
    """The share's public page."""
    return f"{ctx.settings.public_url}/s/{token_for(ctx.keyring, share.id)}"


def api_url(ctx: AppContext, share: Share) -> str:
    """The share's item as JSON."""
    return f"{ctx.settings.public_url}/api/v1/shared/{token_for(ctx.keyring, share.id)}"


# ---- the items a share can show (one query per kind) ----


@dataclass(frozen=True)
class Target:
    title: str
    ready: bool


def _target(db: Session, *, workspace_id: str, target_type: ShareTarget, target_id: str) -> Target:
    """The item a share would show, or 404 `share_target_not_found` (another workspace's item too)."""
    try:
        if target_type == ShareTarget.TRANSCRIPT:
            try:
                row = transcripts.get(db, workspace_id=workspace_id, job_id=target_id)
            except Conflict:
                return Target(title="", ready=False)
            return Target(title=_recording_name(db, row.job_id), ready=True)
        if target_type == ShareTarget.PODCAST:
            podcast = podcasts.get(db, workspace_id=workspace_id, podcast_id=target_id)
            return Target(title=podcast.title, ready=podcast.status == PodcastStatus.SUCCEEDED)
        dub = dubbing.get(db, workspace_id=workspace_id, dub_id=target_id)
        return Target(title=dub.title, ready=dub.status == DubStatus.SUCCEEDED)
    except NotFound as missing:
        raise NotFound(
            f"No {target_type.value} {target_id} in this workspace.", code="share_target_not_found"
        ) from missing


def _input_file(db: Session, job_id: str) -> File | None:
    """The recording a transcription job transcribed, while its bytes are kept."""
    job = db.get(Job, job_id)
    return _ready_file(db, str((job.input or {}).get("file_id") or "")) if job is not None else None


def _recording_name(db: Session, job_id: str) -> str:
    file = _input_file(db, job_id)
    return files.display_name(file.filename) if file is not None else "Transcript"


def _titles(db: Session, shares: list[Share]) -> dict[tuple[str, str], str]:
    """The current title of each share's item, in a query or two per kind of item."""
    wanted: dict[str, set[str]] = {kind.value: set() for kind in ShareTarget}
    for share in shares:
        wanted[share.target_type].add(share.target_id)
    titles: dict[tuple[str, str], str] = {}
    if wanted[ShareTarget.PODCAST]:
        for podcast_id, title in db.execute(
            select(Podcast.id, Podcast.title).where(Podcast.id.in_(wanted[ShareTarget.PODCAST]))
        ):
            titles[(ShareTarget.PODCAST.value, podcast_id)] = title
    if wanted[ShareTarget.DUB]:
        for dub_id, title in db.execute(select(Dub.id, Dub.title).where(Dub.id.in_(wanted[ShareTarget.DUB]))):
            titles[(ShareTarget.DUB.value, dub_id)] = title
    if wanted[ShareTarget.TRANSCRIPT]:
        inputs = {
            job_id: str((job_input or {}).get("file_id") or "")
            for job_id, job_input in db.execute(
                select(Job.id, Job.input).where(Job.id.in_(wanted[ShareTarget.TRANSCRIPT]))
            )
        }
        names = dict(db.execute(select(File.id, File.filename).where(File.id.in_(set(inputs.values())))).all())
        for job_id, file_id in inputs.items():
            titles[(ShareTarget.TRANSCRIPT.value, job_id)] = files.display_name(names.get(file_id)) or "Transcript"
    return titles


# ---- the workspace's side ----


def status_of(share: Share, now: datetime | None = None) -> ShareStatus:
    """Revoked, expired, or active."""
    if share.revoked_at is not None:
        return ShareStatus.REVOKED
    if share.expires_at is not None and as_utc(share.expires_at) <= (now or utcnow()):
        return ShareStatus.EXPIRED
    return ShareStatus.ACTIVE


def out(ctx: AppContext, share: Share, title: str) -> ShareOut:
    """The share as the workspace sees it, with its link and its item's `title`."""
    return ShareOut(
        id=share.id,
        workspace_id=share.workspace_id,
        target_type=ShareTarget(share.target_type),
        target_id=share.target_id,
        title=title,
        url=page_url(ctx, share),
        api_url=api_url(ctx, share),
        status=status_of(share),
        password_protected=share.password_hash is not None,
        expires_at=as_utc(share.expires_at) if share.expires_at else None,
        revoked_at=as_utc(share.revoked_at) if share.revoked_at else None,
        view_count=share.view_count,
        last_viewed_at=as_utc(share.last_viewed_at) if share.last_viewed_at else None,
        created_by=share.created_by,
        created_at=as_utc(share.created_at),
    )


def outs(db: Session, ctx: AppContext, shares: list[Share]) -> list[ShareOut]:
    """Shares as the workspace sees them, their items' titles read in a query or two per kind."""
    titles = _titles(db, shares)
    return [out(ctx, share, titles.get((share.target_type, share.target_id), "")) for share in shares]


def create(db: Session, *, access: WorkspaceAccess, request: ShareCreate) -> Share:
    """Share one finished item read-only; anyone who may read it may share it. Audited."""
    target = _target(db, workspace_id=access.workspace_id, target_type=request.target_type, target_id=request.target_id)
    if not target.ready:
        raise Conflict(
            f"The {request.target_type.value} is not finished; share it once it is.", code="share_target_not_ready"
        )
    if request.expires_at is not None and as_utc(request.expires_at) <= utcnow():
        raise Unprocessable("expires_at must be in the future.", code="validation_error")
    share = Share(
        workspace_id=access.workspace_id,
        target_type=request.target_type.value,
        target_id=request.target_id,
        password_hash=hash_password(request.password) if request.password else None,
        expires_at=as_utc(request.expires_at) if request.expires_at else None,
        created_by=access.user.id if access.user else None,
        created_by_api_key=access.api_key_id,
    )
    db.add(share)
    db.flush()
    _audit(db, access, "share.created", share, {"title": target.title, "password": share.password_hash is not None})
    return share


def list_shares(
    db: Session,
    *,
    workspace_id: str,
    cursor: str | None,
    limit: int,
    target_type: ShareTarget | None = None,
    target_id: str | None = None,
) -> tuple[list[Share], str | None]:
    """The workspace's shares, newest first, optionally of one kind or one item; and the next page's cursor."""
    query = select(Share).where(Share.workspace_id == workspace_id)
    if target_type is not None:
        query = query.where(Share.target_type == target_type.value)
    if target_id is not None:
        query = query.where(Share.target_id == target_id)
    return paginate(db, query, Share.id, cursor=cursor, limit=limit)


def get(db: Session, *, workspace_id: str, share_id: str) -> Share:
    """The workspace's share, or 404 `share_not_found` (another workspace's too)."""
    share = db.get(Share, share_id)
    if share is None or share.workspace_id != workspace_id:
        raise NotFound("Share not found.", code="share_not_found")
    return share


def revoke(db: Session, *, access: WorkspaceAccess, share_id: str) -> Share:
    """Stop a link working at once: its maker or an admin may. Revoking twice changes nothing. Audited."""
    share = get(db, workspace_id=access.workspace_id, share_id=share_id)
    made_it = (access.user is not None and share.created_by == access.user.id) or (
        access.api_key_id is not None and share.created_by_api_key == access.api_key_id
    )
    if not made_it:
        access.require(Role.ADMIN)
    if share.revoked_at is None:
        share.revoked_at = utcnow()
        db.flush()
        _audit(db, access, "share.revoked", share, {})
    return share


def _audit(db: Session, access: WorkspaceAccess, action: str, share: Share, summary: dict[str, Any]) -> None:
    audit.record(
        db,
        actor=access.actor,
        action=action,
        workspace_id=access.workspace_id,
        target_type="share",
        target_id=share.id,
        summary={"target_type": share.target_type, "target_id": share.target_id, **summary},
    )


# ---- the public side ----


def open_shared(db: Session, *, ctx: AppContext, token: str, password: str | None, client: str) -> SharedItem:
    """What a share link shows, exactly the item and nothing else of its workspace; counts one view. 404 for a token
    that is not genuine, 410 when the share expired, was revoked or its item is gone, 401 `password_required`,
    403 `wrong_password`, 429 past the password tries allowed."""
    share_id = share_id_of(ctx.keyring, token)
    share = db.get(Share, share_id) if share_id else None
    if share is None:
        raise NotFound("This share link does not exist.", code="share_not_found")
    scope_to_workspace(db, share.workspace_id)
    status = status_of(share)
    if status == ShareStatus.REVOKED:
        raise Gone("This share link was revoked.", code="share_revoked")
    if status == ShareStatus.EXPIRED:
        raise Gone("This share link has expired.", code="share_expired")
    if share.password_hash is not None:
        _check_password(ctx, share, password, client)
    item = _item(db, ctx, share)
    db.execute(
        update(Share).where(Share.id == share.id).values(view_count=Share.view_count + 1, last_viewed_at=utcnow())
    )
    item.views = share.view_count + 1
    return item


def _check_password(ctx: AppContext, share: Share, password: str | None, client: str) -> None:
    if not password:
        raise Unauthorized("This share is protected by a password.", code="password_required", headers={})
    decision = ctx.rate_limiter.hit(f"share-password:{share.id}:{client}", PASSWORD_TRIES_PER_MINUTE)
    if not decision.allowed:
        raise TooManyRequests(
            f"Too many passwords tried; try again in {decision.reset_s} s.",
            code="rate_limited",
            retry_after_s=decision.reset_s,
        )
    assert share.password_hash is not None
    if not verify_password(share.password_hash, password):
        raise Forbidden("That is not the share's password.", code="wrong_password")


def _item(db: Session, ctx: AppContext, share: Share) -> SharedItem:
    kind = ShareTarget(share.target_type)
    expires_at = as_utc(share.expires_at) if share.expires_at else None
    try:
        if kind == ShareTarget.TRANSCRIPT:
            row = transcripts.get(db, workspace_id=share.workspace_id, job_id=share.target_id)
            recording = _input_file(db, row.job_id)
            data = row.data or {}
            names = {str(label): str(name) for label, name in (data.get("speakers") or {}).items()}
            return SharedItem(
                type=kind,
                title=files.display_name(recording.filename) if recording else "Transcript",
                language=row.language or None,
                duration_s=data.get("duration") or ((recording.media or {}).get("duration_s") if recording else None),
                media=_media(ctx, recording),
                segments=[
                    SharedSegment(
                        start=float(segment.get("start") or 0),
                        end=float(segment.get("end") or 0),
                        speaker=names.get(str(segment["speaker"]), str(segment["speaker"]))
                        if segment.get("speaker")
                        else None,
                        text=str(segment.get("text") or "").strip(),
                    )
                    for segment in data.get("segments") or []
                ],
                expires_at=expires_at,
                views=share.view_count,
            )
        if kind == ShareTarget.PODCAST:
            podcast = podcasts.get(db, workspace_id=share.workspace_id, podcast_id=share.target_id)
            if podcast.status != PodcastStatus.SUCCEEDED:
                raise NotFound()
            outputs = PodcastOutputs.model_validate(podcast.outputs or {})
            return SharedItem(
                type=kind,
                title=podcast.title,
                language=str((podcast.options or {}).get("language") or "") or None,
                duration_s=podcast.duration_s,
                media=_media(ctx, _ready_file(db, outputs.mp3_file_id or outputs.m4a_file_id)),
                chapters=[
                    SharedChapter(start=float(mark.get("start") or 0), title=str(mark.get("title") or ""))
                    for mark in podcast.chapters or []
                ],
                expires_at=expires_at,
                views=share.view_count,
            )
        dub = dubbing.get(db, workspace_id=share.workspace_id, dub_id=share.target_id)
        if dub.status != DubStatus.SUCCEEDED:
            raise NotFound()
        dub_outputs = DubOutputs.model_validate(dub.outputs or {})
        return SharedItem(
            type=kind,
            title=dub.title,
            language=dub.source_language,
            languages=list(dubbing.options_of(dub).target_languages),
            duration_s=dub.duration_s,
            media=_media(ctx, _ready_file(db, dub_outputs.media_file_id)),
            expires_at=expires_at,
            views=share.view_count,
        )
    except (NotFound, Conflict) as missing:
        raise Gone("What this link shared is no longer there.", code="share_target_gone") from missing


def _ready_file(db: Session, file_id: str | None) -> File | None:
    file = db.get(File, file_id) if file_id else None
    ready = file is not None and file.status == FileStatus.READY.value and file.deleted_at is None
    return file if ready else None


def _media(ctx: AppContext, file: File | None) -> SharedMedia | None:
    """A short-lived signed link to a shared item's media, through the CDN when one is set."""
    if file is None:
        return None
    ttl_s = min(MEDIA_TTL_S, ctx.settings.download_url_ttl)
    url = cdn.delivery_url(
        ctx.settings,
        ctx.store,
        file.storage_key,
        ttl_s=ttl_s,
        download=DownloadOptions(filename=file.filename, content_type=file.content_type, inline=True),
    )
    return SharedMedia(url=url, content_type=file.content_type, expires_at=utcnow() + timedelta(seconds=ttl_s))
