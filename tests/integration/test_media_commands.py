"""Media commands (upload record, alt text, attaching through CreatePost), once on each
event store (``write_side``: in memory and on PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from commands.bus import CommandBus
from commands.messages import Actor, CreatePost, DeletePost, DescribeMedia, UploadMedia
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.ids import media_uuid, post_uuid
from domain.media import UNATTACHED_TTL
from ports.records import StoredImage
from tests.integration.conftest import WriteSide, signup


def variant(seed: str, width: int = 640, height: int = 480) -> StoredImage:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return {"key": f"{digest[:2]}/{digest[2:4]}/{digest}.jpg", "content_type": "image/jpeg",
            "width": width, "height": height, "bytes": 1000}


def upload(bus: CommandBus, actor: Actor, description: str = "") -> int:
    result = bus.handle(UploadMedia(actor, description, "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                                    variant(f"o{description}{actor}"), variant("s")))
    return int(result.data["id"])


@pytest.fixture
def bus(write_side: WriteSide) -> CommandBus:
    return write_side.bus


def test_upload_records_keys_and_sizes_never_bytes(bus: CommandBus,
                                                   write_side: WriteSide) -> None:
    alice = signup(bus, "alice")
    result = bus.handle(UploadMedia(alice, "  a cat\n", "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                                    variant("o", 4096, 3072), variant("s")))
    assert result.data["description"] == "a cat" and result.data["owner_id"] == alice.account_id
    assert write_side.event_types()[-1] == "MediaUploaded"
    media = write_side.store.get_or_none(media_uuid(result.data["id"]))
    assert media.original["width"] == 4096 and media.post_id is None


def test_description_rules(bus: CommandBus) -> None:
    alice = signup(bus, "alice")
    for bad in ("x" * 1501, "nul\x00"):
        with pytest.raises(ValidationFailed) as caught:
            bus.handle(UploadMedia(alice, bad, "h", variant("o"), variant("s")))
        assert "description" in caught.value.details["fields"]
    media_id = upload(bus, alice)
    assert bus.handle(DescribeMedia(alice, media_id, "é" * 1500)).data["description"] == \
        "é" * 1500


def test_only_the_owner_describes(bus: CommandBus) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    media_id = upload(bus, alice)
    with pytest.raises(Forbidden):
        bus.handle(DescribeMedia(bob, media_id, "mine now"))
    with pytest.raises(NotFound):
        bus.handle(DescribeMedia(alice, 12345, "none"))
    first = bus.handle(DescribeMedia(alice, media_id, "a dog"))
    again = bus.handle(DescribeMedia(alice, media_id, "a dog"))
    assert again.position == first.position > 0  # nothing new appended


def test_attach_four_in_order_with_empty_text(bus: CommandBus, write_side: WriteSide) -> None:
    alice = signup(bus, "alice")
    ids = tuple(upload(bus, alice, str(i)) for i in range(4))
    result = bus.handle(CreatePost(alice, "   ", media_ids=ids))
    assert [m["id"] for m in result.data["media"]] == list(ids)
    assert result.data["text"] == ""
    post = write_side.store.get_or_none(post_uuid(result.data["id"]))
    assert post.media_ids == list(ids)
    assert write_side.event_types()[-5:] == ["PostCreated"] + ["MediaAttached"] * 4
    for media_id in ids:
        assert write_side.store.get_or_none(media_uuid(media_id)).post_id == result.data["id"]


def test_refused_attachments_name_media_ids(bus: CommandBus) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    mine = tuple(upload(bus, alice, str(i)) for i in range(5))
    bobs = upload(bus, bob)
    attached = upload(bus, alice, "used")
    bus.handle(CreatePost(alice, "first", media_ids=(attached,)))
    for ids in (mine, (bobs,), (attached,), (mine[0], mine[0]), (999,)):
        with pytest.raises(ValidationFailed) as caught:
            bus.handle(CreatePost(alice, "x", media_ids=ids))
        assert set(caught.value.details["fields"]) == {"media_ids"}
    with pytest.raises(ValidationFailed) as caught:  # no media: text is still required
        bus.handle(CreatePost(alice, " "))
    assert set(caught.value.details["fields"]) == {"text"}


def test_media_expire_unattached_after_24_hours(bus: CommandBus) -> None:
    alice = signup(bus, "alice")
    media_id = upload(bus, alice)
    later = datetime.now(UTC) + UNATTACHED_TTL + timedelta(seconds=1)
    with mock.patch("commands.media.datetime") as clock:
        clock.now.return_value = later
        with pytest.raises(ValidationFailed):
            bus.handle(CreatePost(alice, "late", media_ids=(media_id,)))
        with pytest.raises(NotFound):
            bus.handle(DescribeMedia(alice, media_id, "late"))


def test_a_like_answers_with_the_posts_media(bus: CommandBus) -> None:
    from commands.messages import SetLike

    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    media_id = upload(bus, alice, "on a post")
    post = bus.handle(CreatePost(alice, "", media_ids=(media_id,))).data
    liked = bus.handle(SetLike(bob, post["id"], True)).data
    assert [m["id"] for m in liked["post"]["media"]] == [media_id]


def test_a_deleted_posts_media_cannot_be_described_any_more(bus: CommandBus) -> None:
    """A deleted post's media are served to nobody (GET is 404): PATCH is 404 too."""
    alice = signup(bus, "alice")
    media_id = upload(bus, alice)
    post = int(bus.handle(CreatePost(alice, "with a picture", media_ids=(media_id,))
                          ).data["id"])
    assert bus.handle(DescribeMedia(alice, media_id, "while attached")).position > 0
    bus.handle(DeletePost(alice, post))
    with pytest.raises(NotFound) as caught:
        bus.handle(DescribeMedia(alice, media_id, "after the delete"))
    assert caught.value.code == "media_not_found"


@pytest.mark.parametrize("blank", ["", "  ", "\u200b", " \u200d\u3164 "])
def test_media_with_text_that_shows_nothing_make_a_post_without_text(
        bus: CommandBus, blank: str) -> None:
    """Text may be empty with media: text that shows nothing is taken as empty, as
    whitespace is (the OpenAPI document accepts any such text with media)."""
    alice = signup(bus, "alice")
    media_id = upload(bus, alice)
    assert bus.handle(CreatePost(alice, blank, media_ids=(media_id,))).data["text"] == ""
