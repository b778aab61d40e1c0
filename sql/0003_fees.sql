-- The versioned fee schedule (SPEC §4), in integer fen.
--
-- A schedule is in force from effective_from until a later one starts; an
-- application keeps the quote it was approved with (issue 4), so changing
-- prices means inserting a new schedule, never editing an old one.
-- Which items a business charges and how they multiply is data too.

CREATE TABLE fee_code (
    code     text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    position integer NOT NULL UNIQUE,
    name     text NOT NULL,
    per_year boolean NOT NULL,   -- multiplied by the years bought
    per_seal boolean NOT NULL    -- multiplied by the e-seals wanted
);

CREATE TABLE fee_schedule (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version        integer NOT NULL UNIQUE CHECK (version > 0),
    effective_from timestamptz NOT NULL UNIQUE,
    note           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fee_item (
    schedule_id      bigint NOT NULL REFERENCES fee_schedule,
    fee_code         text NOT NULL REFERENCES fee_code,
    certificate_type text NOT NULL REFERENCES certificate_type,
    amount_fen       bigint NOT NULL CHECK (amount_fen >= 0),
    -- VAT rate in basis points (600 = 6%, services); amounts include it
    tax_rate_bp      integer NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    note             text NOT NULL DEFAULT '',
    PRIMARY KEY (schedule_id, fee_code, certificate_type)
);

CREATE TABLE business_fee (
    business_type text NOT NULL REFERENCES business_type,
    fee_code      text NOT NULL REFERENCES fee_code,
    position      integer NOT NULL,
    PRIMARY KEY (business_type, fee_code),
    UNIQUE (business_type, position)
);

-- A schedule that has started must not change under issued quotes.
CREATE FUNCTION fee_item_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sid bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.schedule_id ELSE OLD.schedule_id END;
BEGIN
    IF (SELECT effective_from FROM fee_schedule WHERE id = sid) <= now() THEN
        RAISE EXCEPTION 'fee schedule % is in force and cannot change', sid
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

INSERT INTO fee_code VALUES
  ('opening', 1, '开户费', false, false),
  ('annual', 2, '年服务费', true, false),
  ('reissue', 3, '补办', false, false),
  ('seal_annual', 4, '电子印章年服务费', true, true);

INSERT INTO business_fee VALUES
  ('new', 'opening', 1), ('new', 'annual', 2), ('new', 'seal_annual', 3),
  ('renew', 'annual', 1), ('renew', 'seal_annual', 2),
  ('reissue', 'reissue', 1);

INSERT INTO fee_schedule (version, effective_from, note) VALUES
  (1, '2025-01-01 00:00:00+08', '四川CA数字证书办理服务指南V1.0 收费标准');

INSERT INTO fee_item (schedule_id, fee_code, certificate_type, amount_fen, tax_rate_bp, note)
SELECT s.id, v.fee_code, v.certificate_type, v.amount_fen, 600, v.note
  FROM fee_schedule s,
       (VALUES
         ('opening', 'org', 10000, '每证100元，为一次性收取，含介质费'),
         ('annual', 'org', 20000, '200元/张/年（包括变更、解锁、注销服务）'),
         ('reissue', 'org', 5000, '50元/张/次'),
         ('seal_annual', 'org', 10000, '100元/张/年'),
         ('opening', 'personal', 10000, '每证100元，为一次性收取，含介质费'),
         ('annual', 'personal', 10000, '100元/张/年（包括变更、解锁、注销服务）'),
         ('reissue', 'personal', 5000, '50元/张/次'),
         ('seal_annual', 'personal', 10000, '100元/张/年'))
         AS v (fee_code, certificate_type, amount_fen, note)
 WHERE s.version = 1;

-- Installed after the seed: from now on a schedule in force is frozen.
CREATE TRIGGER fee_item_frozen BEFORE INSERT OR UPDATE OR DELETE ON fee_item
    FOR EACH ROW EXECUTE FUNCTION fee_item_frozen();

CREATE FUNCTION fee_schedule_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.effective_from <= now() THEN
        RAISE EXCEPTION 'fee schedule % is in force and cannot change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER fee_schedule_frozen BEFORE UPDATE OR DELETE ON fee_schedule
    FOR EACH ROW EXECUTE FUNCTION fee_schedule_frozen();
