"""HTTP routes for share links: made, listed and revoked in a workspace; opened by anyone holding one, as JSON
(`/api/v1/shared/{token}`) or as a page (`/s/{token}`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Query, Request, Response
from fastapi.responses import HTMLResponse

from voxhub.deps import Ctx, DbSession, ViewerAccess, client_ip
from voxhub.errors import ErrorOut, VoxhubError, responses
from voxhub.pagination import Cursor, Page
from voxhub.shares import page, service
from voxhub.shares.schemas import ShareCreate, SharedItem, ShareOut, ShareTarget

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/shares", tags=["shares"])
public = APIRouter(tags=["shares"])

Token = Annotated[str, page.TOKEN_PATH]


@router.post("", status_code=201, summary="Share an item", responses=responses(401, 403, 404, 409, 422))
def create_share(body: ShareCreate, db: DbSession, ctx: Ctx, access: ViewerAccess) -> ShareOut:
    """A read-only link to a finished transcript, podcast episode or dub; whoever may read the item may share it."""
    share = service.create(db, access=access, request=body)
    return service.outs(db, ctx, [share])[0]


@router.get("", summary="List share links", responses=responses(401, 403, 404, 422))
def list_shares(
    db: DbSession,
    ctx: Ctx,
    access: ViewerAccess,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    target_type: ShareTarget | None = None,
    target_id: Annotated[str | None, Query(max_length=36)] = None,
) -> Page[ShareOut]:
    """The workspace's share links, newest first, revoked and expired ones too; `target_id` for one item's."""
    rows, next_cursor = service.list_shares(
        db, workspace_id=access.workspace_id, cursor=cursor, limit=limit, target_type=target_type, target_id=target_id
    )
    return Page(items=service.outs(db, ctx, rows), next_cursor=next_cursor)


@router.get("/{share_id}", summary="A share link", responses=responses(401, 403, 404))
def get_share(share_id: str, db: DbSession, ctx: Ctx, access: ViewerAccess) -> ShareOut:
    """One share link, with its views and state."""
    share = service.get(db, workspace_id=access.workspace_id, share_id=share_id)
    return service.outs(db, ctx, [share])[0]


@router.post("/{share_id}/revoke", summary="Revoke a share link", responses=responses(401, 403, 404))
def revoke_share(share_id: str, db: DbSession, ctx: Ctx, access: ViewerAccess) -> ShareOut:
    """Stop the link working at once (its maker or an admin)."""
    share = service.revoke(db, access=access, share_id=share_id)
    return service.outs(db, ctx, [share])[0]


@router.delete(
    "/{share_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke a share link",
    responses=responses(401, 403, 404),
)
def delete_share(share_id: str, db: DbSession, access: ViewerAccess) -> Response:
    """The same as `POST …/revoke`: the link stops working; the share stays listed as revoked."""
    service.revoke(db, access=access, share_id=share_id)
    return Response(status_code=204)


GONE: dict[int | str, dict[str, Any]] = {
    410: {"model": ErrorOut, "description": "The share expired or was revoked, or its item is gone"}
}


# The path parameter is `share_token`, not `token`: /blobs/{token} names another kind of token in the same schema.
@public.get(
    "/api/v1/shared/{share_token}", summary="Open a share link", responses={**responses(401, 403, 404, 429), **GONE}
)
def open_share(
    share_token: Token,
    request: Request,
    db: DbSession,
    ctx: Ctx,
    x_share_password: Annotated[str | None, Header(max_length=200)] = None,
) -> SharedItem:
    """What the link shares, without signing in; the password (when set) in `X-Share-Password`. Counts one view."""
    return service.open_shared(
        db, ctx=ctx, token=share_token, password=x_share_password, client=client_ip(request, ctx)
    )


@public.get("/s/{token}", include_in_schema=False)
def share_page(token: Token, request: Request, db: DbSession, ctx: Ctx) -> HTMLResponse:
    """The public page of a share link: the item, readable and playable, with no way into the workspace."""
    return _page(request, db, ctx, token, None)


@public.post("/s/{token}", include_in_schema=False)
def share_page_unlocked(
    token: Token,
    request: Request,
    db: DbSession,
    ctx: Ctx,
    password: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """The page again, with the password its form sent."""
    return _page(request, db, ctx, token, password)


def _page(request: Request, db: DbSession, ctx: Ctx, token: str, password: str | None) -> HTMLResponse:
    headers = page.page_headers(request.app.state.console_headers)
    try:
        item = service.open_shared(db, ctx=ctx, token=token, password=password, client=client_ip(request, ctx))
    except VoxhubError as refused:
        if refused.status_code >= 500:
            raise
        return page.refusal(refused, headers, password_tried=password is not None)
    return page.item_page(item, headers)
