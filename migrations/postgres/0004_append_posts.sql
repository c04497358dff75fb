-- Group commit of posts (src/chat/deliver.rs) in one round trip, with an exact seat check.
--
-- A single statement cannot do it: all of its parts read one snapshot, taken before it waits
-- for the room's row lock, so a kick or a seat expiry committing meanwhile (they hold that
-- lock while they delete the seat) would go unseen and a post from a removed member would be
-- stored after the notice of their removal. In a VOLATILE function each statement takes a
-- fresh snapshot: the first takes the lock, the second reads the seats after it.
--
-- Posts whose author holds no seat are left out (`o_seated` false in their place); the others
-- renew their authors' seats (to p_until, when they expire before p_renew_before), take the
-- room's next sequence numbers in order, and are inserted. `o_last_seq` is NULL when there is
-- no such room.
CREATE FUNCTION append_posts(
    p_room uuid,
    p_user_ids uuid[], p_user_names text[], p_kinds text[], p_to_ids uuid[], p_to_names text[],
    p_texts text[], p_changes text[],
    p_until timestamptz, p_renew_before timestamptz,
    OUT o_last_seq bigint, OUT o_created_at timestamptz, OUT o_seated boolean[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    o_created_at := now();
    PERFORM 1 FROM rooms WHERE id = p_room FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    WITH batch AS (
        SELECT b.*, EXISTS (SELECT 1 FROM seats s WHERE s.room_id = p_room AND s.user_id = b.user_id) AS seated
        FROM unnest(p_user_ids, p_user_names, p_kinds, p_to_ids, p_to_names, p_texts, p_changes)
             WITH ORDINALITY AS b(user_id, user_name, kind, to_id, to_name, text, change, ord)
    ), accepted AS (
        SELECT *, row_number() OVER (ORDER BY ord) AS n FROM batch WHERE seated
    ), renewed AS (
        UPDATE seats SET expires_at = p_until
        WHERE seats.room_id = p_room AND seats.user_id IN (SELECT a.user_id FROM accepted a)
          AND seats.expires_at < p_renew_before
    ), bump AS (
        UPDATE rooms SET last_seq = rooms.last_seq + (SELECT count(*) FROM accepted)
        WHERE rooms.id = p_room RETURNING rooms.last_seq
    ), inserted AS (
        INSERT INTO messages (room_id, seq, kind, user_id, user_name, to_user_id, to_user_name, text, member_change)
        SELECT p_room, bump.last_seq - (SELECT count(*) FROM accepted) + a.n, a.kind, a.user_id, a.user_name,
               a.to_id, a.to_name, a.text, a.change
        FROM bump, accepted a
    )
    SELECT (SELECT bump.last_seq FROM bump), (SELECT array_agg(batch.seated ORDER BY batch.ord) FROM batch)
    INTO o_last_seq, o_seated;
END
$$;
