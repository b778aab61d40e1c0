-- The audit log as a hash chain (issue 4; docs/CONTRACT.md "Audit chain").
--
-- Every audit_event row gets a gap-free position (seq, 1, 2, 3, ...) and
--   hash = hex(SHA-256(prev_hash || '|' || audit_event_canonical(row)))
-- where prev_hash is the hash of the row at seq - 1 (64 zeros for seq 1).
-- A trigger sets the three columns under a transaction advisory lock, so
-- whatever the writer sends for them is overwritten and concurrent writers
-- are chained one after the other, in commit order.  Changing or removing
-- a row afterwards (possible only for the owner role: the app role has no
-- UPDATE, DELETE or TRUNCATE here) breaks the chain at that row, and
-- `certhall-admin verify-audit` names it.
--
-- What the chain cannot show by itself: rows cut off the end, or a chain
-- recomputed wholesale by someone who holds the owner role.  Against those,
-- keep the head (seq and hash, printed by verify-audit) somewhere else.
--
-- The canonical text and the hash formula are defined once, below; the
-- trigger, the backfill and the verifier all call these two functions.

-- The advisory lock key of the chain: an arbitrary constant, not used for
-- anything else (the migration runner's is 7331200201).
--   7331200601

ALTER TABLE audit_event
    ADD COLUMN seq bigint,
    ADD COLUMN prev_hash text,
    ADD COLUMN hash text;

-- The row as text, for hashing: a version tag, then every column but the
-- chain's own (prev_hash is hashed in front of it, hash is the result),
-- each one quote_nullable()'d and joined with '|'.  Quoting makes the text
-- unambiguous (a '|' or a quote inside a value cannot shift a field into
-- its neighbour) and writes SQL NULL as the bare word NULL, unlike any
-- quoted value.  `at` is written as integer microseconds since the epoch
-- (exact, and independent of the session's TimeZone and DateStyle);
-- `detail` as jsonb's own text form, which is normalised (key order and
-- spacing are those of the stored value, not of the JSON the writer sent).
-- Changing this function changes every hash: do it only in a migration
-- that also recomputes the chain, with a new version tag.
CREATE FUNCTION audit_event_canonical(e audit_event) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
RETURN 'audit-v1'
    || '|' || quote_nullable(e.seq)
    || '|' || quote_nullable(e.id)
    || '|' || quote_nullable((extract(epoch FROM e.at) * 1000000)::bigint)
    || '|' || quote_nullable(e.actor_kind)
    || '|' || quote_nullable(e.actor_id)
    || '|' || quote_nullable(e.action)
    || '|' || quote_nullable(e.object_type)
    || '|' || quote_nullable(e.object_id)
    || '|' || quote_nullable(e.client_addr)
    || '|' || quote_nullable(e.request_id)
    || '|' || quote_nullable(e.detail::text);

-- The link: hex SHA-256 of the previous hash, '|', and the row's canonical
-- text (UTF-8).
CREATE FUNCTION audit_event_hash(prev_hash text, e audit_event) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
RETURN encode(sha256(convert_to(prev_hash || '|' || audit_event_canonical(e),
                                'UTF8')), 'hex');

-- Rows written before this migration: chained in id order (the order they
-- were written in).  The ALTER TABLE above holds an exclusive lock on the
-- table until this migration commits, so nothing is added meanwhile.
UPDATE audit_event a SET seq = n.seq
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS seq FROM audit_event) n
    WHERE a.id = n.id;

DO $$
DECLARE
    r    audit_event;
    prev text := repeat('0', 64);
    h    text;
BEGIN
    FOR r IN SELECT * FROM audit_event ORDER BY seq LOOP
        h := audit_event_hash(prev, r);
        UPDATE audit_event SET prev_hash = prev, hash = h WHERE id = r.id;
        prev := h;
    END LOOP;
END
$$;

ALTER TABLE audit_event
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL,
    ADD CONSTRAINT audit_event_seq_key UNIQUE (seq),
    ADD CONSTRAINT audit_event_seq_check CHECK (seq > 0),
    ADD CONSTRAINT audit_event_prev_hash_check CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT audit_event_hash_check CHECK (hash ~ '^[0-9a-f]{64}$');

-- Appends the new row to the chain.  Volatile (the default), so that under
-- READ COMMITTED each query here sees what the previous lock holder
-- committed, and the rows an INSERT of several rows has already added.
-- A transaction at REPEATABLE READ or SERIALIZABLE may not see the newest
-- link: its insert then fails on the unique seq (no fork in the chain),
-- so audit events are written at READ COMMITTED, as every handler does.
-- The lock is held to the end of the transaction: write the audit event
-- as late in a transaction as is practical.
-- Names are schema-qualified and search_path is pinned, with pg_temp last:
-- the trigger runs as the writer, and a temporary table called audit_event
-- in the writer's session must not stand in for the real one.
CREATE FUNCTION audit_event_chain() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    last_seq  bigint;
    last_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(7331200601);
    SELECT seq, hash INTO last_seq, last_hash
        FROM public.audit_event ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    NEW.seq := last_seq + 1;
    NEW.prev_hash := last_hash;
    NEW.hash := public.audit_event_hash(NEW.prev_hash, NEW);
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_event_chain BEFORE INSERT ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_chain();

-- The app role adds audit events and never changes or removes one (0004
-- revoked UPDATE and DELETE; said again here, with TRUNCATE, so that this
-- file alone states the rule the chain depends on).
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM certhall_app;
