-- Payments (SPEC §6; issue 5): orders for the locked quote, the money that
-- arrived (online through a gateway, or at the counter), refunds, and every
-- gateway notification we accepted.
--
-- Money is integer fen.  An order is for exactly the application's locked
-- quote_total_fen; an arrival with another amount is refused and stored
-- nowhere but the log.
--
-- Lock order, everywhere money moves (src/payment.c, api/payments.c, the
-- cancel handler, certhall-payd): the application row first (FOR UPDATE),
-- then its payment_order rows, then payment / refund / signing_job rows.
-- Two paths that both need an application and its order then queue on the
-- application instead of deadlocking on each other.

CREATE TABLE payment_order (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- our order number at the gateway: 'CH' + 14 digits of Shanghai time +
    -- 10 random digits; unique for ever, never reused
    out_trade_no     text NOT NULL UNIQUE CHECK (out_trade_no ~ '^CH[0-9]{24}$'),
    application_id   bigint NOT NULL REFERENCES application,
    provider         text NOT NULL CHECK (provider IN ('sandbox', 'counter')),
    amount_fen       bigint NOT NULL CHECK (amount_fen > 0),
    currency         text NOT NULL DEFAULT 'CNY' CHECK (currency = 'CNY'),
    -- open: payable until expires_at (an open order past it is expired,
    -- whatever this says, until the payment daemon closes it at the
    -- gateway and writes 'expired'); paid: a payment was captured on it;
    -- closed: closed before expiry (application cancelled, refunded)
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'paid', 'expired', 'closed')),
    prepay_id        text,
    pay_url          text,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by_kind  text NOT NULL,
    created_by_id    bigint,
    paid_at          timestamptz,
    closed_at        timestamptz,
    -- the payment daemon's last active query of this order at the gateway
    queried_at       timestamptz,
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
-- One open order per application.
CREATE UNIQUE INDEX payment_order_one_open ON payment_order (application_id)
    WHERE status = 'open';
CREATE INDEX payment_order_application ON payment_order (application_id, id DESC);
-- The payment daemon's sweep: open orders to query, and those past expiry.
CREATE INDEX payment_order_open ON payment_order (expires_at) WHERE status = 'open';

-- Money that arrived.  captured: it pays its application (at most one per
-- application); refund_due: it arrived for an order that could no longer
-- take it (expired, closed, the application cancelled, or a second payment
-- of an order already paid) and is refunded automatically.
CREATE TABLE payment (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         bigint NOT NULL REFERENCES payment_order,
    application_id   bigint NOT NULL REFERENCES application,
    provider         text NOT NULL CHECK (provider IN ('sandbox', 'counter')),
    -- the gateway's transaction id, or the counter receipt number
    transaction_id   text NOT NULL,
    method           text NOT NULL CHECK (method IN ('online', 'cash', 'pos')),
    amount_fen       bigint NOT NULL CHECK (amount_fen > 0),
    currency         text NOT NULL DEFAULT 'CNY' CHECK (currency = 'CNY'),
    disposition      text NOT NULL CHECK (disposition IN ('captured', 'refund_due')),
    -- how we learnt of it: 'notify', 'query' (active query), 'counter'
    source           text NOT NULL CHECK (source IN ('notify', 'query', 'counter')),
    paid_at          timestamptz NOT NULL,     -- the gateway's success time
    received_at      timestamptz NOT NULL DEFAULT now(),
    recorded_by_id   bigint REFERENCES staff,  -- counter payments
    UNIQUE (provider, transaction_id)
);
CREATE UNIQUE INDEX payment_one_captured ON payment (application_id)
    WHERE disposition = 'captured';

-- Full refunds only: at most one per payment.  pending: to be sent to the
-- gateway by the payment daemon (out_refund_no makes retries safe);
-- succeeded / failed: the gateway's final answer.  Counter refunds are
-- paid out at the window and recorded as succeeded at once.
CREATE TABLE refund (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id       bigint NOT NULL UNIQUE REFERENCES payment,
    application_id   bigint NOT NULL REFERENCES application,
    out_refund_no    text NOT NULL UNIQUE CHECK (out_refund_no ~ '^RF[0-9]{24}$'),
    amount_fen       bigint NOT NULL CHECK (amount_fen > 0),
    reason           text NOT NULL,
    -- 'system' (automatic: late or duplicate payment) or 'staff' (finance)
    requested_by_kind text NOT NULL CHECK (requested_by_kind IN ('system', 'staff')),
    requested_by_id  bigint REFERENCES staff,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    gateway_refund_id text,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz
);
CREATE INDEX refund_pending ON refund (next_attempt_at) WHERE status = 'pending';
CREATE INDEX refund_application ON refund (application_id);
CREATE INDEX payment_application ON payment (application_id);

-- Every notification whose signature verified and that we processed (204:
-- captured, duplicate or refund queued), as received, for audit and replay
-- detection; the same notification id again is a duplicate and adds no row.
-- A refused notification (unknown order, amount mismatch) changes nothing,
-- this table included: it is in the API's log with its reason.
CREATE TABLE payment_notification (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider         text NOT NULL,
    notification_id  text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    body             jsonb NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('captured', 'duplicate', 'refund_due')),
    UNIQUE (provider, notification_id)
);
