-- Issuance (SPEC §2, §8): the CA's own certificates, the subscriber's key
-- request on the signing job, serials reserved before anything is signed,
-- the personalisation of USB keys, and the signing process's heartbeat.
--
-- Only certhall-signer writes certificates; the web workers queue work and
-- read back what it signed.  The order of one issuance (Boulder's):
--
--   1. the job is claimed under a lease (signing_job.status = 'claimed');
--   2. a serial is reserved (certificate_serial, committed before signing);
--   3. the to-be-signed certificate is built, linted and stored with it;
--   4. it is signed in the token, and the signed TBS is compared with the
--      stored one byte for byte;
--   5. one transaction stores the certificate, moves the application to
--      issued (history, audit, SMS) and marks the job done, if the job is
--      still this attempt's (signing_job.attempts).
--
-- A serial is used for one attempt only: a retry reserves a new one, and a
-- reserved serial that never became a certificate stays on record with its
-- outcome ('abandoned', 'lint_failed').

-- The CA's certificates, made by `certhall-signer setup` (the keys stay in
-- the token, or in an encrypted file for SM2).  role: root, issuing (signs
-- subscriber certificates and CRLs), ocsp (the delegated OCSP responder),
-- seal_maker (signs GB/T 38540 seals).  key_ref names the key for the
-- signer (a PKCS#11 URI or file: reference: never a secret).  The active
-- certificate of a role and algorithm is the one the signer uses.
CREATE TABLE ca_certificate (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    role             text NOT NULL CHECK (role IN ('root', 'issuing', 'ocsp', 'seal_maker')),
    algorithm        text NOT NULL CHECK (algorithm IN ('rsa', 'ec-p256', 'sm2')),
    key_ref          text NOT NULL,
    subject          text NOT NULL,
    serial           text NOT NULL UNIQUE CHECK (serial ~ '^[0-9a-f]{2,40}$'),
    not_before       timestamptz NOT NULL,
    not_after        timestamptz NOT NULL CHECK (not_after > not_before),
    der              bytea NOT NULL,
    spki_sha256      bytea NOT NULL CHECK (length(spki_sha256) = 32),
    issuer_id        bigint REFERENCES ca_certificate,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ca_certificate_active ON ca_certificate (role, algorithm) WHERE active;

-- The subscriber's key request.  For new and reissue the operator's
-- personalisation station makes the key on a blank USB key and sends the
-- PKCS#10 with the key's serial; for renew and change the handler's client
-- makes it on the USB key already held.  The API checks it (signature, key
-- type and size, subject) before it is stored; a job is ready for the
-- signer once it has one.
ALTER TABLE signing_job
    ADD COLUMN csr                bytea,
    ADD COLUMN csr_submitted_at   timestamptz,
    ADD COLUMN csr_actor_kind     text,
    ADD COLUMN csr_actor_id       bigint,
    ADD COLUMN usb_key_serial     text CHECK (usb_key_serial ~ '^[A-Za-z0-9_-]{4,32}$'),
    ADD COLUMN failed_at          timestamptz,
    ADD COLUMN done_at            timestamptz,
    ADD CONSTRAINT signing_job_csr_whole CHECK ((csr IS NULL) = (csr_submitted_at IS NULL));

-- What the signer claims: issuing business with a key request, queued or
-- with its lease run out.
CREATE INDEX signing_job_claimable ON signing_job (id)
    WHERE status IN ('queued', 'claimed') AND csr IS NOT NULL;

-- Serials, reserved before signing (unique across every certificate and
-- attempt ever).  tbs: the linted to-be-signed certificate; the signed one
-- must carry it byte for byte.
CREATE TABLE certificate_serial (
    serial           text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]{16,40}$'),
    job_id           bigint NOT NULL REFERENCES signing_job,
    attempt          integer NOT NULL CHECK (attempt > 0),
    signer           text NOT NULL,
    reserved_at      timestamptz NOT NULL DEFAULT now(),
    tbs              bytea,
    outcome          text NOT NULL DEFAULT 'reserved'
                     CHECK (outcome IN ('reserved', 'linted', 'issued', 'abandoned', 'lint_failed')),
    detail           text,
    UNIQUE (job_id, attempt)
);

-- Issued certificates: which job, application, issuer and owner.  One
-- certificate per job (the last line of exactly-once).  supersedes: the
-- certificate a reissue or change replaces (revoked as superseded).
ALTER TABLE certificate
    ADD COLUMN job_id             bigint UNIQUE REFERENCES signing_job,
    ADD COLUMN application_id     bigint REFERENCES application,
    ADD COLUMN applicant_id       bigint REFERENCES applicant,
    ADD COLUMN issuer_id          bigint REFERENCES ca_certificate,
    ADD COLUMN key_algorithm      text CHECK (key_algorithm IN ('rsa', 'ec-p256', 'sm2')),
    ADD COLUMN subject            text,
    ADD COLUMN supersedes         bigint REFERENCES certificate,
    ADD COLUMN installed_at       timestamptz;
CREATE INDEX certificate_applicant ON certificate (applicant_id, id);

-- USB keys, as the personalisation station sees them.  A key is bound to
-- one application from its initialisation; its SO PIN is derived in the CA
-- token from the master secret and the serial, and never stored.
CREATE TABLE usb_key (
    serial           text PRIMARY KEY CHECK (serial ~ '^[A-Za-z0-9_-]{4,32}$'),
    application_id   bigint NOT NULL REFERENCES application,
    status           text NOT NULL DEFAULT 'initialised'
                     CHECK (status IN ('initialised', 'requested', 'personalised', 'shipped', 'delivered')),
    operator_id      bigint REFERENCES staff,
    certificate_id   bigint REFERENCES certificate,
    initialised_at   timestamptz NOT NULL DEFAULT now(),
    personalised_at  timestamptz,
    CHECK ((status IN ('personalised', 'shipped', 'delivered')) = (personalised_at IS NOT NULL))
);
CREATE UNIQUE INDEX usb_key_application_open ON usb_key (application_id)
    WHERE status IN ('initialised', 'requested', 'personalised');

-- Requests for a value computed in the CA token that only its requester may
-- read: the SO PIN of a USB key (kind 'so_pin').  The requester (the
-- station, through the API) sends an ephemeral public key; the signer
-- answers with the value sealed to it, and the row is deleted once read or
-- expired.  The clear value is never stored.
CREATE TABLE token_request (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('so_pin')),
    subject          text NOT NULL,
    requester_key    bytea NOT NULL,
    sealed           bytea,
    error            text,
    requested_by     bigint REFERENCES staff,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    answered_at      timestamptz
);
CREATE INDEX token_request_open ON token_request (id) WHERE answered_at IS NULL;

-- The signing processes' heartbeats, for /health and the operators.
CREATE TABLE signer_status (
    name             text PRIMARY KEY,
    state            text NOT NULL CHECK (state IN ('starting', 'ok', 'token_unavailable', 'refused', 'stopping')),
    since            timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    issued           bigint NOT NULL DEFAULT 0,
    heartbeat_at     timestamptz NOT NULL DEFAULT now()
);
