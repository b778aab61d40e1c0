-- Step 4 of the online flow (SPEC §6; issue 5): what an approved
-- application still owes before it is issued, and the queue of jobs for the
-- signing worker.
--
-- An approved application waits in awaiting_payment (paid business) or
-- awaiting_verification (free business) until every requirement of its
-- business is met; then one transaction moves it to issuing and queues its
-- signing job (src/settle.c):
--
--   new, reissue     paid
--   renew            paid and possession proven
--   change           verified (SMS code) and possession proven
--   revoke, unlock   verified (SMS code)

ALTER TABLE application
    ADD COLUMN paid_at               timestamptz,
    ADD COLUMN verified_at           timestamptz,
    ADD COLUMN possession_proven_at  timestamptz,
    ADD COLUMN settled_at            timestamptz;

-- The certificate itself (DER), for proof of possession: a signature over a
-- server nonce is checked against its public key.  NULL for rows that have
-- no certificate on file (possession cannot be proven for them).
ALTER TABLE certificate
    ADD COLUMN der bytea;

-- The phone registered for a certificate (its handler's, at issue): where
-- the SMS verification code for free business about it is sent.
ALTER TABLE certificate
    ADD COLUMN registered_phone text CHECK (registered_phone ~ '^1[3-9][0-9]{9}$');

-- Work for the signing process (SPEC §8).  The web workers only insert;
-- the signing worker (a later issue) claims jobs with a lease:
--   UPDATE signing_job SET status = 'claimed', claimed_by = $1,
--          lease_until = now() + interval '60 seconds', attempts = attempts + 1
--    WHERE id = (SELECT id FROM signing_job
--                 WHERE status = 'queued' OR (status = 'claimed' AND lease_until < now())
--                 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
--   RETURNING id, kind, payload;
-- and is woken by NOTIFY signing_job (payload: the job id).
--
-- payload is a snapshot of the approved application (version 1), so the
-- signer never reads a row that might change under it:
--   {"v": 1, "application_id", "business_type", "certificate_type",
--    "certificate_id" (null for new), "years" (null unless new/renew),
--    "seals", "unit_name", "credit_code", "holder_name", "holder_id_number",
--    "handler_name", "handler_phone", "delivery" (object or null),
--    "quote_total_fen", "paid_at", "verified_at", "possession_proven_at"}
CREATE TABLE signing_job (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id   bigint NOT NULL UNIQUE REFERENCES application,
    kind             text NOT NULL REFERENCES business_type,
    payload          jsonb NOT NULL CHECK ((payload->>'v')::int = 1),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'claimed', 'done', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    claimed_by       text,
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signing_job_ready ON signing_job (id) WHERE status IN ('queued', 'claimed');
