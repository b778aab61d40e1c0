-- The electronic invoice (数电发票; SPEC §9; issue 14): one blue invoice per
-- captured payment, one red invoice per succeeded refund of an invoiced
-- payment, each issued by the tax platform (src/clients/taxplat.c) through
-- certhall-invoiced (src/bin/invoiced/).
--
-- Written where the money moves, in the same transaction
-- (src/domain/invoice.c): a payment captured (online notify or query,
-- counter) inserts its blue invoice 'pending'; a refund that succeeds
-- (at once at the counter, or when certhall-payd hears SUCCESS) inserts
-- the red one.  UNIQUE (payment_id) and UNIQUE (refund_id) make "each
-- payment invoiced once, each refund red-invoiced once" a fact of the
-- database, not of the code.
--
-- request_id is the idempotency id the platform sees.  It is made with
-- the row, so it is stored before any call: a daemon killed between the
-- call and the record sends the same id again and the platform answers
-- with the invoice it issued the first time.
--
-- Amounts are tax-inclusive fen; lines is the array the daemon sends and
-- the PDF prints: [{"fee_code", "name", "quantity", "rate_bp",
-- "rate_source", "net_fen", "tax_fen", "gross_fen"}], each split with
-- ch_tax_split() (include/certhall/base/money.h) at the fee item's
-- tax_rate_bp of the quote's schedule (sql/0003_fees.sql: 600, 6%,
-- services); the totals are the sums of the lines.  A red invoice's lines
-- and totals are the exact negatives of its original's.

CREATE TABLE invoice (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('blue', 'red')),
    application_id   bigint NOT NULL REFERENCES application,
    payment_id       bigint UNIQUE REFERENCES payment,
    refund_id        bigint UNIQUE REFERENCES refund,
    original_id      bigint UNIQUE REFERENCES invoice,
    buyer_name       text NOT NULL CHECK (buyer_name <> ''),
    -- unified social credit code of a unit buyer; NULL for a person
    buyer_code       text CHECK (buyer_code ~ '^[0-9A-Z]{15,20}$'),
    lines            jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
    net_fen          bigint NOT NULL,
    tax_fen          bigint NOT NULL,
    gross_fen        bigint NOT NULL CHECK (gross_fen <> 0),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'issued', 'failed')),
    request_id       text NOT NULL UNIQUE
                     DEFAULT 'inv-' || replace(gen_random_uuid()::text, '-', ''),
    -- what the platform confirmed: its 20 digits (yy, 51, channel, 15-digit
    -- sequence), its issue time and its answer as received
    number           text UNIQUE CHECK (number ~ '^[0-9]{2}51[0-9]{16}$'),
    issued_at        timestamptz,
    confirmation     jsonb,
    issuer           text,
    seller_name      text,
    seller_code      text,
    -- certhall's rendering of the confirmed invoice (the codec's PDF),
    -- made once by the daemon when it records the issue
    pdf              bytea,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (net_fen + tax_fen = gross_fen),
    CHECK ((kind = 'blue') = (payment_id IS NOT NULL)),
    CHECK ((kind = 'red') = (refund_id IS NOT NULL AND original_id IS NOT NULL)),
    CHECK ((kind = 'blue') = (gross_fen > 0)),
    CHECK ((status = 'issued') = (number IS NOT NULL AND issued_at IS NOT NULL))
);
CREATE INDEX invoice_pending ON invoice (next_attempt_at) WHERE status = 'pending';
CREATE INDEX invoice_application ON invoice (application_id, id);
CREATE INDEX invoice_created ON invoice (created_at);
-- The finance views select payments and refunds by these times.
CREATE INDEX payment_received ON payment (received_at);
CREATE INDEX refund_completed ON refund (completed_at) WHERE status = 'succeeded';
