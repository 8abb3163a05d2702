"""The `tag=` and `field.<key>=` query parameters every labelled list takes, as FastAPI dependencies: a list route
adds `labels: LabelQuery` (files, jobs) or `labels: TagQuery` (podcasts, dubs) and hands it to its service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from voxhub.labels import service
from voxhub.labels.service import LabelFilter

TAG_HELP = "Only items with this tag (any case); repeat for items with all of them."
FIELD_HELP = (
    " Custom fields filter too: `field.<key>=value` (equal), `field.<key>.min=` and `field.<key>.max=` (number and "
    "date fields, inclusive)."
)


def tag_filter(
    tag: Annotated[list[str] | None, Query(description=TAG_HELP, max_length=service.MAX_FILTER_TAGS)] = None,
) -> LabelFilter:
    return service.parse_filter(tags=tag or [], params=[])


def label_filter(
    request: Request,
    tag: Annotated[
        list[str] | None, Query(description=TAG_HELP + FIELD_HELP, max_length=service.MAX_FILTER_TAGS)
    ] = None,
) -> LabelFilter:
    return service.parse_filter(tags=tag or [], params=list(request.query_params.multi_items()))


TagQuery = Annotated[LabelFilter, Depends(tag_filter)]
LabelQuery = Annotated[LabelFilter, Depends(label_filter)]
