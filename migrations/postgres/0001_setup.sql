-- gif-chat schema (PostgreSQL). Migrations are only ever appended; each says why it exists.

-- A room. `last_seq` is the room's message counter: appending a message bumps it inside the
-- insert's transaction, and the row lock taken by that bump makes commit order equal
-- sequence order (a subscriber can never see 11 committed before 10).
CREATE TABLE rooms (
    id            UUID PRIMARY KEY,
    title         TEXT        NOT NULL,
    max_members   INTEGER     NOT NULL CHECK (max_members >= 2),
    password_hash TEXT,                      -- argon2 PHC string; NULL for an open room
    owner_id      UUID        NOT NULL,
    owner_name    TEXT,                      -- NULL: the owner goes by their colour
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seq      BIGINT      NOT NULL DEFAULT 0
);

-- GIFs live in the database, content-addressed by SHA-256, so every instance serves every
-- upload and the same file posted twice is kept once.
CREATE TABLE gifs (
    id         TEXT PRIMARY KEY,
    data       BYTEA       NOT NULL,
    width      INTEGER     NOT NULL,
    height     INTEGER     NOT NULL,
    frames     INTEGER     NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every chat, GIF and system message, keyed by the room's own sequence number, which is
-- also the SSE event id. The primary key doubles as the history index.
CREATE TABLE messages (
    room_id    UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        BIGINT      NOT NULL,
    kind       TEXT        NOT NULL CHECK (kind IN ('chat', 'gif', 'system')),
    user_id    UUID        NOT NULL,
    user_name  TEXT,
    text       TEXT,
    gif_id     TEXT        REFERENCES gifs (id),
    gif_width  INTEGER,
    gif_height INTEGER,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, seq)
);

-- Users who gave a locked room's password: they may read its history and open its stream.
CREATE TABLE room_access (
    room_id    UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    UUID        NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

-- A seat is a member's place in a room. It is a lease: open streams renew it, and once it
-- expires any instance's reaper removes it, stores the "left" message and deletes a room
-- left empty. Capacity is the number of seats, checked with the room row locked.
CREATE TABLE seats (
    room_id    UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    UUID        NOT NULL,
    user_name  TEXT,
    joined_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX seats_by_expiry ON seats (expires_at);
