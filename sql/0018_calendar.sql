-- Working days and the 2-working-day promise (SPEC §5, §7; issue 14).
--
-- The calendar.  A year is "loaded" when it has a calendar_year row; its
-- calendar_day rows are the days that differ from the plain rule
-- (Monday-Friday work, Saturday-Sunday off): statutory holidays ('off') and
-- the adjusted weekend workdays, 调休上班 ('workday').  A row may also
-- restate the plain rule (an admin's correction that undoes another).  A
-- date in a year that is not loaded falls back to the plain rule, and every
-- deadline computed from such a date says so (due_by_estimated).  Admins
-- put a whole year (replacing its days) and correct single days through
-- the API (api/calendar.c), audited.
CREATE TABLE calendar_year (
    year        integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 2100),
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    note        text CHECK (length(note) <= 200)
);

CREATE TABLE calendar_day (
    day         date PRIMARY KEY,
    year        integer NOT NULL REFERENCES calendar_year ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('off', 'workday')),
    note        text CHECK (length(note) <= 100),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (year = extract(year FROM day))
);
CREATE INDEX calendar_day_year ON calendar_day (year, day);

-- Whether d is a working day, and whether that comes from a loaded year
-- (known) or from the plain weekend rule alone.
CREATE FUNCTION calendar_workday(d date, OUT workday boolean, OUT known boolean)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE((SELECT c.kind = 'workday' FROM calendar_day c WHERE c.day = d),
                    extract(isodow FROM d) < 6),
           EXISTS (SELECT 1 FROM calendar_year y WHERE y.year = extract(year FROM d))
$$;

-- THE definition of the deadline (issue 14: "computed in one place"): the
-- end of the 2nd working day after the day (Asia/Shanghai) of settled,
-- that is 23:59:59.999999 Shanghai time of that day, as a timestamptz.  The
-- settle day itself never counts, whatever it is.  estimated is true when
-- any day looked at after the settle day lies in a year that is not
-- loaded (the plain weekend rule decided it).  A calendar with more than
-- 60 days off in a row stops the search there, estimated: no settlement
-- ever fails for a bad calendar.  Settlement (src/domain/settle.c) calls
-- it in its own transaction; GET /api/v1/admin/calendar/deadline shows it.
CREATE FUNCTION calendar_due_by(settled timestamptz,
                                OUT due_by timestamptz, OUT estimated boolean)
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    start date := (settled AT TIME ZONE 'Asia/Shanghai')::date;
    d date := start;
    counted integer := 0;
    w boolean;
    k boolean;
BEGIN
    estimated := false;
    WHILE counted < 2 LOOP
        d := d + 1;
        SELECT c.workday, c.known INTO w, k FROM calendar_workday(d) c;
        IF NOT k THEN
            estimated := true;
        END IF;
        IF w THEN
            counted := counted + 1;
        END IF;
        IF d - start > 60 THEN
            estimated := true;
            EXIT;
        END IF;
    END LOOP;
    due_by := ((d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') - interval '1 microsecond';
END
$$;

-- The promise on each application.  due_by and due_by_estimated are set by
-- settlement, in the transaction that moves it to issuing.  fulfilled_at
-- is when the promise was kept (calendar_fulfilled below); overdue_at when
-- the sweep (certhall-payd) saw due_by pass unfulfilled, which it records
-- once with an audit event and an operator SMS.
ALTER TABLE application
    ADD COLUMN due_by            timestamptz,
    ADD COLUMN due_by_estimated  boolean,
    ADD COLUMN fulfilled_at      timestamptz,
    ADD COLUMN overdue_at        timestamptz,
    ADD CONSTRAINT application_due_by_whole
        CHECK ((due_by IS NULL) = (due_by_estimated IS NULL));

-- What the overdue sweep looks for: settled, not kept, not yet flagged.
CREATE INDEX application_due ON application (due_by)
    WHERE due_by IS NOT NULL AND fulfilled_at IS NULL AND overdue_at IS NULL;
-- The fulfilment queue (GET /api/v1/fulfilment): open settled work.
CREATE INDEX application_fulfilment ON application (due_by, id)
    WHERE due_by IS NOT NULL
      AND status IN ('issuing', 'issued', 'shipped', 'delivered', 'activated');

-- "Promise met" (SPEC §5: ship the key, or enable online, within 2 working
-- days), one definition, kept by the database so every path that moves an
-- application (workflow.c, whoever calls it) records it:
--   new, reissue          the key is shipped (status shipped, or any later)
--   renew, change, unlock the certificate (unlock response) is issued and
--                         available online to the handler (status issued
--                         or later); the handler's own installation is not
--                         the hall's promise
--   revoke                the revocation is published (status completed)
-- Only the first time counts; a cancelled application is never fulfilled.
CREATE FUNCTION calendar_fulfilled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.fulfilled_at IS NULL AND (
        (NEW.business_type IN ('new', 'reissue')
            AND NEW.status IN ('shipped', 'delivered', 'completed'))
        OR (NEW.business_type IN ('renew', 'change', 'unlock')
            AND NEW.status IN ('issued', 'shipped', 'delivered', 'activated', 'completed'))
        OR (NEW.business_type = 'revoke' AND NEW.status = 'completed')) THEN
        NEW.fulfilled_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER calendar_fulfilled BEFORE UPDATE OF status ON application
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION calendar_fulfilled();

-- The official schedules (SPEC §7; 国务院办公厅 notices on the 2025 and 2026
-- holiday arrangements).
INSERT INTO calendar_year (year, note) VALUES
    (2025, '国办发明电〔2024〕12号'),
    (2026, '国务院办公厅关于2026年部分节假日安排的通知');

INSERT INTO calendar_day (day, year, kind, note)
SELECT d::date, extract(year FROM d)::int, 'off', h.note
  FROM (VALUES
        ('2025-01-01', '2025-01-01', '元旦'),
        ('2025-01-28', '2025-02-04', '春节'),
        ('2025-04-04', '2025-04-06', '清明节'),
        ('2025-05-01', '2025-05-05', '劳动节'),
        ('2025-05-31', '2025-06-02', '端午节'),
        ('2025-10-01', '2025-10-08', '国庆节、中秋节'),
        ('2026-01-01', '2026-01-03', '元旦'),
        ('2026-02-15', '2026-02-23', '春节'),
        ('2026-04-04', '2026-04-06', '清明节'),
        ('2026-05-01', '2026-05-05', '劳动节'),
        ('2026-06-19', '2026-06-21', '端午节'),
        ('2026-09-25', '2026-09-27', '中秋节'),
        ('2026-10-01', '2026-10-07', '国庆节')) AS h(first, last, note),
       generate_series(h.first::date, h.last::date, interval '1 day') AS d;

INSERT INTO calendar_day (day, year, kind, note) VALUES
    ('2025-01-26', 2025, 'workday', '春节调休上班'),
    ('2025-02-08', 2025, 'workday', '春节调休上班'),
    ('2025-04-27', 2025, 'workday', '劳动节调休上班'),
    ('2025-09-28', 2025, 'workday', '国庆节调休上班'),
    ('2025-10-11', 2025, 'workday', '国庆节调休上班'),
    ('2026-01-04', 2026, 'workday', '元旦调休上班'),
    ('2026-02-14', 2026, 'workday', '春节调休上班'),
    ('2026-02-28', 2026, 'workday', '春节调休上班'),
    ('2026-05-09', 2026, 'workday', '劳动节调休上班'),
    ('2026-09-20', 2026, 'workday', '中秋节调休上班'),
    ('2026-10-10', 2026, 'workday', '国庆节调休上班');
