-- Shipping and 本人签收 (SPEC §2 new/reissue, §5; issue 14;
-- certhall/domain/shipment.h, docs/CONTRACT.md "Shipping and delivery").
--
-- One shipment per application: the USB key personalised for it, handed to
-- a carrier under a tracking number (typed by the operator, or a waybill
-- the courier interface made: via_courier).  Delivery fills in who signed
-- for it and how the CA's rule was met: the handler in person, checked by
-- signature or ID, or someone else with the handler's written authorisation
-- (授权委托书) recorded in `authorisation`.  Reported by the courier's
-- signed callback (source 'courier', with its event id) or by an operator
-- by hand (source 'operator').

CREATE TABLE shipment (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id   bigint NOT NULL UNIQUE REFERENCES application,
    usb_key_serial   text NOT NULL UNIQUE REFERENCES usb_key,
    carrier          text NOT NULL CHECK (length(carrier) BETWEEN 1 AND 32),
    tracking_no      text NOT NULL CHECK (tracking_no ~ '^[A-Za-z0-9-]{6,32}$'),
    via_courier      boolean NOT NULL DEFAULT false,
    shipped_by       bigint REFERENCES staff,
    shipped_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    source           text CHECK (source IN ('courier', 'operator')),
    signed_by_name   text CHECK (length(signed_by_name) BETWEEN 1 AND 64),
    check_kind       text CHECK (check_kind IN ('signature', 'id_check')),
    authorisation    text CHECK (length(authorisation) BETWEEN 1 AND 200),
    recorded_by      bigint REFERENCES staff,
    courier_event_id text UNIQUE,
    UNIQUE (carrier, tracking_no),
    CHECK ((delivered_at IS NULL) = (source IS NULL)
       AND (delivered_at IS NULL) = (signed_by_name IS NULL)
       AND (delivered_at IS NULL) = (check_kind IS NULL)),
    CHECK ((source = 'courier') = (courier_event_id IS NOT NULL))
);

-- Nonces of courier callbacks whose signature verified: one use each, so a
-- captured callback sent again is refused.  Kept past the timestamp window
-- (CH_COURIER_NOTICE_WINDOW), after which the timestamp alone refuses it;
-- rows older than a day may be deleted.
CREATE TABLE courier_nonce (
    nonce            text PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9_-]{8,64}$'),
    received_at      timestamptz NOT NULL DEFAULT now()
);
