-- The notifications projection (infra/notification_store.py). Idempotent: applied
-- at every start by `migrate`, while workers may be writing these tables. So when
-- everything exists it takes no lock on them: CREATE TABLE IF NOT EXISTS locks no
-- existing table, and each index is created only when to_regclass does not find
-- it (CREATE INDEX IF NOT EXISTS would take a SHARE lock on its table first and
-- could deadlock with a projector's transaction). Its position is the row
-- 'notification_groups' of projection_positions (projections/schema.sql).

-- What the projection keeps of the social graph, to decide who is notified.
CREATE TABLE IF NOT EXISTS ntf_accounts (
    id              bigint PRIMARY KEY,
    username_lower  text NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS ntf_posts (
    id          bigint PRIMARY KEY,
    author_id   bigint NOT NULL,
    deleted     boolean NOT NULL DEFAULT false
);

-- kind: 'follow', 'block' or 'mute'; a follows / blocks / mutes b.
CREATE TABLE IF NOT EXISTS ntf_edges (
    kind        text NOT NULL,
    a           bigint NOT NULL,
    b           bigint NOT NULL,
    active      boolean NOT NULL,
    version     int NOT NULL,
    PRIMARY KEY (kind, a, b)
);

CREATE TABLE IF NOT EXISTS ntf_preferences (
    account_id  bigint PRIMARY KEY,
    preferences jsonb NOT NULL,
    version     int NOT NULL
);

-- One row per group. id: the position of the event that made it (unique per
-- recipient). sort_key: the position of its latest member (the list's order).
CREATE TABLE IF NOT EXISTS ntf_groups (
    recipient_id    bigint NOT NULL,
    id              bigint NOT NULL,
    kind            text NOT NULL,
    target_id       bigint NOT NULL,
    post_id         bigint,
    first_at        timestamptz NOT NULL,
    latest_at       timestamptz NOT NULL,
    sort_key        bigint NOT NULL,
    accounts_count  int NOT NULL,
    read            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (recipient_id, id)
);

-- One row per member: keyed by its cause, so an undo finds it directly.
CREATE TABLE IF NOT EXISTS ntf_members (
    recipient_id    bigint NOT NULL,
    kind            text NOT NULL,
    target_id       bigint NOT NULL,
    account_id      bigint NOT NULL,
    group_id        bigint NOT NULL,
    position        bigint NOT NULL,
    at              timestamptz NOT NULL,
    PRIMARY KEY (recipient_id, kind, target_id, account_id)
);

DO $$
BEGIN
    IF to_regclass('ntf_groups_list_idx') IS NULL THEN
        CREATE INDEX ntf_groups_list_idx ON ntf_groups (recipient_id, sort_key DESC);
    END IF;
    IF to_regclass('ntf_groups_target_idx') IS NULL THEN
        CREATE INDEX ntf_groups_target_idx ON ntf_groups (recipient_id, kind, target_id, id DESC);
    END IF;
    IF to_regclass('ntf_groups_post_idx') IS NULL THEN
        CREATE INDEX ntf_groups_post_idx ON ntf_groups (post_id) WHERE post_id IS NOT NULL;
    END IF;
    IF to_regclass('ntf_members_group_idx') IS NULL THEN
        CREATE INDEX ntf_members_group_idx ON ntf_members (recipient_id, group_id, position DESC);
    END IF;
    IF to_regclass('ntf_members_account_idx') IS NULL THEN
        CREATE INDEX ntf_members_account_idx ON ntf_members (recipient_id, account_id);
    END IF;
END
$$;
