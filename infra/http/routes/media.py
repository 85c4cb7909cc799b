"""Media: upload (multipart), read, describe, and the bytes of each variant.

An upload is validated by decoding it in the process pool (``infra.media_processing``;
at most ``ROOST_MEDIA_MAX_PENDING`` jobs per API process, past which it is 503 with
``Retry-After`` and nothing stored), where its two variants are also written to the
media store under content-addressed keys, durably; only then is ``MediaUploaded``
appended: a failure in between leaves an orphan object for the sweeper, never an
event naming nothing. A refused file stores nothing. The body is capped before the
route runs (``BodyLimitMiddleware``'s larger limit for this path: the file limit plus
room for the form), and a form that Starlette would misread (cut short, a text field
not UTF-8) is refused before it too
(``infra.http.multipart``).
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, File, Form, Path, Request, Response, UploadFile

from commands.messages import DescribeMedia, UploadMedia
from domain.errors import TooLarge, UnsupportedMediaType, ValidationFailed
from domain.ids import SNOWFLAKE_PATTERN
from domain.media import description_problem
from domain.text import normalise_text
from infra.http.answers import media_answer
from infra.http.deps import (
    CurrentActor,
    MinPosition,
    Services,
    execute,
    snowflake_or_404,
    wait_until_applied,
)
from infra.http.middleware import is_head
from infra.http.ratelimit import rate_limit
from infra.http.schemas import ERROR_RESPONSES, ErrorBody, Media, MediaPatch
from infra.http.text import MultilineText
from infra.media_processing import ImageRefused
from infra.metrics import MEDIA_UPLOADS
from ports.errors import Overloaded
from ports.media_store import digest_of
from ports.projectors import READ_MODELS
from ports.records import MediaBody
from queries import media as media_queries
from queries.shapes import Media as MediaShape

router = APIRouter(prefix="/api", tags=["media"], responses=ERROR_RESPONSES)

MediaId = Annotated[str, Path(max_length=19, pattern=SNOWFLAKE_PATTERN,
                              description="A medium id (decimal string); another shape is 404")]
CACHE_CONTROL = "public, max-age=86400"
"""A day: the API's floor (docs/api.md), and how long a deleted post's media may stay
in a cache after they stop being served."""


def _refusal(refused: ImageRefused) -> Exception:
    fields = {"file": refused.reason}
    if refused.status == 413:
        return TooLarge(f"file: {refused.reason}", code=refused.code, fields=fields)
    if refused.status == 415:
        return UnsupportedMediaType(f"file: {refused.reason}", fields=fields)
    return ValidationFailed(fields, code=refused.code)


@router.post("/media", status_code=201, response_model=Media,
             responses={400: {"model": ErrorBody,
                              "description": "malformed_multipart: the body is no complete "
                                             "multipart/form-data (no boundary, does not "
                                             "parse, or cut before its closing delimiter); "
                                             "nothing was stored"},
                        415: {"model": ErrorBody,
                              "description": "Not a JPEG, PNG, WebP or GIF image; or a "
                                             "charset other than UTF-8 for the form"},
                        422: {"model": ErrorBody,
                              "description": "A bad field, named in details.fields (a text "
                                             "field that is not UTF-8 among them); nothing "
                                             "was stored"},
                        503: {"model": ErrorBody,
                              "description": "Image processing is at its bound "
                                             "(ROOST_MEDIA_MAX_PENDING): retry after "
                                             "Retry-After seconds; nothing was stored"}},
             dependencies=[Depends(rate_limit("media"))])
async def upload_media(
    actor: CurrentActor, services: Services, response: Response, request: Request,
    file: Annotated[UploadFile, File(description="A JPEG, PNG, WebP or GIF image: at most "
                                     "16 MiB and 40 megapixels; judged by its content")],
    description: Annotated[MultilineText, Form(
        max_length=10_000, json_schema_extra={"maxLength": 1500},
        description="Alt text, at most 1,500 code points")] = "",
) -> MediaShape:
    """Upload an image; it is stored without metadata, upright, in two sizes."""
    if len((await request.form()).getlist("file")) > 1:  # the form is parsed once, cached
        raise ValidationFailed({"file": "send one file per upload"})
    if problem := description_problem(normalise_text(description)):
        raise ValidationFailed({"description": problem})
    data = await file.read()
    try:  # processed, and both variants stored durably, in the pool
        stored = await services.media_processor.process(data)
    except ImageRefused as refused:
        MEDIA_UPLOADS.labels(f"refused_{refused.status}").inc()
        raise _refusal(refused) from None
    except Overloaded:
        MEDIA_UPLOADS.labels("busy").inc()
        raise  # 503 with Retry-After (infra.http.errors)
    result = await execute(services, UploadMedia(actor, description, stored.blurhash,
                                                 stored.original, stored.small),
                           response, request)
    MEDIA_UPLOADS.labels("stored").inc()
    return media_answer(cast(MediaBody, result.data), services.settings.media_base_url)


@router.get("/media/{media_id}", response_model=Media)
async def get_media(media_id: MediaId, services: Services, response: Response,
                    min_position: MinPosition) -> MediaShape:
    """A medium: 404 once its post is deleted, or 24 hours after an upload left
    unattached."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await media_queries.get_media(services.queries,
                                         snowflake_or_404(media_id, "media"))


@router.patch("/media/{media_id}", response_model=Media)
async def describe_media(media_id: MediaId, body: MediaPatch, actor: CurrentActor,
                         services: Services, response: Response,
                         request: Request) -> MediaShape:
    """Set the alt text of your own medium, before or after attaching it."""
    command = DescribeMedia(actor, snowflake_or_404(media_id, "media"), body.description)
    result = await execute(services, command, response, request)
    return media_answer(cast(MediaBody, result.data), services.settings.media_base_url)


def none_match(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header (``None``: absent) matches ``etag`` (quoted,
    strong), so a ``GET`` answers 304: RFC 9110 13.1.2 -- a comma-separated list
    compared weakly (``W/"x"`` matches ``"x"``), or ``*``, which any current
    representation matches."""
    if header is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag
               for tag in (part.strip() for part in header.split(",")))


@router.get("/media/{media_id}/{variant}", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
                             "description": "The image bytes"},
                       304: {"description": "Not modified (If-None-Match)"}})
async def media_bytes(media_id: MediaId, variant: media_queries.Variant, services: Services,
                      request: Request) -> Response:
    """The bytes of a medium's ``original`` or ``small`` variant, while it is served."""
    key, content_type = await media_queries.media_file(
        services.queries, snowflake_or_404(media_id, "media"), variant,
        catch_up_s=services.settings.min_position_wait_s)
    etag = f'"{digest_of(key)}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if is_head(request.scope.get("state", {})):  # the size, without reading the bytes
        size = await services.media_store.size(key)
        if size is None:  # swept already
            raise media_queries.media_not_found()
        return Response(media_type=content_type,
                        headers={**headers, "Content-Length": str(size)})
    data = await services.media_store.get(key)
    if data is None:  # swept already
        raise media_queries.media_not_found()
    return Response(data, media_type=content_type, headers=headers)
