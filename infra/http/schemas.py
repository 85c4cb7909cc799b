"""Request and response bodies of the HTTP API (they generate the OpenAPI document)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from types import GenericAlias, UnionType
from typing import (
    Annotated,
    Any,
    ForwardRef,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from domain.accounts import (
    MAX_AVATAR_URL,
    MAX_BIO,
    MAX_DISPLAY_NAME,
    MAX_PASSWORD,
    MAX_SUSPENSION_REASON,
    MAX_USERNAME,
    MIN_PASSWORD,
    USERNAME_PATTERN,
    avatar_url_problem,
    bio_problem,
    display_name_problem,
    normalise_email,
)
from domain.ids import SNOWFLAKE_PATTERN
from domain.media import MAX_DESCRIPTION
from domain.posts import LANGUAGE_PATTERN, MAX_LANGUAGE
from domain.text import normalise_text
from infra.http.text import (
    DISPLAY_NAME_PATTERN,
    MULTILINE_PATTERN,
    ONE_LINE_PATTERN,
    SOME_TEXT_PATTERN,
    CleanText,
    MultilineText,
    SchemaPattern,
)
from queries import admin_events, shapes

IdText = Annotated[CleanText, SchemaPattern(SNOWFLAKE_PATTERN, narrows=True)]
"""A post or medium id in a body: a decimal string (one naming nothing is 422
``reference_not_found``)."""
# What an avatar URL looks like in the document: https, a host, maybe a port and
# a path (the server accepts a little more: any host urlsplit reads).
AVATAR_URL_PATTERN = (r"^(https://[A-Za-z0-9.-]+(:[0-9]{1,4})?"
                      r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?)?$")
LanguageText = Annotated[CleanText, SchemaPattern(LANGUAGE_PATTERN, narrows=True)]
"""A BCP 47 tag's shape; the server also checks its subtags against the registry."""


def _domain_rule(problem: Callable[[str], str | None]) -> AfterValidator:
    """A validator refusing (``ValueError``, the rule's own sentence) what a domain rule
    refuses: checked with the body's other fields, so a 422 names every bad field at
    once (the command checks again, for callers that are not HTTP)."""
    def check(value: str) -> str:
        if reason := problem(value):
            raise ValueError(reason)
        return value

    return AfterValidator(check)


def _email_problem(email: str) -> str | None:
    try:
        normalise_email(email)
    except ValueError as error:
        return str(error)
    return None


AvatarUrlText = Annotated[CleanText, _domain_rule(avatar_url_problem),
                          SchemaPattern(AVATAR_URL_PATTERN, narrows=True)]


def _any_case(word: str) -> str:
    return "".join(f"[{ch.lower()}{ch.upper()}]" if ch.isalpha() else re.escape(ch)
                   for ch in word)


# email-validator refuses addresses at special-use domains (RFC 6761: ``x@y.test``,
# ``x@localhost``); the document says so, beside ``format: email``.
EMAIL_PATTERN = (
    "^(?!.*@(?:[^@]*\\.)?(?:"
    + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
    + ")\\.?$)" + ONE_LINE_PATTERN.removeprefix("^")
)
EmailText = Annotated[CleanText, _domain_rule(_email_problem),
                      SchemaPattern(EMAIL_PATTERN, narrows=True)]


class RequestBody(BaseModel):
    """Strict types (no "1" for 1), unknown fields ignored so clients can evolve."""

    model_config = ConfigDict(strict=True, extra="ignore")


DisplayNameText = Annotated[
    CleanText, Field(max_length=MAX_DISPLAY_NAME),
    _domain_rule(lambda name: display_name_problem(normalise_text(name))),
    SchemaPattern(DISPLAY_NAME_PATTERN, narrows=True)]
"""A display name: at most 50 code points as sent (so the document's ``maxLength`` is
exact: normalising only shortens it), and the command's rule on the normalised form
(something visible, no bidi control), checked with the body's other fields so a 422
names them all."""
BioText = Annotated[MultilineText, Field(max_length=MAX_BIO),
                    _domain_rule(lambda bio: bio_problem(normalise_text(bio)))]
"""A bio, checked likewise."""


class SignUp(RequestBody):
    username: CleanText = Field(max_length=MAX_USERNAME, pattern=USERNAME_PATTERN,
                                description="1-30 of A-Z, a-z, 0-9 and _; unique in any case")
    email: EmailText = Field(max_length=320, json_schema_extra={"format": "email"})
    password: CleanText = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    display_name: DisplayNameText = Field(
        default="", description="At most 50 code points; stored NFC-normalised and trimmed")


class ProfilePatch(RequestBody):
    display_name: DisplayNameText | None = Field(
        default=None, description="At most 50 code points; stored NFC-normalised and trimmed")
    bio: BioText | None = Field(
        default=None,
        description="At most 500 code points; stored NFC-normalised and trimmed; newline "
                    "and tab allowed")
    avatar_url: AvatarUrlText | None = Field(
        default=None, max_length=MAX_AVATAR_URL,
        description="An https URL, or empty or null for none")


class LoginBody(RequestBody):
    login: CleanText = Field(max_length=320, description="A username or an email address")
    password: CleanText = Field(max_length=MAX_PASSWORD)


class RefreshBody(RequestBody):
    refresh_token: CleanText = Field(max_length=512)


class NewPost(RequestBody):
    """``text`` has something that is not whitespace, or ``media_ids`` attach media."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"text": {"minLength": 1, "pattern": SOME_TEXT_PATTERN}}},
        {"required": ["media_ids"], "properties": {"media_ids": {"minItems": 1}}}]})

    # 10,000 bounds the work before normalising; the document states the rule
    # (1-280 once NFC-normalised and trimmed, something that is not whitespace; empty
    # or whitespace only when media_ids attach media: the anyOf above).
    text: MultilineText = Field(
        max_length=10_000,
        json_schema_extra={"maxLength": 280, "pattern": MULTILINE_PATTERN},
        description="1-280 code points once NFC-normalised and trimmed (may be empty when "
                    "media_ids attach media); newline and tab allowed")
    reply_to_id: IdText | None = Field(default=None, max_length=19)
    quote_of_id: IdText | None = Field(default=None, max_length=19)
    media_ids: list[IdText] = Field(
        default_factory=list, max_length=4,
        description="At most 4 of your own unattached media, shown in this order")
    language: LanguageText | None = Field(
        default=None, max_length=MAX_LANGUAGE,
        description="The language of the text, a BCP 47 tag (en, pt-BR, zh-Hant); "
                    "stored in its canonical case. Optional; unknown or malformed tags are 422")


class MediaPatch(RequestBody):
    description: MultilineText = Field(
        max_length=10_000, json_schema_extra={"maxLength": MAX_DESCRIPTION},
        description="Alt text: at most 1,500 code points once NFC-normalised and trimmed")


class SuspensionBody(RequestBody):
    reason: MultilineText | None = Field(
        default=None, max_length=MAX_SUSPENSION_REASON,
        description="The moderator's note, recorded in the event (newline and tab allowed)")


class Suspension(BaseModel):
    """An admin's suspension answer (``commands.suspension.set_suspension``)."""

    username: str
    account_id: str
    suspended: bool
    changed: bool = Field(description="false when the account already was in that state")
    sessions_ended: int = Field(description="sessions this request ended")


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


# --- The API's objects -----------------------------------------------------------
# Declared once, as the TypedDicts of ``queries.shapes`` that the code builds; each
# response model here is made from its TypedDict's keys and types, in order, adding
# only the words of the OpenAPI document (descriptions, a default). The drift test
# ``tests/unit/test_api_shapes.py`` checks that the two still agree.

# The TypedDicts whose response models stand for them inside another's fields.
MODEL_OF: dict[Any, str] = {shapes.Account: "Account", shapes.OwnAccount: "Account",
                            shapes.Post: "Post", shapes.Media: "Media"}


def _modelled(hint: Any, item: Any) -> Any:
    """``hint`` with each TypedDict of ``MODEL_OF`` replaced by (a reference to) its model,
    and a type variable by ``item``."""
    if hint in MODEL_OF:
        return ForwardRef(MODEL_OF[hint])
    if isinstance(hint, TypeVar):
        return item
    args = get_args(hint)
    if not args:
        return hint
    modelled = tuple(_modelled(arg, item) for arg in args)
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        return Union[modelled]  # noqa: UP007 - a ForwardRef takes no ``|``
    return origin[modelled]


def response_model(typed: Any, name: str | None = None, item: Any = None,
                   **changed: Any) -> type[BaseModel]:
    """The response model of the TypedDict ``typed``: one required field per key, in
    order, with the key's type (nested API objects as their models, the type variable
    of a generic one as ``item``). ``changed`` gives a key a ``Field`` (its description,
    a default), or a type and a ``Field``.

    Raises:
        TypeError: ``changed`` names a key ``typed`` does not have.
    """
    hints = get_type_hints(typed)
    if unknown := sorted(set(changed) - set(hints)):
        raise TypeError(f"{typed.__name__} has no key {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for key, hint in hints.items():
        field = changed.get(key, Field())
        fields[key] = field if isinstance(field, tuple) else (_modelled(hint, item), field)
    return create_model(name or typed.__name__, __module__=__name__, **fields)


Account = response_model(shapes.OwnAccount, "Account", email=(
    str | None, Field(default=None, description="Only for the account's owner")))
Relationship = response_model(shapes.Relationship)
Media = response_model(
    shapes.Media,
    url=Field(description="The original, re-encoded (longest side at most 4,096 px)"),
    preview_url=Field(description="The small variant (longest side at most 640 px)"),
    description=Field(description="Alt text; empty for none"))
Post = response_model(shapes.Post, reply_to_available=Field(
    default=None, description="For a reply: false once the parent post is deleted"))
Thread = response_model(shapes.Thread)
TrendingTag = response_model(shapes.TrendingTag)
TrendingTags = GenericAlias(list, (TrendingTag,))
"""``list[TrendingTag]``, spelt so that a type checker reads it as a value."""
NotificationGroup = response_model(
    shapes.NotificationGroup,
    post=Field(description="The post liked, reposted, replying, mentioning or quoting; "
                           "null for follows"),
    accounts=Field(description="Most recent first, at most 8"))
for _model in (Account, Relationship, Media, Post, Thread, NotificationGroup, TrendingTag):
    _model.model_rebuild()


@cache
def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """The response model of a ``shapes.Page`` of ``item`` (``Page[Post]`` in the
    document); one model per item type."""
    return response_model(shapes.Page, f"Page[{item.__name__}]", item)


# --- Admin events ---------------------------------------------------------------

Event = response_model(
    admin_events.Event,
    position=Field(description="Global position in the event store (strictly increasing "
                               "in commit order, with gaps)"),
    id=Field(description="The event's stable id (a UUID)"),
    type=Field(description="The event class's current name (PostCreated)"),
    version=Field(description="The aggregate's version this event made"),
    schema_version=Field(description="The shape of data (upcast to the current)"),
    data=Field(description="The payload; integer ids as strings; personal fields in "
                           "plain (an erased account's as placeholders); password hashes, "
                           "refresh hashes, emails and recorded answers left out"))


# --- Notifications ------------------------------------------------------------

PreferenceValue = Literal["everyone", "following", "off"]


class UnreadCount(BaseModel):
    count: int


class NotificationPreferences(BaseModel):
    follow: PreferenceValue
    like: PreferenceValue
    repost: PreferenceValue
    reply: PreferenceValue
    mention: PreferenceValue
    quote: PreferenceValue


class NotificationPreferencesPatch(RequestBody):
    """Any subset of the six types; an omitted (or null) type stays as it is."""

    follow: PreferenceValue | None = None
    like: PreferenceValue | None = None
    repost: PreferenceValue | None = None
    reply: PreferenceValue | None = None
    mention: PreferenceValue | None = None
    quote: PreferenceValue | None = None


class MarkRead(RequestBody):
    """``up_to_id``: that group and every group below it in the list; ``ids``: those
    groups. At least one of the two; ids naming no group of yours change nothing."""

    model_config = ConfigDict(json_schema_extra={
        "anyOf": [{"required": ["up_to_id"]}, {"required": ["ids"]}]})

    up_to_id: IdText | None = Field(default=None, max_length=19)
    ids: list[Annotated[IdText, Field(max_length=19)]] | None = Field(default=None,
                                                                       max_length=100)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, object]


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 429)
}
