"""HTTP routes for labels: the workspace's tags and custom fields, tags on files, jobs, podcasts and dubs, and field
values on files and jobs. The list filters are in filters.py."""

from __future__ import annotations

from fastapi import APIRouter, Response

from voxhub.deps import AdminAccess, DbSession, MemberAccess, ViewerAccess
from voxhub.dubbing import service as dubs
from voxhub.errors import responses
from voxhub.files import service as files
from voxhub.jobs import service as jobs
from voxhub.labels import service
from voxhub.labels.models import TargetType
from voxhub.labels.schemas import (
    FieldCreate,
    FieldOut,
    FieldUpdate,
    FieldValuesIn,
    FieldValuesOut,
    ItemTagsIn,
    ItemTagsOut,
    TagCreate,
    TagOut,
    TagUpdate,
)
from voxhub.pagination import Page
from voxhub.podcasts import service as podcasts

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["labels"])


def tag_out(tag: object, items: int = 0) -> TagOut:
    return TagOut.model_validate(tag).model_copy(update={"items": items})


# ---- the vocabulary ----


@router.get("/tags", summary="List tags", responses=responses(401, 403, 404))
def list_tags(db: DbSession, access: ViewerAccess) -> Page[TagOut]:
    """Every tag of the workspace by name, with how many items carry it. One page: `next_cursor` is always null."""
    return Page(items=[tag_out(tag, items) for tag, items in service.list_tags(db, workspace_id=access.workspace_id)])


@router.post("/tags", status_code=201, summary="Add a tag", responses=responses(401, 403, 404, 409, 422))
def create_tag(body: TagCreate, db: DbSession, access: MemberAccess) -> TagOut:
    """Members add tags; a name is unique in the workspace whatever its case (409 `tag_exists`)."""
    return tag_out(service.create_tag(db, access=access, name=body.name, color=body.color))


@router.patch("/tags/{tag_id}", summary="Rename or recolour a tag", responses=responses(401, 403, 404, 409, 422))
def update_tag(tag_id: str, body: TagUpdate, db: DbSession, access: AdminAccess) -> TagOut:
    """Admins; every item carrying it shows the new name."""
    return tag_out(service.update_tag(db, access=access, tag_id=tag_id, changes=body))


@router.delete("/tags/{tag_id}", status_code=204, summary="Delete a tag", responses=responses(401, 403, 404))
def delete_tag(tag_id: str, db: DbSession, access: AdminAccess) -> Response:
    """Admins; it comes off every item that carries it."""
    service.delete_tag(db, access=access, tag_id=tag_id)
    return Response(status_code=204)


@router.get("/custom-fields", summary="List custom fields", responses=responses(401, 403, 404))
def list_fields(db: DbSession, access: ViewerAccess) -> Page[FieldOut]:
    """The fields files and jobs can carry, in the order they were made. One page: `next_cursor` is always null."""
    return Page(items=[FieldOut.model_validate(f) for f in service.list_fields(db, workspace_id=access.workspace_id)])


@router.post(
    "/custom-fields", status_code=201, summary="Define a custom field", responses=responses(401, 403, 404, 409, 422)
)
def create_field(body: FieldCreate, db: DbSession, access: AdminAccess) -> FieldOut:
    """Admins: `text`, `number`, `date` or `select` (with its options), required or not."""
    return FieldOut.model_validate(service.create_field(db, access=access, request=body))


@router.patch(
    "/custom-fields/{field_id}", summary="Change a custom field", responses=responses(401, 403, 404, 409, 422)
)
def update_field(field_id: str, body: FieldUpdate, db: DbSession, access: AdminAccess) -> FieldOut:
    """Admins: its name, a select's options, whether it is required; the key and type stay."""
    return FieldOut.model_validate(service.update_field(db, access=access, field_id=field_id, changes=body))


@router.delete(
    "/custom-fields/{field_id}", status_code=204, summary="Delete a custom field", responses=responses(401, 403, 404)
)
def delete_field(field_id: str, db: DbSession, access: AdminAccess) -> Response:
    """Admins; every item's value of it goes too."""
    service.delete_field(db, access=access, field_id=field_id)
    return Response(status_code=204)


# ---- on items: each route finds its item first (that room's 404), then labels it ----


def put_tags(
    db: DbSession, access: MemberAccess, target_type: TargetType, target_id: str, body: ItemTagsIn
) -> ItemTagsOut:
    tags = service.set_tags(db, access=access, target_type=target_type, target_id=target_id, names=body.tags)
    return ItemTagsOut(tags=tags)


@router.put("/files/{file_id}/tags", summary="Set a file's tags", responses=responses(401, 403, 404, 422))
def tag_file(file_id: str, body: ItemTagsIn, db: DbSession, access: MemberAccess) -> ItemTagsOut:
    """The file's tags from now on (tags of this workspace, by name)."""
    files.get_file(db, workspace_id=access.workspace_id, file_id=file_id)
    return put_tags(db, access, TargetType.FILE, file_id, body)


@router.put("/jobs/{job_id}/tags", summary="Set a job's tags", responses=responses(401, 403, 404, 422))
def tag_job(job_id: str, body: ItemTagsIn, db: DbSession, access: MemberAccess) -> ItemTagsOut:
    """The job's tags from now on (tags of this workspace, by name)."""
    jobs.get(db, workspace_id=access.workspace_id, job_id=job_id)
    return put_tags(db, access, TargetType.JOB, job_id, body)


@router.put("/podcasts/{podcast_id}/tags", summary="Set an episode's tags", responses=responses(401, 403, 404, 422))
def tag_podcast(podcast_id: str, body: ItemTagsIn, db: DbSession, access: MemberAccess) -> ItemTagsOut:
    """The episode's tags from now on (tags of this workspace, by name)."""
    podcasts.get(db, workspace_id=access.workspace_id, podcast_id=podcast_id)
    return put_tags(db, access, TargetType.PODCAST, podcast_id, body)


@router.put("/dubs/{dub_id}/tags", summary="Set a dub's tags", responses=responses(401, 403, 404, 422))
def tag_dub(dub_id: str, body: ItemTagsIn, db: DbSession, access: MemberAccess) -> ItemTagsOut:
    """The dub's tags from now on (tags of this workspace, by name)."""
    dubs.get(db, workspace_id=access.workspace_id, dub_id=dub_id)
    return put_tags(db, access, TargetType.DUB, dub_id, body)


@router.patch(
    "/files/{file_id}/custom-fields", summary="Set a file's custom fields", responses=responses(401, 403, 404, 422)
)
def set_file_fields(file_id: str, body: FieldValuesIn, db: DbSession, access: MemberAccess) -> FieldValuesOut:
    """Set the values named (null removes one); the others stay. A wrong value is a 422 naming its field."""
    files.get_file(db, workspace_id=access.workspace_id, file_id=file_id)
    values = service.set_values(db, access=access, target_type=TargetType.FILE, target_id=file_id, values=body.values)
    return FieldValuesOut(custom_fields=values)


@router.patch(
    "/jobs/{job_id}/custom-fields", summary="Set a job's custom fields", responses=responses(401, 403, 404, 422)
)
def set_job_fields(job_id: str, body: FieldValuesIn, db: DbSession, access: MemberAccess) -> FieldValuesOut:
    """Set the values named (null removes one); the others stay. A wrong value is a 422 naming its field."""
    jobs.get(db, workspace_id=access.workspace_id, job_id=job_id)
    values = service.set_values(db, access=access, target_type=TargetType.JOB, target_id=job_id, values=body.values)
    return FieldValuesOut(custom_fields=values)
