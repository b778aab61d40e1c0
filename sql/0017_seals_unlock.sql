-- E-seals and the one-time unlock (SPEC §2 unlock, §8; issue 13).
--
-- Seals.  certhall-signer makes the GB/T 38540 seals an issued application
-- asked for (its approved snapshot's "seals", 1..10) once the certificate
-- they name is stored: a row of seal_job is queued by the trigger below in
-- the very transaction that stores the certificate, so no certificate with
-- seals due is ever missed and the signer looks at one small partial
-- index, not at every certificate.  The web workers only read seal rows.
-- A seal's status is derived when it is read (revoked or expired
-- certificate: not valid), so revocation writes nothing here.

CREATE TABLE seal_job (
    certificate_id   bigint PRIMARY KEY REFERENCES certificate,
    application_id   bigint NOT NULL REFERENCES application,
    wanted           integer NOT NULL CHECK (wanted BETWEEN 1 AND 10),
    attempts         integer NOT NULL DEFAULT 0,
    retry_at         timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    done_at          timestamptz,
    failed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seal_job_open ON seal_job (retry_at)
    WHERE done_at IS NULL AND failed_at IS NULL;

CREATE FUNCTION seal_job_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seal_job (certificate_id, application_id, wanted)
    SELECT NEW.id, j.application_id, (j.payload->>'seals')::int
      FROM signing_job j
     WHERE j.id = NEW.job_id AND coalesce((j.payload->>'seals')::int, 0) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER seal_job_queue AFTER INSERT ON certificate
    FOR EACH ROW WHEN (NEW.job_id IS NOT NULL) EXECUTE FUNCTION seal_job_queue();

-- The seals: DER of SESeal v4, and what a reader filters and shows.
-- es_id: "CH" || certificate serial || "-" || seal_number, unique because
-- the serial is (certhall/domain/seal.h).
CREATE TABLE seal (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    es_id            text NOT NULL UNIQUE CHECK (es_id ~ '^[!-~]{1,64}$'),
    certificate_id   bigint NOT NULL REFERENCES certificate,
    seal_number      integer NOT NULL CHECK (seal_number BETWEEN 1 AND 10),
    application_id   bigint NOT NULL REFERENCES application,
    applicant_id     bigint REFERENCES applicant,
    seal_type        text NOT NULL CHECK (seal_type IN ('org', 'personal')),
    name             text NOT NULL,
    algorithm        text NOT NULL CHECK (algorithm IN ('sm2', 'ec-p256')),
    maker_id         bigint NOT NULL REFERENCES ca_certificate,
    create_date      timestamptz NOT NULL,
    valid_start      timestamptz NOT NULL,
    valid_end        timestamptz NOT NULL CHECK (valid_end > valid_start),
    picture_sha256   text NOT NULL CHECK (picture_sha256 ~ '^[0-9a-f]{64}$'),
    width_mm         integer NOT NULL,
    height_mm        integer NOT NULL,
    der              bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (certificate_id, seal_number)
);
CREATE INDEX seal_applicant ON seal (applicant_id, id);

-- Unlock (解锁).  For a settled unlock application (status issuing, its
-- signing job kind 'unlock') the handler's client sends the USB key's
-- serial and the challenge it shows; certhall-signer answers with the
-- one-time response (certhall/domain/unlock.h has the derivation), which
-- goes to the handler by SMS and to the owner through the API.  A
-- challenge is taken once for a key, ever (UNIQUE), and an application
-- has one request.
CREATE TABLE unlock_request (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id   bigint NOT NULL UNIQUE REFERENCES application,
    job_id           bigint NOT NULL REFERENCES signing_job,
    usb_key_serial   text NOT NULL CHECK (usb_key_serial ~ '^[A-Za-z0-9_-]{1,32}$'),
    challenge        text NOT NULL CHECK (challenge ~ '^[0-9A-Za-z]{8,64}$'),
    response         text,
    error            text,
    requested_by_kind text NOT NULL,
    requested_by_id  bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    answered_at      timestamptz,
    confirmed_at     timestamptz,
    UNIQUE (usb_key_serial, challenge)
);
CREATE INDEX unlock_request_open ON unlock_request (id) WHERE answered_at IS NULL;
