-- Verification of free business and proof of possession (SPEC §6; issue 5;
-- docs/CONTRACT.md "Pay or verify"), api/verification.c.
--
-- Free business (change, revoke, unlock) is verified with an SMS code sent
-- to the phone registered for the certificate (certificate.registered_phone,
-- not the caller's); renew and change also prove possession of the current
-- certificate's key by signing a server nonce with the USB key.  Each fact,
-- once earned, is recorded on the application by src/settle.c.

-- Codes sent for an application.  Like sign-in codes (sms_code) they are
-- never stored: code_hash = HMAC-SHA256(key "certhall verification code
-- v1", "<id>:<application_id>:<phone>:<code>") (certhall/smscode.h), bound
-- to its row, application and phone.  The newest code of an application is
-- the one a try is judged against (a new code supersedes the older ones);
-- every try counts, and the code takes 5.
CREATE TABLE verification_code (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id  bigint NOT NULL REFERENCES application,
    phone           text NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    code_hash       bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    consumed_at     timestamptz,
    client_addr     text NOT NULL
);
CREATE INDEX verification_code_application
    ON verification_code (application_id, created_at DESC, id DESC);

-- Nonces to sign with the certificate's key.  The client signs the UTF-8
-- bytes of 'certhall-possession:v1:<application_id>:<nonce>'; a challenge
-- lasts 5 minutes and is consumed by its first attempt, right or wrong
-- (outcome), so a signature is never checked twice against one nonce.
-- algorithm: what the certificate's key signs with, fixed when the
-- challenge is made (the answer tells the client).
CREATE TABLE possession_challenge (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id  bigint NOT NULL REFERENCES application,
    nonce           text NOT NULL UNIQUE CHECK (nonce ~ '^[A-Za-z0-9_-]{43}$'),
    algorithm       text NOT NULL
                    CHECK (algorithm IN ('rsa-pkcs1-sha256', 'ecdsa-p256-sha256', 'sm2-sm3')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    consumed_at     timestamptz,
    outcome         text CHECK (outcome IN ('proven', 'failed')),
    client_addr     text NOT NULL,
    CHECK ((consumed_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX possession_challenge_application
    ON possession_challenge (application_id, id DESC);
