"""Request and response bodies of the HTTP API (they generate the OpenAPI document)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from domain.accounts import (
    MAX_AVATAR_URL,
    MAX_BIO,
    MAX_DISPLAY_NAME,
    MAX_PASSWORD,
    MAX_USERNAME,
    MIN_PASSWORD,
    USERNAME_PATTERN,
)
from domain.ids import SNOWFLAKE_PATTERN
from infra.http.text import CleanText, MultilineText

T = TypeVar("T")


class RequestBody(BaseModel):
    """Strict types (no "1" for 1), unknown fields ignored so clients can evolve."""

    model_config = ConfigDict(strict=True, extra="ignore")


class SignUp(RequestBody):
    username: CleanText = Field(max_length=MAX_USERNAME, pattern=USERNAME_PATTERN,
                                description="1-30 of A-Z, a-z, 0-9 and _; unique in any case")
    email: CleanText = Field(max_length=320)
    password: CleanText = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    display_name: CleanText = Field(default="", max_length=MAX_DISPLAY_NAME)


class ProfilePatch(RequestBody):
    display_name: CleanText | None = Field(default=None, max_length=MAX_DISPLAY_NAME)
    bio: MultilineText | None = Field(default=None, max_length=MAX_BIO,
                                      description="Newline and tab allowed")
    avatar_url: CleanText | None = Field(default=None, max_length=MAX_AVATAR_URL,
                                         description="An https URL, or empty or null for none")


class LoginBody(RequestBody):
    login: CleanText = Field(max_length=320, description="A username or an email address")
    password: CleanText = Field(max_length=MAX_PASSWORD)


class RefreshBody(RequestBody):
    refresh_token: CleanText = Field(max_length=512)


class NewPost(RequestBody):
    text: MultilineText = Field(
        max_length=10_000,
        description="1-280 code points once NFC-normalised and trimmed; newline and tab allowed")
    reply_to_id: CleanText | None = Field(default=None, max_length=19, pattern=SNOWFLAKE_PATTERN)
    quote_of_id: CleanText | None = Field(default=None, max_length=19, pattern=SNOWFLAKE_PATTERN)
    media_ids: list[CleanText] = Field(default_factory=list, max_length=4)


class Account(BaseModel):
    id: str
    username: str
    display_name: str
    bio: str
    avatar_url: str
    created_at: str
    followers_count: int
    following_count: int
    posts_count: int
    email: str | None = Field(default=None, description="Only for the account's owner")


class Relationship(BaseModel):
    following: bool
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class Post(BaseModel):
    id: str
    author: Account
    text: str
    created_at: str
    reply_to_id: str | None
    reply_to_available: bool | None = Field(
        default=None, description="For a reply: false once the parent post is deleted")
    quote_of_id: str | None
    repost_of: Post | None
    mentions: list[str]
    hashtags: list[str]
    media: list[dict[str, str]]
    likes_count: int
    replies_count: int
    reposts_count: int
    liked: bool
    reposted: bool


class Thread(BaseModel):
    ancestors: list[Post]
    descendants: list[Post]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, object]


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 429)
}
