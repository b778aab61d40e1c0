-- The audit chain, sealed after commit (issue 4; docs/CONTRACT.md "Audit chain").
--
-- 0006 chained each audit_event row as it was inserted, under a transaction
-- advisory lock that every auditing transaction then held through its COMMIT
-- (WAL flush included): they ran one at a time.  Now an insert only adds the
-- row, with seq, prev_hash and hash NULL ("unsealed"), and the sealer,
-- audit_event_seal() below, chains committed rows afterwards, in batches:
--
--   seq        the sealing order: 1, 2, 3, ... without a gap.  Rows are
--              sealed in id order among those committed when the sealer
--              looks, so a row whose transaction commits after a row with a
--              larger id was sealed gets a later seq than that row.
--   prev_hash  the hash of the row at seq - 1 (64 zeros for seq 1).
--   hash       audit_event_hash(prev_hash, row) (0006, unchanged).
--
-- Rows sealed by 0006 keep their links; the chain goes on from its head.
-- Who seals: certhall-sms-sender, about once a second (src/sms/sender.c),
-- and `certhall-admin verify-audit`, which seals everything committed
-- before it verifies.  Any number of callers may run it at once: they take
-- turns on the chain's advisory lock (0006's key), held only for the short
-- transaction of one batch.
--
-- The app role still may not update, delete or truncate audit_event; it
-- may call the sealer, which runs as the owner (SECURITY DEFINER) and takes
-- nothing from its caller but how many rows to seal, so it cannot be made
-- to write anything but the chain's own links.

ALTER TABLE audit_event
    ALTER COLUMN seq DROP NOT NULL,
    ALTER COLUMN prev_hash DROP NOT NULL,
    ALTER COLUMN hash DROP NOT NULL,
    -- Unsealed (all three NULL) or sealed (all three set), nothing between.
    ADD CONSTRAINT audit_event_sealed_check CHECK (
        (seq IS NULL) = (prev_hash IS NULL) AND (seq IS NULL) = (hash IS NULL));

-- What the sealer looks for, without reading the sealed rows.
CREATE INDEX audit_event_unsealed ON audit_event (id) WHERE seq IS NULL;

-- Inserts are no longer chained: whatever the writer sends for the three
-- columns is cleared, so only the sealer places a row in the chain.
DROP TRIGGER audit_event_chain ON audit_event;
DROP FUNCTION audit_event_chain();

CREATE FUNCTION audit_event_unsealed() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.seq := NULL;
    NEW.prev_hash := NULL;
    NEW.hash := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_event_unsealed BEFORE INSERT ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_unsealed();

-- Seals up to max_rows (1 to 10000) committed, unsealed rows, oldest id
-- first, and returns how many it sealed: fewer than max_rows means every row
-- committed when it looked is sealed now.  One transaction: call it on its
-- own (autocommit), at READ COMMITTED, so that each query here, run after
-- the lock is granted, sees what the previous holder committed.  At
-- REPEATABLE READ or SERIALIZABLE it refuses, as its snapshot could predate
-- the head.  The lock is held to the end of the caller's transaction.
-- Names are schema-qualified and search_path is pinned, with pg_temp last:
-- a temporary table called audit_event in the caller's session must not
-- stand in for the real one.
CREATE FUNCTION audit_event_seal(max_rows integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    last_seq  bigint;
    last_hash text;
    r         public.audit_event;
    ids       bigint[] := '{}';
    seqs      bigint[] := '{}';
    prevs     text[] := '{}';
    hashes    text[] := '{}';
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'audit_event_seal: max_rows must be 1 to 10000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit_event_seal: call it at READ COMMITTED'
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    PERFORM pg_advisory_xact_lock(7331200601);
    SELECT seq, hash INTO last_seq, last_hash
        FROM public.audit_event WHERE seq IS NOT NULL
        ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    FOR r IN SELECT * FROM public.audit_event WHERE seq IS NULL
             ORDER BY id LIMIT max_rows
    LOOP
        r.seq := last_seq + 1;
        r.prev_hash := last_hash;
        r.hash := public.audit_event_hash(r.prev_hash, r);
        ids := ids || r.id;
        seqs := seqs || r.seq;
        prevs := prevs || r.prev_hash;
        hashes := hashes || r.hash;
        last_seq := r.seq;
        last_hash := r.hash;
    END LOOP;
    UPDATE public.audit_event e
       SET seq = s.seq, prev_hash = s.prev_hash, hash = s.hash
      FROM unnest(ids, seqs, prevs, hashes) AS s(id, seq, prev_hash, hash)
     WHERE e.id = s.id;
    RETURN cardinality(ids);
END
$$;

REVOKE ALL ON FUNCTION audit_event_seal(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_event_seal(integer) TO certhall_app;

-- Said again, as 0006 did: the chain depends on it.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM certhall_app;
