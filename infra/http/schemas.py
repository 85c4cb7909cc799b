"""Request and response bodies of the HTTP API (they generate the OpenAPI document)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr

T = TypeVar("T")


class RequestBody(BaseModel):
    """Strict types (no "1" for 1), unknown fields ignored so clients can evolve."""

    model_config = ConfigDict(strict=True, extra="ignore")


class SignUp(RequestBody):
    username: StrictStr = Field(max_length=200)
    email: StrictStr = Field(max_length=320)
    password: StrictStr = Field(max_length=4096)
    display_name: StrictStr = Field(default="", max_length=200)


class ProfilePatch(RequestBody):
    display_name: StrictStr | None = Field(default=None, max_length=200)
    bio: StrictStr | None = Field(default=None, max_length=2000)
    avatar_url: StrictStr | None = Field(default=None, max_length=4096)


class LoginBody(RequestBody):
    login: StrictStr = Field(max_length=320)
    password: StrictStr = Field(max_length=4096)


class RefreshBody(RequestBody):
    refresh_token: StrictStr = Field(max_length=512)


class NewPost(RequestBody):
    text: StrictStr = Field(max_length=10_000)
    reply_to_id: StrictStr | None = Field(default=None, max_length=40)
    quote_of_id: StrictStr | None = Field(default=None, max_length=40)
    media_ids: list[StrictStr] = Field(default_factory=list, max_length=4)


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
