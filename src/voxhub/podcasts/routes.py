"""HTTP routes for podcast episodes: create (or estimate), list, read, edit, delete, follow, retry, review the
script, download, and the workspace's private feed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import RedirectResponse

from voxhub.deps import AdminAccess, Ctx, DbSession, SpenderAccess, ViewerAccess
from voxhub.errors import responses
from voxhub.labels.filters import TagQuery
from voxhub.pagination import Cursor, Page
from voxhub.podcasts import feed, service, voices
from voxhub.podcasts.schemas import (
    EstimateOut,
    FeedOut,
    PodcastCreate,
    PodcastOut,
    PodcastStatus,
    PodcastStatusOut,
    PodcastUpdate,
    Script,
    ScriptIn,
    VoiceOut,
)
from voxhub.voices import service as hosted_voices

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/podcasts", tags=["podcasts"])


@router.post("", status_code=202, summary="Make a podcast episode", responses=responses(401, 402, 403, 404, 409, 422))
def create_podcast(body: PodcastCreate, db: DbSession, ctx: Ctx, access: SpenderAccess) -> PodcastOut:
    """From notes (100 to 50,000 characters) or sources; queued at once, or written and held for review first."""
    podcast = service.create(db, ctx=ctx, access=access, request=body)
    return service.out(db, podcast)


@router.post("/estimate", summary="Estimate an episode", responses=responses(401, 403, 404, 422))
def estimate_podcast(body: PodcastCreate, db: DbSession, ctx: Ctx, access: SpenderAccess) -> EstimateOut:
    """Its length, word budget and price, and whether it would be accepted now; nothing is made or held."""
    return service.estimate(db, ctx=ctx, access=access, request=body)


@router.get("", summary="List podcast episodes", responses=responses(401, 403, 404, 422))
def list_podcasts(
    db: DbSession,
    access: ViewerAccess,
    tags: TagQuery,
    status: PodcastStatus | None = None,
    sort: Literal["created_at", "updated_at"] = "created_at",
    order: Literal["asc", "desc"] = "desc",
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[PodcastOut]:
    rows, next_cursor = service.list_podcasts(
        db,
        workspace_id=access.workspace_id,
        status=status,
        sort=sort,
        order=order,
        cursor=cursor,
        limit=limit,
        tags=tags,
    )
    return Page(items=[service.out(db, row) for row in rows], next_cursor=next_cursor)


@router.get("/voices", summary="Voices for hosts", responses=responses(401, 403, 404))
def podcast_voices(
    ctx: Ctx, db: DbSession, access: ViewerAccess, language: Annotated[str, Query(max_length=16)] = "en"
) -> Page[VoiceOut]:
    """The voices a host can have here, best first for the language (the default hosts take the first ones), then
    the workspace's hosted voices (ElevenLabs, Unreal Speech). One page: `next_cursor` is always null."""
    options = voices.voice_options(ctx.settings, language)
    hosted = hosted_voices.workspace_voices(db, ctx=ctx, workspace_id=access.workspace_id)
    return Page(
        items=[
            *(
                VoiceOut(id=item.id, description=item.description, engine=item.engine, languages=list(item.languages))
                for item in options
            ),
            *(
                VoiceOut(
                    id=voice.id, description=f"{voice.name}, {voice.description}", engine=voice.engine, languages=["*"]
                )
                for voice in hosted
            ),
        ]
    )


# ---- the private feed (before /{podcast_id}, which would take its name) ----


@router.get("/feed", summary="The podcast feed", responses=responses(401, 403, 404))
def get_feed(db: DbSession, access: ViewerAccess) -> FeedOut:
    """Whether the feed is on; its URL is shown only when its token is made."""
    return feed.info(db, access=access)


@router.post("/feed", summary="Turn the feed on, with a new token", responses=responses(401, 403, 404))
def make_feed_token(db: DbSession, ctx: Ctx, access: AdminAccess) -> FeedOut:
    """A new private feed URL for podcast apps; an earlier one stops working."""
    return feed.make_token(db, ctx=ctx, access=access)


@router.delete("/feed", status_code=204, summary="Turn the feed off", responses=responses(401, 403, 404))
def turn_feed_off(db: DbSession, access: AdminAccess) -> Response:
    feed.turn_off(db, access=access)
    return Response(status_code=204)


@router.get(
    "/feed.xml",
    summary="The feed's RSS",
    response_class=Response,
    responses={200: {"content": {"application/rss+xml": {}}}, **responses(404)},
)
def feed_xml(workspace_id: str, db: DbSession, ctx: Ctx, token: Annotated[str, Query(max_length=200)]) -> Response:
    """For podcast apps: the token in the URL is the only credential."""
    body = feed.rss(db, ctx=ctx, workspace_id=workspace_id, token=token)
    return Response(body, media_type="application/rss+xml; charset=utf-8", headers={"Cache-Control": "private"})


@router.get(
    "/{podcast_id}/feed/{name}",
    status_code=302,
    response_class=RedirectResponse,
    summary="An episode's file, for the feed",
    responses=responses(404),
)
def feed_media(
    workspace_id: str,
    podcast_id: str,
    name: str,
    db: DbSession,
    ctx: Ctx,
    token: Annotated[str, Query(max_length=200)],
) -> RedirectResponse:
    url = feed.media_link(db, ctx=ctx, workspace_id=workspace_id, podcast_id=podcast_id, name=name, token=token)
    return RedirectResponse(url, status_code=302)


# ---- one episode ----


@router.get("/{podcast_id}", summary="A podcast episode", responses=responses(401, 403, 404))
def get_podcast(podcast_id: str, db: DbSession, access: ViewerAccess) -> PodcastOut:
    return service.out(db, service.get(db, workspace_id=access.workspace_id, podcast_id=podcast_id))


@router.patch(
    "/{podcast_id}", summary="Rename an episode or change its notes", responses=responses(401, 403, 404, 409, 422)
)
def update_podcast(podcast_id: str, body: PodcastUpdate, db: DbSession, access: SpenderAccess) -> PodcastOut:
    """The title at any time; the notes only before a script is written from them."""
    return service.out(db, service.update(db, access=access, podcast_id=podcast_id, body=body))


@router.delete("/{podcast_id}", status_code=204, summary="Delete an episode", responses=responses(401, 403, 404))
def delete_podcast(podcast_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> Response:
    """With its files; a job still making it is canceled."""
    service.delete(db, ctx=ctx, access=access, podcast_id=podcast_id)
    return Response(status_code=204)


@router.get("/{podcast_id}/status", summary="An episode's progress", responses=responses(401, 403, 404))
def podcast_status(podcast_id: str, db: DbSession, access: ViewerAccess) -> PodcastStatusOut:
    return service.status_out(db, service.get(db, workspace_id=access.workspace_id, podcast_id=podcast_id))


@router.post(
    "/{podcast_id}/retry", status_code=202, summary="Retry an episode", responses=responses(401, 402, 403, 404, 409)
)
def retry_podcast(podcast_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> PodcastOut:
    """A failed or canceled episode, from its last finished stage; the plan's limits are checked again."""
    return service.out(db, service.retry(db, ctx=ctx, access=access, podcast_id=podcast_id))


@router.get("/{podcast_id}/script", summary="An episode's script", responses=responses(401, 403, 404))
def get_script(podcast_id: str, db: DbSession, access: ViewerAccess) -> Script:
    return service.get_script(db, workspace_id=access.workspace_id, podcast_id=podcast_id)


@router.put(
    "/{podcast_id}/script", summary="Edit the script under review", responses=responses(401, 403, 404, 409, 422)
)
def put_script(podcast_id: str, body: ScriptIn, db: DbSession, access: SpenderAccess) -> Script:
    """Only lines that changed are spoken again when the episode is made."""
    return service.put_script(db, access=access, podcast_id=podcast_id, body=body)


@router.post(
    "/{podcast_id}/approve", status_code=202, summary="Approve the script", responses=responses(401, 402, 403, 404, 409)
)
def approve_podcast(podcast_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> PodcastOut:
    """The reviewed script goes to the voices; the episode's price is held now."""
    return service.out(db, service.approve(db, ctx=ctx, access=access, podcast_id=podcast_id))


@router.post(
    "/{podcast_id}/segments/{segment}/regenerate",
    status_code=202,
    summary="Rewrite one segment of the script",
    responses=responses(401, 403, 404, 409, 422),
)
def regenerate_segment(podcast_id: str, segment: int, db: DbSession, ctx: Ctx, access: SpenderAccess) -> PodcastOut:
    """Segments count from 0; the episode is back in review when it is rewritten."""
    return service.out(
        db, service.regenerate_segment(db, ctx=ctx, access=access, podcast_id=podcast_id, segment=segment)
    )


@router.get(
    "/{podcast_id}/download",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download an episode",
    responses=responses(401, 403, 404, 409),
)
def download_podcast(
    podcast_id: str, db: DbSession, ctx: Ctx, access: ViewerAccess, format: Literal["mp3", "m4a"] = "mp3"
) -> RedirectResponse:
    """Redirect to a signed link to the MP3 (or M4A)."""
    url = service.download_url(db, ctx=ctx, access=access, podcast_id=podcast_id, fmt=format)
    return RedirectResponse(url, status_code=302)
