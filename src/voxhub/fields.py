"""Field types that request bodies of several rooms share."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, HttpUrl, UrlConstraints

# A URL that fits its column (String(2000)), with room for normalising (a trailing slash, an international host
# spelled in ASCII): the schema states the smaller limit, and the normalised form is checked against the column.
URL_MAX_LENGTH = 2000


def _stored_whole(url: HttpUrl) -> HttpUrl:
    if len(str(url)) > URL_MAX_LENGTH:  # as normalised: an international host grows when spelled in ASCII
        raise ValueError(f"at most {URL_MAX_LENGTH} characters")
    return url


StoredUrl = Annotated[HttpUrl, UrlConstraints(max_length=URL_MAX_LENGTH - 100), AfterValidator(_stored_whole)]
