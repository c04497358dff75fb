-- Room features the original left as exercises. See migrations/postgres/0002 for the why.
-- SQLite cannot change a CHECK constraint in place, so `messages` is rebuilt.

CREATE TABLE messages_v2 (
    room_id      TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('chat', 'gif', 'system', 'whisper')),
    user_id      TEXT    NOT NULL,
    user_name    TEXT,
    text         TEXT,
    gif_id       TEXT    REFERENCES gifs (id),
    gif_width    INTEGER,
    gif_height   INTEGER,
    created_at   INTEGER NOT NULL,
    to_user_id   TEXT,
    to_user_name TEXT,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
INSERT INTO messages_v2 (room_id, seq, kind, user_id, user_name, text, gif_id, gif_width, gif_height, created_at)
    SELECT room_id, seq, kind, user_id, user_name, text, gif_id, gif_width, gif_height, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;

CREATE TABLE room_bans (
    room_id   TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   TEXT    NOT NULL,
    banned_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
