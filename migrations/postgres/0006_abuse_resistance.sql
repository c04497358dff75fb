-- Abuse resistance: kicks that hold against a fresh cookie, and GIFs that can be found (and
-- deleted) by the messages that carry them.

-- The client address a seat was taken from (IPv4, or an IPv6 /64), so a kick can bar it too.
ALTER TABLE seats ADD COLUMN address TEXT;

-- Addresses barred from a room by a kick: nobody new from there may take a seat while the
-- room exists (a kicked user's next identity is one cookie away; their address is not).
CREATE TABLE room_address_bans (
    room_id   UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    address   TEXT        NOT NULL,
    banned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, address)
);

-- A GIF is served only through a room that has a message carrying it, and its bytes are
-- deleted once no message does: both look messages up by GIF.
CREATE INDEX messages_by_gif ON messages (gif_id) WHERE gif_id IS NOT NULL;

-- Secrets the server makes for itself when the operator gives none: the key that signs
-- session cookies, so sessions survive a restart and every instance on this database accepts
-- the others' cookies without COOKIE_SECRET.
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
