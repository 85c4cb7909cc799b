"""One route module per resource: moderation (blocks, mutes) apart from interactions."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from infra.http.app import API_ROUTERS
from infra.http.routes import interactions, moderation


def _routes(router: APIRouter) -> set[tuple[str, str, str]]:
    """(path, method, route name) of each route the module's router registers."""
    return {(route.path, method, route.name) for route in router.routes
            if isinstance(route, APIRoute) for method in route.methods or ()}


def test_moderation_routes_are_blocks_and_mutes_of_accounts() -> None:
    assert _routes(moderation.router) == {
        ("/api/accounts/{username}/block", "POST", "block"),
        ("/api/accounts/{username}/block", "DELETE", "unblock"),
        ("/api/accounts/{username}/mute", "POST", "mute"),
        ("/api/accounts/{username}/mute", "DELETE", "unmute"),
    }


def test_interaction_routes_are_likes_reposts_and_threads_of_posts() -> None:
    assert _routes(interactions.router) == {
        ("/api/posts/{post_id}/like", "POST", "like"),
        ("/api/posts/{post_id}/like", "DELETE", "unlike"),
        ("/api/posts/{post_id}/repost", "POST", "repost"),
        ("/api/posts/{post_id}/repost", "DELETE", "unrepost"),
        ("/api/posts/{post_id}/context", "GET", "context"),
    }


def test_both_are_served_by_the_api() -> None:
    assert interactions.router in API_ROUTERS and moderation.router in API_ROUTERS


def test_notification_routes_are_the_readers_own() -> None:
    from infra.http.routes import notifications

    assert _routes(notifications.router) == {
        ("/api/notifications", "GET", "notifications"),
        ("/api/notifications/unread_count", "GET", "unread_count"),
        ("/api/notifications/read", "POST", "mark_read"),
        ("/api/notifications/preferences", "GET", "get_preferences"),
        ("/api/notifications/preferences", "PATCH", "update_preferences"),
    }
    assert notifications.router in API_ROUTERS
