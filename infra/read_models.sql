-- The read models' tables (written by infra/read_model_store.py, read by
-- infra/read_model_reader.py through the views of the same names in public).
-- Applied with search_path set to one copy's schema (rm_v1, rm_v2, ...:
-- infra/copies.py), so every name below lands in that schema. Idempotent: applied
-- to a new copy, and again to the live copy whenever this file changes.

CREATE TABLE IF NOT EXISTS rm_accounts (
    id              bigint PRIMARY KEY,
    aggregate_id    uuid NOT NULL UNIQUE,
    username        text NOT NULL,
    username_lower  text NOT NULL UNIQUE,
    email           text NOT NULL,
    display_name    text NOT NULL DEFAULT '',
    bio             text NOT NULL DEFAULT '',
    avatar_url      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    version         int NOT NULL,
    followers_count int NOT NULL DEFAULT 0,
    following_count int NOT NULL DEFAULT 0,
    posts_count     int NOT NULL DEFAULT 0
);
-- A column added to a table later: one ALTER TABLE ... ADD COLUMN IF NOT EXISTS line
-- below the table, never a new line inside its CREATE TABLE. New copies and the live
-- one then have the same columns in the same order (verify compares copies with
-- TABLE a EXCEPT TABLE b), and migrate adds it to the live copy and makes the views
-- in public again, so readers see it. Bump VERSIONS[read_models] when old events
-- must fill it (a rebuild does).
-- The admin role (AdminGranted / AdminRevoked). Requests to /api/admin check the
-- account's events, not this column, so that a revoke takes effect at once.
ALTER TABLE rm_accounts ADD COLUMN IF NOT EXISTS is_admin boolean NOT NULL DEFAULT false;
-- Suspension (AccountSuspended / AccountUnsuspended): when the account was suspended, NULL
-- when it is not. Readers leave suspended accounts and their posts out.
ALTER TABLE rm_accounts ADD COLUMN IF NOT EXISTS suspended_at timestamptz;

CREATE TABLE IF NOT EXISTS rm_follows (
    follower_id     bigint NOT NULL,
    followee_id     bigint NOT NULL,
    active          boolean NOT NULL,
    version         int NOT NULL,
    position        bigint NOT NULL,
    followed_at     timestamptz NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX IF NOT EXISTS rm_follows_followers_idx
    ON rm_follows (followee_id, position DESC) WHERE active;
CREATE INDEX IF NOT EXISTS rm_follows_following_idx
    ON rm_follows (follower_id, position DESC) WHERE active;

CREATE TABLE IF NOT EXISTS rm_posts (
    id              bigint PRIMARY KEY,
    author_id       bigint NOT NULL,
    text            text NOT NULL,
    reply_to_id     bigint,
    quote_of_id     bigint,
    mentions        text[] NOT NULL DEFAULT '{}',
    hashtags        text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    deleted_at      timestamptz,
    version         int NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_posts_author_idx
    ON rm_posts (author_id, id DESC) WHERE deleted_at IS NULL;

-- The social core: interaction counts on posts, and edge tables.
ALTER TABLE rm_posts ADD COLUMN IF NOT EXISTS likes_count int NOT NULL DEFAULT 0;
ALTER TABLE rm_posts ADD COLUMN IF NOT EXISTS replies_count int NOT NULL DEFAULT 0;
ALTER TABLE rm_posts ADD COLUMN IF NOT EXISTS reposts_count int NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS rm_posts_reply_idx ON rm_posts (reply_to_id, id) WHERE reply_to_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS rm_likes (
    account_id  bigint NOT NULL,
    post_id     bigint NOT NULL,
    active      boolean NOT NULL,
    version     int NOT NULL,
    position    bigint NOT NULL,
    since       timestamptz NOT NULL,
    PRIMARY KEY (account_id, post_id)
);

CREATE TABLE IF NOT EXISTS rm_reposts (
    account_id  bigint NOT NULL,
    post_id     bigint NOT NULL,
    repost_id   bigint NOT NULL,
    active      boolean NOT NULL,
    version     int NOT NULL,
    position    bigint NOT NULL,
    since       timestamptz NOT NULL,
    PRIMARY KEY (account_id, post_id)
);
CREATE INDEX IF NOT EXISTS rm_reposts_repost_idx ON rm_reposts (repost_id);

CREATE TABLE IF NOT EXISTS rm_blocks (
    blocker_id  bigint NOT NULL,
    blocked_id  bigint NOT NULL,
    active      boolean NOT NULL,
    version     int NOT NULL,
    position    bigint NOT NULL,
    since       timestamptz NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX IF NOT EXISTS rm_blocks_blocked_idx ON rm_blocks (blocked_id) WHERE active;

CREATE TABLE IF NOT EXISTS rm_mutes (
    muter_id    bigint NOT NULL,
    muted_id    bigint NOT NULL,
    active      boolean NOT NULL,
    version     int NOT NULL,
    position    bigint NOT NULL,
    since       timestamptz NOT NULL,
    PRIMARY KEY (muter_id, muted_id)
);

-- Tag timelines (issue 11): one row per tag of each live post, paged by a range
-- scan of (tag, post_id DESC). Filled from rm_posts the first time it is made.
DO $$
BEGIN
    IF to_regclass('rm_post_tags') IS NULL THEN
        CREATE TABLE rm_post_tags (
            tag         text NOT NULL,
            post_id     bigint NOT NULL,
            author_id   bigint NOT NULL,
            PRIMARY KEY (tag, post_id)
        );
        INSERT INTO rm_post_tags (tag, post_id, author_id)
            SELECT DISTINCT t.tag, p.id, p.author_id
            FROM rm_posts p, unnest(p.hashtags) AS t(tag)
            WHERE p.deleted_at IS NULL;
    END IF;
END $$;

-- Media (issue 13): each uploaded medium, where its variants are stored (content-
-- addressed keys of the media store) and the post it is attached to (post_index:
-- its place in the post's media_ids). rm_posts.media_ids keeps the post's list.
-- This block is the media read model's whole DDL (it needs rm_posts above).
ALTER TABLE rm_posts ADD COLUMN IF NOT EXISTS media_ids bigint[] NOT NULL DEFAULT '{}';
CREATE TABLE IF NOT EXISTS rm_media (
    id            bigint PRIMARY KEY,
    owner_id      bigint NOT NULL,
    description   text NOT NULL DEFAULT '',
    blurhash      text NOT NULL,
    original      jsonb NOT NULL,
    small         jsonb NOT NULL,
    post_id       bigint,
    post_index    smallint,
    created_at    timestamptz NOT NULL,
    version       int NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_media_post_idx ON rm_media (post_id) WHERE post_id IS NOT NULL;
-- An erased account's media go with it (ReadModelWriter.erase_account).
CREATE INDEX IF NOT EXISTS rm_media_owner_idx ON rm_media (owner_id);
-- The media sweeper asks which keys of a page of the store are still needed.
CREATE INDEX IF NOT EXISTS rm_media_original_key_idx ON rm_media ((original->>'key'));
CREATE INDEX IF NOT EXISTS rm_media_small_key_idx ON rm_media ((small->>'key'));
