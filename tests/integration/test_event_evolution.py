"""Events stored before a change, on PostgreSQL: raw v1 ``PostCreated`` rows and a row
under a former topic, read back through the aggregate, the published envelope (what
the relay sends), the projectors and the admin events API."""

from __future__ import annotations

import uuid

import psycopg

from commands.bus import CommandBus
from commands.messages import CreatePost, SetAdmin
from domain.ids import post_uuid
from domain.posts import Post
from domain.topic_history import register_former_topic
from infra.bootstrap import ProjectionServices
from infra.event_store import PostgresEventStore
from infra.settings import Settings
from tests.integration.apphost import running_app
from tests.integration.conftest import PASSWORD, signup
from tests.integration.pipeline import project_everything, stored_events
from tests.unit.test_event_evolution import POST_TOPIC, v1_post_state


def insert_raw(settings: Settings, aggregate_id: uuid.UUID, topic: str, state: bytes) -> int:
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO roost_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, %s, %s) RETURNING notification_id",
            (aggregate_id, topic, state)).fetchone()
    assert row is not None
    return int(row[0])


async def test_old_posts_read_in_the_current_shape_everywhere(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    alice = signup(bus, "alice")
    bus.handle(SetAdmin("alice", True, "test"))
    old_topic = f"domain.posts:Post.PostWritten{uuid.uuid4().hex[:8]}"
    register_former_topic(old_topic, Post.PostCreated)
    old_id, moved_id = 7_000_000_101, 7_000_000_102
    insert_raw(settings, post_uuid(old_id), POST_TOPIC,
               v1_post_state(old_id, author_id=alice.account_id))
    insert_raw(settings, post_uuid(moved_id), old_topic,
               v1_post_state(moved_id, author_id=alice.account_id))
    new_id = int(bus.handle(CreatePost(alice, "nouveau", language="fr-CA")).data["id"])

    store = PostgresEventStore(settings)
    try:  # the aggregates
        loaded = [store.get_or_none(post_uuid(i)) for i in (old_id, moved_id, new_id)]
    finally:
        store.close()
    assert [(p.post_id, p.language) for p in loaded] == [
        (old_id, None), (moved_id, None), (new_id, "fr-CA")]

    # the envelopes the relay publishes and the projectors apply
    posts = [e for e in await stored_events(services.pool) if e.type == "PostCreated"]
    assert [(e.payload["post_id"], e.payload["language"], e.schema_version)
            for e in posts] == [(old_id, None, 2), (moved_id, None, 2), (new_id, "fr-CA", 2)]

    await project_everything(services)
    assert await services.parking.list_parked() == []
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM rm_posts ORDER BY id")
        assert [row[0] for row in await cur.fetchall()] == [old_id, moved_id, new_id]

    async with running_app(settings) as client:  # the admin events API
        login = await client.post("/api/sessions", json={"login": "alice",
                                                         "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        page = await client.get("/api/admin/events?types=PostCreated", headers=headers)
        assert page.status_code == 200, page.text
        shown = [(e["data"]["post_id"], e["data"]["language"], e["schema_version"], e["type"])
                 for e in page.json()["items"]]
        assert shown == [(str(old_id), None, 2, "PostCreated"),
                         (str(moved_id), None, 2, "PostCreated"),
                         (str(new_id), "fr-CA", 2, "PostCreated")]
