-- OCSP (RFC 6960, RFC 5019; issue 13): the responses certhall-signer
-- pre-signs, one row per certificate and CertID hash algorithm
-- (certhall/codec/ocsp.h: a response's CertID must be the request's, so
-- SHA-1 and SHA-256 each get a response of their own).  The web workers
-- only read der; only the signer writes it (certhall/domain/ocsp.h).
--
-- A row is due for a signature when due_at <= now(): '-infinity' at once
-- (a new certificate, a revocation, a request for a serial not seen
-- before), a time for the refresh well before next_update, 'infinity'
-- never (an "unknown", and the last response of a certificate that
-- covers its not_after).  generation grows with every change that calls
-- for a new signature; the signer stores what it signed only if the
-- generation is still the one it read, so a revocation that commits
-- while the old status is being signed is never overwritten.
--
-- serial: ch_ocsp_serial_hex() (as certificate.serial): the lookup key
-- with hash.  certificate_id NULL: no certificate of ours has the serial
-- (an "unknown" made on demand for a web request, requested_at set).
CREATE TABLE ocsp_response (
    hash              text NOT NULL CHECK (hash IN ('sha1', 'sha256')),
    serial            text NOT NULL CHECK (serial ~ '^([0-9a-f]{2}){1,20}$' AND serial !~ '^00'),
    certificate_id    bigint REFERENCES certificate,
    issuer_id         bigint NOT NULL REFERENCES ca_certificate,
    generation        bigint NOT NULL DEFAULT 1,
    due_at            timestamptz NOT NULL DEFAULT '-infinity',
    requested_at      timestamptz,
    cert_status       text CHECK (cert_status IN ('good', 'revoked', 'unknown')),
    revoked_at        timestamptz,
    revocation_reason text,
    this_update       timestamptz,
    next_update       timestamptz,
    signed_at         timestamptz,
    responder_id      bigint REFERENCES ca_certificate,
    der               bytea,
    PRIMARY KEY (hash, serial),
    CHECK ((der IS NULL) = (cert_status IS NULL)),
    CHECK ((der IS NULL) = (next_update IS NULL)),
    CHECK (next_update IS NULL OR next_update > this_update),
    CHECK ((cert_status = 'revoked') = (revoked_at IS NOT NULL))
);
-- What the signer's pass reads first: the rows due, oldest due first.
CREATE INDEX ocsp_response_due ON ocsp_response (due_at);
-- Rows still without a response (the cap on requests made on demand).
CREATE INDEX ocsp_response_pending ON ocsp_response (requested_at) WHERE der IS NULL;

-- A certificate issued: its two rows, due at once, in the issuing
-- transaction itself, so the web knows the serial (and asks for it) from
-- the moment the certificate exists.  An "unknown" stored for the serial
-- before becomes the certificate's.  A certificate without an issuer
-- (rows made before issue 12), or whose serial is not in the lookup form
-- (ch_ocsp_serial_hex: whole bytes, no leading zero byte; the signer never
-- stores another), is not one the responder answers for: its INSERT is
-- never refused for it.
CREATE FUNCTION ocsp_certificate_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.issuer_id IS NULL OR NEW.serial !~ '^([0-9a-f]{2}){1,20}$'
       OR NEW.serial ~ '^00' THEN
        RETURN NULL;
    END IF;
    INSERT INTO ocsp_response (hash, serial, certificate_id, issuer_id)
    SELECT h.hash, NEW.serial, NEW.id, NEW.issuer_id
    FROM (VALUES ('sha1'), ('sha256')) AS h(hash)
    ON CONFLICT (hash, serial) DO UPDATE
        SET certificate_id = EXCLUDED.certificate_id,
            issuer_id = EXCLUDED.issuer_id,
            generation = ocsp_response.generation + 1,
            due_at = '-infinity';
    PERFORM pg_notify('ocsp', '');
    RETURN NULL;
END $$;

CREATE TRIGGER certificate_ocsp_inserted AFTER INSERT ON certificate
    FOR EACH ROW EXECUTE FUNCTION ocsp_certificate_inserted();

-- A certificate's status changed (revoked, by whatever writes it): its
-- responses are due at once, in the revoking transaction.  The signer also
-- compares stored and current status on a schedule (ch_ocsp_sweep), so
-- nothing depends on this trigger or on a NOTIFY alone.
CREATE FUNCTION ocsp_certificate_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
       OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason THEN
        UPDATE ocsp_response SET generation = generation + 1, due_at = '-infinity'
        WHERE serial = NEW.serial;
        PERFORM pg_notify('ocsp', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER certificate_ocsp_changed
    AFTER UPDATE OF status, revoked_at, revocation_reason ON certificate
    FOR EACH ROW EXECUTE FUNCTION ocsp_certificate_changed();
