"""Events stored before a change, on PostgreSQL: raw v1 ``PostCreated`` rows, a v2 row
(no ``media_ids``) and a row under a former topic, read back through the aggregate,
the published envelope (what the relay sends), the projectors and the admin events
API."""

from __future__ import annotations

import uuid

import psycopg

from commands.bus import CommandBus
from commands.messages import CreatePost, EraseAccount, SetAdmin
from domain.ids import account_uuid, post_uuid
from domain.posts import Post
from domain.topic_history import register_former_topic
from infra.bootstrap import ProjectionServices
from infra.event_store import PostgresEventStore
from infra.settings import Settings
from tests.integration.apphost import running_app
from tests.integration.conftest import PASSWORD, signup
from tests.integration.pipeline import project_everything, stored_events
from tests.unit.test_event_evolution import POST_TOPIC, v1_post_state, v2_post_state


def insert_raw(settings: Settings, aggregate_id: uuid.UUID, topic: str, state: bytes) -> int:
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO roost_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, %s, %s) RETURNING notification_id",
            (aggregate_id, topic, state)).fetchone()
    assert row is not None
    return int(row[0])


def insert_old_posts(settings: Settings, author_id: int, plain_id: int, moved_id: int
                     ) -> None:
    """Two v1 ``PostCreated`` rows stored in plain JSON by ``author_id`` (``alice``):
    ``plain_id`` under its topic, ``moved_id`` under a former topic of the class."""
    old_topic = f"domain.posts:Post.PostWritten{uuid.uuid4().hex[:8]}"
    register_former_topic(old_topic, Post.PostCreated)
    insert_raw(settings, post_uuid(plain_id), POST_TOPIC,
               v1_post_state(plain_id, author_id=author_id))
    insert_raw(settings, post_uuid(moved_id), old_topic,
               v1_post_state(moved_id, author_id=author_id))


async def test_old_posts_read_in_the_current_shape_everywhere(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    alice = signup(bus, "alice")
    bus.handle(SetAdmin("alice", True, "test"))
    old_id, moved_id, v2_id = 7_000_000_101, 7_000_000_102, 7_000_000_103
    insert_old_posts(settings, alice.account_id, old_id, moved_id)
    insert_raw(settings, post_uuid(v2_id), POST_TOPIC,
               v2_post_state(v2_id, author_id=alice.account_id))
    new_id = int(bus.handle(CreatePost(alice, "nouveau", language="fr-CA")).data["id"])
    all_ids = (old_id, moved_id, v2_id, new_id)

    store = PostgresEventStore(settings)
    try:  # the aggregates
        loaded = [store.get_or_none(post_uuid(i)) for i in all_ids]
    finally:
        store.close()
    assert [(p.post_id, p.language, p.media_ids) for p in loaded] == [
        (old_id, None, []), (moved_id, None, []), (v2_id, "de", []), (new_id, "fr-CA", [])]

    # the envelopes the relay publishes and the projectors apply
    posts = [e for e in await stored_events(services.pool) if e.type == "PostCreated"]
    assert [(e.payload["post_id"], e.payload["language"], e.payload["media_ids"],
             e.schema_version) for e in posts] == [
        (old_id, None, [], 3), (moved_id, None, [], 3), (v2_id, "de", [], 3),
        (new_id, "fr-CA", [], 3)]

    await project_everything(services)
    assert await services.parking.list_parked() == []
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM rm_posts ORDER BY id")
        assert [row[0] for row in await cur.fetchall()] == list(all_ids)

    async with running_app(settings) as client:  # the admin events API
        login = await client.post("/api/sessions", json={"login": "alice",
                                                         "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        page = await client.get("/api/admin/events?types=PostCreated", headers=headers)
        assert page.status_code == 200, page.text
        shown = [(e["data"]["post_id"], e["data"]["language"], e["schema_version"], e["type"])
                 for e in page.json()["items"]]
        assert shown == [(str(old_id), None, 3, "PostCreated"),
                         (str(moved_id), None, 3, "PostCreated"),
                         (str(v2_id), "de", 3, "PostCreated"),
                         (str(new_id), "fr-CA", 3, "PostCreated")]


def unversion(settings: Settings, aggregate_id: uuid.UUID) -> None:
    """Make the stored ``PostCreated`` of ``aggregate_id`` a v1 row as sealing wrote it
    before ``language`` existed: its sealed fields as they are, no ``class_version``,
    no ``language``, no ``media_ids`` (the sealed values stay bound to their row and
    field)."""
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        updated = conn.execute(
            "UPDATE roost_events SET state = convert_to((convert_from(state, 'UTF8')::jsonb "
            "- 'class_version' - 'language' - 'media_ids')::text, 'UTF8') "
            "WHERE originator_id = %s AND originator_version = 1", (aggregate_id,))
        assert updated.rowcount == 1


async def every_read(settings: Settings, services: ProjectionServices, headers: dict[str, str]
                     ) -> dict[str, list[dict[str, object]]]:
    """The ``PostCreated`` payloads as each read path shows them: the relay's envelopes,
    ``roost events export`` (JSON Lines), ``roost events tail`` (follow up to the head)
    and the admin events API."""
    from io import BytesIO

    import orjson

    from infra.event_export import export, follow
    from infra.event_reader import open_event_reader
    from ports.event_reader import EventFilter, StoredEvent

    posts = EventFilter(types=frozenset({"PostCreated"}))
    reader = await open_event_reader(settings)
    try:
        out = BytesIO()
        await export(reader, posts, "jsonl", out)
        tailed: list[StoredEvent] = []
        await follow(reader, posts, tailed.append)
    finally:
        await reader.close()
    async with running_app(settings) as client:
        page = await client.get("/api/admin/events?types=PostCreated&limit=100",
                                headers=headers)
        assert page.status_code == 200, page.text
    return {
        "relay": [e.payload for e in await stored_events(services.pool)
                  if e.type == "PostCreated"],
        "export": [orjson.loads(line)["data"] for line in out.getvalue().splitlines()],
        "tail": [e.envelope.payload for e in tailed],
        "admin": [e["data"] for e in page.json()["items"]],
    }


async def test_plain_v1_sealed_v1_and_v2_rows_load_and_erase_alike(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """Upcasting and sealing compose: an old plain v1 row (also under a former topic), a
    sealed v1 row and a sealed v2 row load with their text, are read in plain on every
    read path, and after the author's erasure read as placeholders everywhere. (The
    "v2" row is today's: ``PostCreated`` is at v3 since ``media_ids``.)"""
    alice = signup(bus, "alice")
    signup(bus, "operator1")
    bus.handle(SetAdmin("operator1", True, "test"))
    plain_id, moved_id = 7_000_000_201, 7_000_000_202
    insert_old_posts(settings, alice.account_id, plain_id, moved_id)
    sealed_id = int(bus.handle(CreatePost(alice, "sealed long ago")).data["id"])
    unversion(settings, post_uuid(sealed_id))
    new_id = int(bus.handle(CreatePost(alice, "nouveau", language="fr-CA")).data["id"])
    ids = (plain_id, moved_id, sealed_id, new_id)
    texts = ["old post", "old post", "sealed long ago", "nouveau"]

    def load() -> list[tuple[str, str | None]]:
        store = PostgresEventStore(settings)
        try:
            posts = [store.get_or_none(post_uuid(i)) for i in ids]
        finally:
            store.close()
        return [(p.text, p.language) for p in posts if p is not None]

    assert load() == [(t, "fr-CA" if t == "nouveau" else None) for t in texts]
    async with running_app(settings) as client:
        login = await client.post("/api/sessions", json={"login": "operator1",
                                                         "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for path, shown in (await every_read(settings, services, headers)).items():
        assert [(p["text"], p["author_username"], p["language"]) for p in shown] == [
            (t, "alice", "fr-CA" if t == "nouveau" else None) for t in texts], path

    bus.handle(EraseAccount(username="alice", requested_by="operator"))
    assert load() == [("", None), ("", None), ("", None), ("", "fr-CA")]
    for path, shown in (await every_read(settings, services, headers)).items():
        assert {(p["text"], p["author_username"]) for p in shown} == {
            ("", f"erased-{account_uuid('alice').hex[:12]}")}, path
