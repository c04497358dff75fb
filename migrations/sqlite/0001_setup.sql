-- gif-chat schema (SQLite). Same tables as migrations/postgres; differences:
-- ids are TEXT (hyphenated UUIDs) and times are INTEGER milliseconds since the epoch, which
-- compare correctly as numbers (sqlx's text timestamps vary in width and would not).
-- Writers are serialised by a single-connection pool, so no row locks are needed.

CREATE TABLE rooms (
    id            TEXT    PRIMARY KEY,
    title         TEXT    NOT NULL,
    max_members   INTEGER NOT NULL CHECK (max_members >= 2),
    password_hash TEXT,
    owner_id      TEXT    NOT NULL,
    owner_name    TEXT,
    created_at    INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE gifs (
    id         TEXT    PRIMARY KEY,
    data       BLOB    NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    frames     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE messages (
    room_id    TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('chat', 'gif', 'system')),
    user_id    TEXT    NOT NULL,
    user_name  TEXT,
    text       TEXT,
    gif_id     TEXT    REFERENCES gifs (id),
    gif_width  INTEGER,
    gif_height INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;

CREATE TABLE room_access (
    room_id    TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

CREATE TABLE seats (
    room_id    TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    user_name  TEXT,
    joined_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX seats_by_expiry ON seats (expires_at);
