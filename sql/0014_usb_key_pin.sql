-- The user PIN of a personalised USB key (issue 12).  The station sets a
-- random PIN on the key and hands it to the API, which sends it to the
-- handler by SMS through the outbox; the operator never sees it.  The PIN
-- is in the outbox row only until the sender is done with it: a row marked
-- scrub_after_send has its body and parameters replaced when it is sent,
-- and also when it is given up (a PIN that never reached the phone is of no
-- use to anyone: the key is personalised again).
ALTER TABLE outbox
    ADD COLUMN scrub_after_send boolean NOT NULL DEFAULT false;

-- When the station last handed over the key's user PIN (its SMS queued).
-- A key is marked personalised only after that.
ALTER TABLE usb_key
    ADD COLUMN pin_sent_at timestamptz;
