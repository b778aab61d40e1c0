-- The online flow, steps 1-3 (SPEC §2, §3, §5, §10; issue 4): certificates
-- (issued by the signing worker later; rows here so eligibility can be
-- checked now), applications and their materials, status history, and
-- idempotency keys.

CREATE TABLE certificate (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial               text NOT NULL UNIQUE CHECK (serial ~ '^[0-9a-f]{16,40}$'),
    certificate_type     text NOT NULL REFERENCES certificate_type,
    unit_name            text NOT NULL,
    credit_code          text NOT NULL,
    holder_name          text,
    holder_id_number     text,
    not_before           timestamptz NOT NULL,
    not_after            timestamptz NOT NULL CHECK (not_after > not_before),
    status               text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at           timestamptz,
    revocation_reason    text,
    usb_key_serial       text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((certificate_type = 'personal') =
           (holder_name IS NOT NULL AND holder_id_number IS NOT NULL)),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX certificate_credit_code ON certificate (credit_code);

CREATE TABLE application (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    applicant_id         bigint NOT NULL REFERENCES applicant,
    channel              text NOT NULL CHECK (channel IN ('online', 'integrator', 'counter')),
    created_by_staff_id  bigint REFERENCES staff,
    business_type        text NOT NULL REFERENCES business_type,
    certificate_type     text NOT NULL REFERENCES certificate_type,
    certificate_id       bigint REFERENCES certificate,
    status               text NOT NULL DEFAULT 'draft' CHECK (status IN (
                           'draft', 'submitted', 'returned', 'rejected', 'approved',
                           'awaiting_payment', 'awaiting_verification', 'issuing',
                           'issued', 'shipped', 'delivered', 'activated', 'completed',
                           'cancelled')),
    version              integer NOT NULL DEFAULT 1 CHECK (version > 0),
    -- subject (SPEC §3): the unit, and for personal certificates the holder
    unit_name            text,
    credit_code          text,
    holder_name          text,
    holder_id_number     text,
    -- the handler (经办人)
    handler_name         text,
    handler_phone        text,
    handler_id_number    text,
    years                integer CHECK (years BETWEEN 1 AND 5),
    seals                integer NOT NULL DEFAULT 0 CHECK (seals BETWEEN 0 AND 10),
    delivery             jsonb,        -- {recipient, phone, province, city, district, address, postcode}
    invoice_title        text,
    invoice_tax_id       text,
    -- the quote: computed at submit, locked at approval (SPEC §4)
    quote                jsonb,
    quote_total_fen      bigint CHECK (quote_total_fen >= 0),
    quote_locked_at      timestamptz,
    -- review
    review_reason        text,
    return_materials     text[],
    reviewed_by          bigint REFERENCES staff,
    submitted_at         timestamptz,
    reviewed_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((certificate_id IS NULL) = (business_type = 'new'))
);
CREATE INDEX application_applicant ON application (applicant_id, id DESC);
CREATE INDEX application_queue ON application (status, submitted_at, id);
-- One open application per certificate at a time (drafts and finished
-- applications do not count).
CREATE UNIQUE INDEX application_one_open_per_certificate ON application (certificate_id)
    WHERE status IN ('submitted', 'returned', 'approved', 'awaiting_payment',
                     'awaiting_verification', 'issuing');

-- Scanned materials (SPEC §3).  Replacing one keeps the old row, marked
-- superseded; the current one per kind is the row with superseded_at NULL.
CREATE TABLE application_material (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id       bigint NOT NULL REFERENCES application,
    kind                 text NOT NULL CHECK (kind IN ('application_form', 'business_license',
                                                       'holder_id', 'handler_id',
                                                       'seal_impression')),
    content_type         text NOT NULL CHECK (content_type IN
                           ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes           integer NOT NULL CHECK (size_bytes > 0),
    sha256               text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    data                 bytea NOT NULL,
    uploaded_at          timestamptz NOT NULL DEFAULT now(),
    uploaded_by_kind     text NOT NULL,
    uploaded_by_id       bigint,
    superseded_at        timestamptz
);
CREATE UNIQUE INDEX application_material_current ON application_material (application_id, kind)
    WHERE superseded_at IS NULL;
CREATE INDEX application_material_history ON application_material (application_id, id);
-- PDF, JPEG and PNG are compressed already: store them out of line as they are.
ALTER TABLE application_material ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE application_history (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id       bigint NOT NULL REFERENCES application,
    from_status          text,
    to_status            text NOT NULL,
    at                   timestamptz NOT NULL DEFAULT now(),
    actor_kind           text NOT NULL,
    actor_id             bigint,
    reason               text,
    request_id           text NOT NULL
);
CREATE INDEX application_history_application ON application_history (application_id, id);

-- Idempotency-Key (POST create and submit): the first answer is kept and
-- replayed for the same caller and key; a different request under the same
-- key is refused.
CREATE TABLE idempotency_key (
    actor_kind           text NOT NULL,
    actor_id             bigint NOT NULL,
    key                  text NOT NULL CHECK (length(key) BETWEEN 8 AND 128),
    method               text NOT NULL,
    path                 text NOT NULL,
    request_sha256       text NOT NULL,
    status               integer,
    response             text,
    location             text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_kind, actor_id, key)
);
CREATE INDEX idempotency_key_created ON idempotency_key (created_at);

-- The seal impression: required (PNG only) when e-seals are asked for; not
-- part of the business x certificate matrix (SPEC §3), which stays as it is.
INSERT INTO material_kind (code, position, name)
    VALUES ('seal_impression', 5, '电子印章印模图片（PNG，申请电子印章时提供）');
