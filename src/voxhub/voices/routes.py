"""HTTP routes for a workspace's cloned voices (ElevenLabs voice cloning, with consent)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from voxhub.deps import Ctx, DbSession, MemberAccess, SpenderAccess, ViewerAccess
from voxhub.errors import responses
from voxhub.pagination import Cursor, Page
from voxhub.voices import service
from voxhub.voices.models import HostedVoice
from voxhub.voices.schemas import ClonedVoiceOut, VoiceCloneIn

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/voices", tags=["speech"])


def clone_out(row: HostedVoice) -> ClonedVoiceOut:
    return ClonedVoiceOut(
        id=row.id,
        voice=service.voice_id_of(row),
        provider="elevenlabs",
        name=row.name,
        description=row.description,
        language=row.language,
        sample_file_id=row.sample_file_id,
        consented_by=row.consented_by,
        consented_at=row.consented_at,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@router.get("", summary="Cloned voices", responses=responses(401, 403, 404, 422))
def list_cloned_voices(
    db: DbSession,
    access: ViewerAccess,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ClonedVoiceOut]:
    """The voices this workspace cloned, newest first; GET /api/v1/voices lists them with every other voice."""
    rows, next_cursor = service.list_clones(db, workspace_id=access.workspace_id, cursor=cursor, limit=limit)
    return Page(items=[clone_out(row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, summary="Clone a voice", responses=responses(401, 403, 404, 409, 422, 503))
def clone_voice(body: VoiceCloneIn, db: DbSession, ctx: Ctx, access: SpenderAccess) -> ClonedVoiceOut:
    """Clone a speaker's voice at ElevenLabs from an uploaded recording, with their consent stated; audited."""
    row = service.clone_voice(
        db,
        ctx=ctx,
        access=access,
        name=body.name,
        file_id=body.file_id,
        consent=body.consent,
        consented_by=body.consented_by,
        description=body.description,
        language=body.language,
    )
    return clone_out(row)


@router.get("/{voice_id}", summary="A cloned voice", responses=responses(401, 403, 404))
def get_cloned_voice(voice_id: str, db: DbSession, access: ViewerAccess) -> ClonedVoiceOut:
    """One cloned voice, with who consented to it."""
    return clone_out(service.get_clone(db, workspace_id=access.workspace_id, voice_id=voice_id))


@router.delete(
    "/{voice_id}", status_code=204, summary="Delete a cloned voice", responses=responses(401, 403, 404, 422, 503)
)
def delete_cloned_voice(voice_id: str, db: DbSession, ctx: Ctx, access: MemberAccess) -> Response:
    """Delete the voice here and at ElevenLabs; audited."""
    service.delete_clone(db, ctx=ctx, access=access, voice_id=voice_id)
    return Response(status_code=204)
