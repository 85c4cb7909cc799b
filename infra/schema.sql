-- Roost's tables beside the event store's: positions, parked events, the store
-- identity, the accounts' data keys, the projections' copies registry. The read
-- models' own tables are in infra/read_models.sql (one set per copy schema).
-- Every statement is idempotent: applied at each start (infra.database.migrate).

CREATE TABLE IF NOT EXISTS projection_positions (
    name        text PRIMARY KEY,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A parked event's envelope is kept as the bytes of its JSON (envelope_json):
-- whatever an event holds (U+0000 included, which neither text nor jsonb can
-- hold), parking it cannot fail. The jsonb column is the old form, migrated
-- into the bytes below and left NULL.
CREATE TABLE IF NOT EXISTS parked_events (
    projector     text NOT NULL,
    position      bigint NOT NULL,
    event_type    text NOT NULL,
    envelope      jsonb,
    envelope_json bytea,
    error         text NOT NULL,
    attempts      int NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, position)
);
ALTER TABLE parked_events ADD COLUMN IF NOT EXISTS envelope_json bytea;
ALTER TABLE parked_events ALTER COLUMN envelope DROP NOT NULL;
UPDATE parked_events SET envelope_json = convert_to(envelope::text, 'UTF8'), envelope = NULL
    WHERE envelope IS NOT NULL AND envelope_json IS NULL;

CREATE TABLE IF NOT EXISTS relay_positions (
    name        text PRIMARY KEY,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Erasure (issue 12, infra/personal_data.py): one random AES-256 data key per account
-- (account_id: the account's aggregate id), which seals the personal fields of its
-- events in roost_events. Erasing the account sets data_key NULL (a tombstone, so no
-- new key is ever made for it): its sealed fields then read as erased placeholders.
CREATE TABLE IF NOT EXISTS account_keys (
    account_id  uuid PRIMARY KEY,
    data_key    bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz
);

-- This event store's identity, made once: the relay stamps it on every Kafka
-- message (header roost-store) and the worker applies only messages of its own
-- store, so two stores sharing a broker and topic never mix their events.
CREATE TABLE IF NOT EXISTS store_identity (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id          uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO store_identity DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Which copy of each projection readers use, and the one a rebuild is building
-- (infra/copies.py). A PostgreSQL projection's copy N is the schema <prefix>_vN
-- (rm_v1, rm_v2, ...) behind views of the stable names in public; live_version is
-- the code version (ports.projectors.VERSIONS) that built the live copy. The
-- writers of the live copy read their row FOR KEY SHARE in each transaction; the
-- switch to a new copy takes it FOR UPDATE, so no write lands in a retired copy.
CREATE TABLE IF NOT EXISTS projection_copies (
    name               text PRIMARY KEY,
    live_copy          int NOT NULL,
    live_version       int NOT NULL,
    building_copy      int,
    building_version   int,
    building_position  bigint,
    building_target    bigint,
    building_rate      double precision,
    building_since     timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
