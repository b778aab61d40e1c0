-- Revocation and its publication in CRLs (SPEC §2 revoke, §8; issue 13).
--
-- A certificate is revoked three ways, each ONE transaction that sets
-- certificate.status = 'revoked' with revoked_at and revocation_reason (an
-- RFC 5280 CRLReason name), writes the audit event certificate.revoked and
-- NOTIFY revocation (payload: the certificate id, delivered at commit):
--
--   a settled revoke application  certhall-signer, from its signing job
--                                 (kind 'revoke'): the reason the
--                                 application names, the job done, the
--                                 application issuing -> issued (history,
--                                 audit, SMS: the revocation is recorded)
--   reissue and change            certhall-signer, when it issues the new
--                                 certificate (sql/0013: 'superseded')
--   staff with the admin role     POST /api/v1/certificates/{serial}/revocation
--
-- What is left to do is the certificate itself: a revoked certificate with
-- crl_number NULL is waiting to be published (the "job for the signer to
-- publish"; the NOTIFY only wakes it, the signer also looks every second).
-- certhall-signer makes a new CRL once the oldest unpublished revocation
-- is a moment old (a burst goes into one CRL), stores it here and, in the
-- same transaction, sets crl_number on the certificates it published and
-- moves their revoke applications issued -> completed: a revoke
-- application is complete when the CRL that lists its certificate is
-- stored (and so served: the web serves the newest stored CRL).

-- The reason a revoke application gives (RFC 5280 CRLReason names; the
-- ones a subscriber may choose, as CA/Browser Forum BR §7.2.2 lists them:
-- a lost USB key is keyCompromise, a certificate no longer used
-- cessationOfOperation).  NULL: unspecified.
ALTER TABLE application
    ADD COLUMN revocation_reason text CHECK (revocation_reason IN
      ('unspecified', 'keyCompromise', 'affiliationChanged', 'superseded',
       'cessationOfOperation'));

-- The first CRL (its number) that listed the revocation; NULL while it is
-- waiting to be published.
ALTER TABLE certificate
    ADD COLUMN crl_number bigint,
    ADD CONSTRAINT certificate_revocation_reason CHECK (revocation_reason IN
      ('unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged',
       'superseded', 'cessationOfOperation', 'privilegeWithdrawn'));
CREATE INDEX certificate_revoked ON certificate (issuer_id, not_after)
    WHERE status = 'revoked';
CREATE INDEX certificate_unpublished ON certificate (revoked_at)
    WHERE status = 'revoked' AND crl_number IS NULL;

-- Every CRL the signer made.  scope: 'issuing' (the issuing CA's
-- subscriber certificates: <base>/crl/issuing.crl) or 'root' (the CA
-- certificates the root issued: <base>/crl/root.crl); a shard would be a
-- scope of its own (README "CRL shards").  number: cRLNumber, from one
-- sequence for all scopes (RFC 5280 §5.2.3 wants it to grow per scope;
-- gaps are allowed).  The newest CRL of a scope is the one with the
-- highest number; the web serves it.  Every CRL's row stays (number,
-- times, entries, SHA-256, who signed it); its DER only for the newest
-- CRL_DER_KEPT (10) of its scope, as one CRL of 100,000 entries is 4.5 MB
-- and one is made after every burst of revocations (der NULL: dropped).
CREATE SEQUENCE crl_number_seq AS bigint MINVALUE 1;
CREATE TABLE crl (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope            text NOT NULL CHECK (scope ~ '^[a-z0-9-]{1,40}$'),
    number           bigint NOT NULL UNIQUE CHECK (number > 0),
    issuer_id        bigint NOT NULL REFERENCES ca_certificate,
    this_update      timestamptz NOT NULL,
    next_update      timestamptz NOT NULL CHECK (next_update > this_update),
    entries          integer NOT NULL CHECK (entries >= 0),
    der              bytea,
    sha256           text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    signer           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crl_newest ON crl (scope, number DESC);
-- The DER is compressed already (serials are random).
ALTER TABLE crl ALTER COLUMN der SET STORAGE EXTERNAL;
