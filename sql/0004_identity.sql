-- Who may do what (SPEC §11, issue 3): applicants, staff, integrators, sessions,
-- SMS codes, rate limits, replay protection, the outbox and the audit log.
--
-- Secrets are never stored in the clear: session tokens and SMS codes are kept
-- as keyed hashes (HMAC-SHA256 with a server pepper that is not in the
-- database), staff passwords as scrypt, integrator secrets encrypted with
-- AES-256-GCM under a key derived from the same pepper.

-- A person who applies (经办人).  Direct applicants sign in by phone; an
-- integrator's applicants are known by the integrator's own user id and can
-- only be reached through that integrator.
CREATE TABLE integrator (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id        text NOT NULL UNIQUE CHECK (key_id ~ '^ak_[0-9a-f]{24}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_enc    bytea NOT NULL,          -- nonce || ciphertext || tag (AES-256-GCM)
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE applicant (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone            text CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    integrator_id    bigint REFERENCES integrator,
    external_user_id text CHECK (length(external_user_id) BETWEEN 1 AND 64),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((integrator_id IS NULL) = (external_user_id IS NULL)),
    CHECK (integrator_id IS NOT NULL OR phone IS NOT NULL),
    UNIQUE (integrator_id, external_user_id)
);
CREATE UNIQUE INDEX applicant_direct_phone ON applicant (phone) WHERE integrator_id IS NULL;

-- CA staff.  roles is a set of the staff roles of SPEC §11.
CREATE TABLE staff (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z][a-z0-9._-]{2,31}$'),
    display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
    password_hash   text NOT NULL,          -- $scrypt$ln=15,r=8,p=1$salt$hash
    roles           text[] NOT NULL
                    CHECK (roles <@ ARRAY['reviewer','operator','finance','counter','admin']
                           AND cardinality(roles) >= 1),
    disabled        boolean NOT NULL DEFAULT false,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Bearer sessions.  token_hash = HMAC-SHA256(pepper, token); the token itself
-- is shown once, to its owner.
CREATE TABLE session (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE,
    applicant_id  bigint REFERENCES applicant,
    staff_id      bigint REFERENCES staff,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,     -- absolute
    idle_seconds  integer NOT NULL CHECK (idle_seconds > 0),
    revoked_at    timestamptz,
    client_addr   text NOT NULL,
    CHECK ((applicant_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX session_staff ON session (staff_id) WHERE revoked_at IS NULL;

-- SMS sign-in codes: 6 digits, 5 minutes, 5 tries.
CREATE TABLE sms_code (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone        text NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    purpose      text NOT NULL CHECK (purpose IN ('sign_in', 'verify')),
    code_hash    bytea NOT NULL,            -- HMAC-SHA256(pepper, id:phone:code)
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    consumed_at  timestamptz,
    client_addr  text NOT NULL
);
CREATE INDEX sms_code_phone ON sms_code (phone, created_at DESC);

-- Fixed-window counters for rate limits; rows of past windows are deleted by
-- whoever counts next in the same bucket.
CREATE TABLE rate_limit (
    bucket        text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- Integrator request nonces, kept for the signature's validity window: a
-- nonce is accepted once.
CREATE TABLE request_nonce (
    integrator_id bigint NOT NULL REFERENCES integrator,
    nonce         text NOT NULL,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integrator_id, nonce)
);
CREATE INDEX request_nonce_seen ON request_nonce (seen_at);

-- Notifications to deliver, written in the same transaction as the change
-- that causes them (the transactional outbox).  certhall-sms-sender claims
-- due rows, delivers them and records the outcome; message_id is the
-- idempotency key the provider sees, so a retry after a crash is not a
-- second message.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    channel         text NOT NULL CHECK (channel IN ('sms')),
    recipient       text NOT NULL,          -- a phone number for sms
    template        text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}',
    body            text NOT NULL,          -- the rendered text, with 【四川CA】
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,            -- while 'sending'
    last_error      text,
    provider_ref    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'sending');

-- The audit log: who did what, when, from where, under which request id.
-- Identity and phone numbers in detail are masked by the writer.
CREATE TABLE audit_event (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_kind   text NOT NULL CHECK (actor_kind IN
                 ('anonymous', 'applicant', 'staff', 'integrator', 'system')),
    actor_id     bigint,
    action       text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    object_type  text,
    object_id    text,
    client_addr  text NOT NULL,
    request_id   text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_event_at ON audit_event (at);

-- The app role may add audit events but never change or remove one.
DO $$
BEGIN
    EXECUTE 'REVOKE UPDATE, DELETE ON audit_event FROM certhall_app';
END
$$;
