-- Fewer index entries per audit event (issue 4's benchmark; README "Benchmark").
--
-- Every create and every submit writes one audit event, and the sealer
-- (audit_event_seal(), sql/0007_audit_seal.sql) then updates it once to give
-- it its seq and hashes.  That update changes an indexed column, so it is
-- never a HOT update: the new row version goes into every index again.  With
-- four indexes an event cost ten WAL records, close to half of what a create
-- writes (pg_stat_statements.wal_records, 2026-11-24).  Two of those entries
-- bought nothing:
--
-- * audit_event_at: no query reads audit_event by time.  GET /api/v1/audit
--   pages by id (api/audit.c), the verifier and the sealer go by seq and id.
--   If a time filter comes, id ranges follow time closely (ids are handed
--   out in insertion order) or the index can come back with its reader.
--
-- * audit_event_seq_key indexed the NULL seq of every unsealed row as well,
--   one more entry per insert, all of them at the same right-hand leaf.  A
--   unique index over the sealed rows only keeps the same guarantee (NULLs
--   never collide under UNIQUE) and serves the same readers: "seq > $1 ORDER
--   BY seq" (verify-audit) and "seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
--   (the sealer's head) both imply its predicate.

DROP INDEX audit_event_at;

CREATE UNIQUE INDEX audit_event_seq ON audit_event (seq) WHERE seq IS NOT NULL;
ALTER TABLE audit_event DROP CONSTRAINT audit_event_seq_key;
