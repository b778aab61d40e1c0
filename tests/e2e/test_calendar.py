"""Working days, the 2-working-day deadline, the fulfilment queue and the overdue event
(issue 14; SPEC §5, §7).

The deadline table goes through nginx to GET /api/v1/admin/calendar/deadline, which
asks the same database function settlement calls (calendar_due_by()); a real settlement
is checked against it. The expected dates are worked out by hand from SPEC §7's table,
and the year counts from that table in Python, not from certhall's code.

Time is moved by writing due_by (the deadline) into the database: a deadline a few
seconds ahead, then waiting for it to pass. certhall-payd's sweep (a round at least every
second) must flag it once, and never before the deadline.

Calendar years written here are far from now (2097, 2099) and unloaded years used are
2030 and 2098, so the shared stack's deadlines are not disturbed.
"""
import datetime
import os
import secrets
import time

import pytest
import requests

from conftest import assert_problem, wait_until
from principals import db, principals, sql  # noqa: F401  (the fixture)
from test_payments import counter_approved

APPS = "/api/v1/applications"
CAL = "/api/v1/admin/calendar"
QUEUE = "/api/v1/fulfilment"
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture(scope="module")
def admin(principals):  # noqa: F811
    return principals.admin()


@pytest.fixture(scope="module")
def operator(principals):  # noqa: F811
    return principals.staff("operator")


@pytest.fixture(scope="module")
def clerk(principals):  # noqa: F811
    return principals.staff("counter")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


def settled(clerk, reviewer):
    """A counter `new` application paid in cash: settled, issuing, its key not yet made."""
    app = counter_approved(clerk, reviewer)
    resp = clerk.post_json(f"{APPS}/{app['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": app["quote"]["total_fen"]})
    assert resp.status_code == 201, resp.content[:300]
    resp = clerk.get(f"{APPS}/{app['id']}")
    assert resp.body["status"] == "issuing", resp.body["status"]
    return resp.body


def deadline(admin, at):
    resp = admin.get(f"{CAL}/deadline?at={at}")
    assert resp.status_code == 200, f"deadline {at}: {resp.status_code} {resp.content[:300]!r}"
    return resp.body


# ---------------------------------------------------------------------------------
# The deadline table
# ---------------------------------------------------------------------------------

END = "T23:59:59+08:00"

CASES = [
    # (why, settled at, due by (Shanghai date), estimated)
    ("Spring Festival 2026: Fri 13 Feb, Sat 14 Feb is an adjusted workday",
     "2026-02-12T10:00:00+08:00", "2026-02-14", False),
    ("Spring Festival 2026: the adjusted Saturday, then 15-23 Feb off",
     "2026-02-13T10:00:00+08:00", "2026-02-24", False),
    ("Spring Festival 2026: settled on the adjusted Saturday itself",
     "2026-02-14T16:30:00+08:00", "2026-02-25", False),
    ("Spring Festival 2026: settled on a holiday",
     "2026-02-18T09:00:00+08:00", "2026-02-25", False),
    ("after Spring Festival 2026: Sat 28 Feb is an adjusted workday",
     "2026-02-26T10:00:00+08:00", "2026-02-28", False),
    ("Labour Day 2026: 1-5 May off",
     "2026-04-30T12:00:00+08:00", "2026-05-07", False),
    ("Labour Day 2026: Sat 9 May is an adjusted workday",
     "2026-05-08T09:00:00+08:00", "2026-05-11", False),
    ("Labour Day 2025: 1-5 May off, Sun 27 Apr worked",
     "2025-04-26T10:00:00+08:00", "2025-04-28", False),
    ("National Day 2026: 1-7 Oct off",
     "2026-09-30T09:00:00+08:00", "2026-10-09", False),
    ("National Day 2026: Sat 10 Oct is an adjusted workday",
     "2026-10-09T09:00:00+08:00", "2026-10-12", False),
    ("National Day 2025: 1-8 Oct off",
     "2025-09-30T15:00:00+08:00", "2025-10-10", False),
    ("an ordinary weekend: settled on a Friday",
     "2026-03-06T18:00:00+08:00", "2026-03-10", False),
    ("an ordinary weekend: settled on a Saturday",
     "2026-03-07T11:00:00+08:00", "2026-03-10", False),
    ("paid at 23:59:59 Shanghai on Thursday 5 March",
     "2026-03-05T23:59:59+08:00", "2026-03-09", False),
    ("paid at 00:00:01 Shanghai on Friday 6 March",
     "2026-03-06T00:00:01+08:00", "2026-03-10", False),
    ("the same 23:59:59 in UTC",
     "2026-03-05T15:59:59Z", "2026-03-09", False),
    ("the same 00:00:01 in UTC (still Thursday in UTC)",
     "2026-03-05T16:00:01Z", "2026-03-10", False),
    ("New Year 2026: 1-3 Jan off, Sun 4 Jan worked",
     "2025-12-31T10:00:00+08:00", "2026-01-05", False),
    ("beyond the loaded years: 2030 falls back to weekends, flagged",
     "2030-06-03T10:00:00+08:00", "2030-06-05", True),
    ("beyond the loaded years: a Friday in 2030",
     "2030-06-07T10:00:00+08:00", "2030-06-11", True),
    ("the last loaded days: both working days in 2026, not flagged",
     "2026-12-29T10:00:00+08:00", "2026-12-31", False),
    ("running into 2027, which is not loaded: flagged",
     "2026-12-31T10:00:00+08:00", "2027-01-04", True),
]


@pytest.mark.parametrize("why,at,due,estimated", CASES, ids=[c[0] for c in CASES])
def test_deadline_table(admin, why, at, due, estimated):
    got = deadline(admin, at.replace("+", "%2B"))
    assert (got["due_by"], got["due_by_estimated"]) == (due + END, estimated), why
    settle_day = datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(
        SHANGHAI).date().isoformat()
    assert got["settle_day"] == settle_day


def test_the_deadline_is_the_last_microsecond_of_the_day():
    """Stored to the microsecond: 23:59:59.999999 Shanghai is due, the next instant late."""
    due, estimated = sql("SELECT due_by, estimated FROM"
                         " calendar_due_by('2026-02-12 10:00+08')")[0]
    assert not estimated
    assert due == datetime.datetime(2026, 2, 14, 23, 59, 59, 999999, tzinfo=SHANGHAI)


def test_deadline_refuses_a_bad_time(admin):
    for bad in ("2026-02-30T10:00:00%2B08:00", "2026-02-12", "2026-02-12T10:00:00",
                "2026-02-12T24:00:00Z", "tomorrow", "2026-02-12T10:00:00%2B15:00"):
        resp = admin.get(f"{CAL}/deadline?at={bad}")
        assert_problem(resp, 422, "invalid-field")
        assert resp.body["parameter"] == "at"
    assert_problem(admin.get(f"{CAL}/deadline"), 422, "invalid-field")
    assert_problem(admin.get(f"{CAL}/deadline?at=2026-02-12T10:00:00Z&x=1"), 422,
                   "invalid-field")


# ---------------------------------------------------------------------------------
# Settlement sets the deadline
# ---------------------------------------------------------------------------------

def test_settlement_sets_due_by_in_its_transaction(clerk, reviewer, admin):
    app = settled(clerk, reviewer)
    assert app["due_by"] is not None and app["due_by_estimated"] is not None
    assert app["fulfilled_at"] is None and app["overdue_at"] is None
    # The same answer as the deadline for the settle time, to the microsecond.
    row = sql("SELECT a.due_by = d.due_by, a.due_by_estimated = d.estimated,"
              " to_char(a.settled_at AT TIME ZONE 'Asia/Shanghai',"
              "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"%%2B08:00\"')"
              " FROM application a, calendar_due_by(a.settled_at) d WHERE a.id = %s",
              (app["id"],))[0]
    assert row[0] and row[1]
    shown = deadline(admin, row[2])
    assert (shown["due_by"], shown["due_by_estimated"]) == (app["due_by"],
                                                           app["due_by_estimated"])
    # The handler's SMS names the day (not when it is only an estimate).
    body, params = sql("SELECT body, params FROM outbox WHERE template = 'settled'"
                       " AND params->>'id' = %s", (str(app["id"]),))[0]
    due = datetime.date.fromisoformat(app["due_by"][:10])
    day = f"{due.month}月{due.day}日"
    assert params["due_by"] == day
    if app["due_by_estimated"]:
        assert "将在2个工作日内办结。" in body, body
    else:
        assert f"将在2个工作日内（{day}前）办结。" in body, body
    # Settled and due together: no settled application without a deadline.
    assert sql("SELECT count(*) FROM application WHERE settled_at IS NOT NULL"
               " AND due_by IS NULL AND id = %s", (app["id"],))[0][0] == 0
    # The list form shows it too.
    resp = clerk.get(f"{APPS}?limit=100")
    assert resp.status_code == 200
    mine = [a for a in resp.body["items"] if a["id"] == app["id"]]
    assert mine and mine[0]["due_by"] == app["due_by"]


# ---------------------------------------------------------------------------------
# The fulfilment queue
# ---------------------------------------------------------------------------------

def queue_item(principal, app_id, query=""):
    resp = principal.get(f"{QUEUE}?limit=200{query}")
    assert resp.status_code == 200, resp.content[:300]
    found = [i for i in resp.body["items"] if i["application_id"] == app_id]
    return resp.body, (found[0] if found else None)


def set_due(app_id, expr):
    sql(f"UPDATE application SET due_by = {expr} WHERE id = %s", (app_id,))


def test_fulfilment_queue_buckets_and_next(clerk, reviewer, operator, admin):
    app = settled(clerk, reviewer)
    # Later: tomorrow's end.
    set_due(app["id"], "date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')"
            " AT TIME ZONE 'Asia/Shanghai' + interval '2 days' - interval '1 microsecond'")
    body, item = queue_item(operator, app["id"], "&business_type=new&next=personalise")
    assert item is not None, "a settled new application whose key is not made is to personalise"
    assert (item["bucket"], item["next"], item["status"]) == ("later", "personalise", "issuing")
    assert set(body["counts"]) == {"overdue", "due_today", "later", "met"}
    assert body["matching"] >= 1
    # Due today: the end of today, Shanghai.
    set_due(app["id"], "date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')"
            " AT TIME ZONE 'Asia/Shanghai' + interval '1 day' - interval '1 microsecond'")
    _, item = queue_item(admin, app["id"], "&bucket=due_today")
    assert item is not None and item["bucket"] == "due_today"
    _, item = queue_item(admin, app["id"], "&bucket=later")
    assert item is None
    # Ordered by due_by.
    body, _ = queue_item(operator, app["id"])
    dues = [i["due_by"] for i in body["items"]]
    assert dues == sorted(dues)
    # Issued with no personalised key yet: still the station's; with one: ship.
    sql("UPDATE application SET status = 'issued' WHERE id = %s", (app["id"],))
    _, item = queue_item(operator, app["id"])
    assert (item["next"], item["usb_key_serial"]) == ("personalise", None)
    serial = "T" + secrets.token_hex(6)
    sql("INSERT INTO usb_key (serial, application_id, status, personalised_at)"
        " VALUES (%s, %s, 'personalised', now())", (serial, app["id"]))
    _, item = queue_item(operator, app["id"], "&next=ship")
    assert item is not None and item["usb_key_serial"] == serial
    # Shipped: the promise is kept (met), the courier is next.
    sql("UPDATE application SET status = 'shipped' WHERE id = %s", (app["id"],))
    _, item = queue_item(operator, app["id"])
    assert (item["bucket"], item["next"]) == ("met", "await_delivery")
    assert item["fulfilled_at"] is not None
    # Completed: off the queue.
    sql("UPDATE application SET status = 'completed' WHERE id = %s", (app["id"],))
    _, item = queue_item(operator, app["id"])
    assert item is None
    # Bad filters.
    for q in ("bucket=soon", "next=wait", "business_type=old", "limit=0", "limit=201", "x=1"):
        resp = operator.get(f"{QUEUE}?{q}")
        assert_problem(resp, 422, "invalid-field")


def test_fulfilled_at_follows_the_status(clerk, reviewer):
    """Through the real row: a new application is kept when shipped (issued is not
    enough), and only the first time counts."""
    app = settled(clerk, reviewer)

    def kept():
        return sql("SELECT fulfilled_at FROM application WHERE id = %s", (app["id"],))[0][0]

    sql("UPDATE application SET status = 'issued' WHERE id = %s", (app["id"],))
    assert kept() is None
    sql("UPDATE application SET status = 'shipped' WHERE id = %s", (app["id"],))
    first = kept()
    assert first is not None
    sql("UPDATE application SET status = 'delivered' WHERE id = %s", (app["id"],))
    assert kept() == first


# (business, the first status that keeps the promise) along the online flow.
KEPT_AT = [("new", "shipped"), ("reissue", "shipped"), ("renew", "issued"),
           ("change", "issued"), ("unlock", "issued"), ("revoke", "completed")]
FLOW = ["issuing", "issued", "shipped", "delivered", "activated", "completed"]


def test_fulfilled_at_for_every_business():
    """The same trigger function on a scratch table of the columns it reads (an
    application row cannot change its business type), walked along the flow."""
    with db() as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE fa (business_type text, status text,"
                    " fulfilled_at timestamptz)")
        cur.execute("CREATE TRIGGER fa BEFORE UPDATE OF status ON fa FOR EACH ROW"
                    " WHEN (NEW.status IS DISTINCT FROM OLD.status)"
                    " EXECUTE FUNCTION calendar_fulfilled()")
        for business, kept_at in KEPT_AT:
            cur.execute("DELETE FROM fa")
            cur.execute("INSERT INTO fa VALUES (%s, 'issuing', NULL)", (business,))
            for status in FLOW[1:]:
                if business in ("new", "reissue") and status == "activated":
                    continue
                cur.execute("UPDATE fa SET status = %s RETURNING fulfilled_at IS NOT NULL",
                            (status,))
                want = FLOW.index(status) >= FLOW.index(kept_at)
                assert cur.fetchone()[0] is want, (business, status)
        cur.execute("DROP TABLE fa")


# ---------------------------------------------------------------------------------
# The overdue event
# ---------------------------------------------------------------------------------

OPERATOR_PHONE_TEMPLATE = "overdue"


def overdue_events(app_id):
    return sql("SELECT detail FROM audit_event WHERE action = 'application.overdue'"
               " AND object_type = 'application' AND object_id = %s", (str(app_id),))


def overdue_sms(app_id):
    return sql("SELECT recipient, body FROM outbox WHERE template = %s"
               " AND params->>'id' = %s", (OPERATOR_PHONE_TEMPLATE, str(app_id)))


def test_overdue_is_raised_once_exactly_when_the_deadline_passes(clerk, reviewer, operator):
    app = settled(clerk, reviewer)
    # Time moved: the deadline is 3 seconds from now.
    set_due(app["id"], "now() + interval '3 seconds'")
    due = sql("SELECT due_by FROM application WHERE id = %s", (app["id"],))[0][0]
    # Before it: not overdue, nothing raised.
    _, item = queue_item(operator, app["id"])
    assert item["bucket"] != "overdue" and item["overdue_at"] is None
    while datetime.datetime.now(datetime.timezone.utc) < due - datetime.timedelta(seconds=0.5):
        assert sql("SELECT overdue_at FROM application WHERE id = %s",
                   (app["id"],))[0][0] is None, "flagged before its deadline"
        time.sleep(0.2)
    # After it: flagged by the sweep, within a couple of seconds, once.
    wait_until(lambda: sql("SELECT overdue_at FROM application WHERE id = %s",
                           (app["id"],))[0][0] is not None, 10, what="the overdue flag")
    at = sql("SELECT overdue_at FROM application WHERE id = %s", (app["id"],))[0][0]
    assert at > due, f"flagged at {at}, before its deadline {due}"
    # The sweep runs at least every second; a loaded machine may lag a little.
    assert (at - due).total_seconds() < 8
    _, item = queue_item(operator, app["id"], "&bucket=overdue")
    assert item is not None and item["overdue_at"] is not None
    shown = clerk.get(f"{APPS}/{app['id']}").body
    assert shown["overdue_at"] is not None
    events = overdue_events(app["id"])
    assert len(events) == 1 and events[0][0]["notified"] is True
    sms = overdue_sms(app["id"])
    assert len(sms) == 1
    assert sms[0][0] == os.environ["CERTHALL_OPERATOR_PHONE"]
    assert sms[0][1].startswith("【四川CA】") and str(app["id"]) in sms[0][1]
    # Delivered to the duty phone by certhall-sms-sender, through the fake gateway.
    gateway = os.environ["CERTHALL_SMS_GATEWAY_URL"].rstrip("/")

    def delivered():
        resp = requests.get(f"{gateway}/messages",
                            params={"phone": os.environ["CERTHALL_OPERATOR_PHONE"]}, timeout=5)
        return [m for m in resp.json() if m.get("template") == "overdue"
                and f"编号{app['id']}）" in m.get("text", "")]
    assert len(wait_until(delivered, 30, what="the overdue SMS at the gateway")) == 1
    # Rounds go on every second: still exactly once.
    time.sleep(3)
    assert len(overdue_events(app["id"])) == 1 and len(overdue_sms(app["id"])) == 1


def test_a_kept_promise_is_never_overdue(clerk, reviewer):
    app = settled(clerk, reviewer)
    sql("UPDATE application SET fulfilled_at = now(), due_by = now() - interval '1 hour'"
        " WHERE id = %s", (app["id"],))
    # A second application made late afterwards shows the sweep has run since.
    late = settled(clerk, reviewer)
    set_due(late["id"], "now() - interval '1 second'")
    wait_until(lambda: len(overdue_events(late["id"])) == 1, 10, what="the late one flagged")
    assert overdue_events(app["id"]) == []
    assert sql("SELECT overdue_at FROM application WHERE id = %s", (app["id"],))[0][0] is None


# ---------------------------------------------------------------------------------
# The admin calendar routes
# ---------------------------------------------------------------------------------

# SPEC §7, as written there.
SPEC_OFF = {
    2025: [("01-01", "01-01"), ("01-28", "02-04"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("05-31", "06-02"), ("10-01", "10-08")],
    2026: [("01-01", "01-03"), ("02-15", "02-23"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("06-19", "06-21"), ("09-25", "09-27"), ("10-01", "10-07")],
}
SPEC_WORKED = {
    2025: ["01-26", "02-08", "04-27", "09-28", "10-11"],
    2026: ["01-04", "02-14", "02-28", "05-09", "09-20", "10-10"],
}


def spec_days(year):
    off = set()
    for first, last in SPEC_OFF[year]:
        d = datetime.date.fromisoformat(f"{year}-{first}")
        while d <= datetime.date.fromisoformat(f"{year}-{last}"):
            off.add(d.isoformat())
            d += datetime.timedelta(days=1)
    worked = {f"{year}-{d}" for d in SPEC_WORKED[year]}
    return off, worked


def working_days(year, off, worked):
    n, d = 0, datetime.date(year, 1, 1)
    while d.year == year:
        iso = d.isoformat()
        if iso in worked or (d.weekday() < 5 and iso not in off):
            n += 1
        d += datetime.timedelta(days=1)
    return n


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_official_years_are_loaded(admin, year):
    resp = admin.get(f"{CAL}/years/{year}")
    assert resp.status_code == 200, resp.content[:300]
    off, worked = spec_days(year)
    days = resp.body["days"]
    assert {d["date"] for d in days if d["kind"] == "off"} == off
    assert {d["date"] for d in days if d["kind"] == "workday"} == worked
    assert [d["date"] for d in days] == sorted(d["date"] for d in days)
    assert resp.body["working_days"] == working_days(year, off, worked)


def test_calendar_status(admin):
    resp = admin.get(f"{CAL}/status")
    assert resp.status_code == 200, resp.content[:300]
    body = resp.body
    assert {2025, 2026} <= set(body["loaded_years"])
    today = datetime.datetime.now(SHANGHAI).date()
    assert body["today"] == today.isoformat()
    need = {(today + datetime.timedelta(days=i)).year for i in range(31)}
    missing = sorted(y for y in need if y not in body["loaded_years"])
    assert body["missing_years"] == missing and body["covered"] is (missing == [])


def test_unknown_years_and_days(admin):
    assert_problem(admin.get(f"{CAL}/years/2098"), 404, "not-found")
    assert_problem(admin.get(f"{CAL}/years/20x6"), 404, "not-found")
    assert_problem(admin.get(f"{CAL}/years/1999"), 404, "not-found")
    resp = admin.send_json("PUT", f"{CAL}/days/2098-03-02", {"kind": "off"})
    assert_problem(resp, 409, "conflict")
    assert sql("SELECT count(*) FROM calendar_year WHERE year = 2098")[0][0] == 0
    assert_problem(admin.send_json("PUT", f"{CAL}/days/2026-02-30", {"kind": "off"}),
                   404, "not-found")
    assert_problem(admin.send_json("PUT", f"{CAL}/days/2026-02-14", {"kind": "holiday"}),
                   422, "invalid-field", field="/kind")


def audit_detail(action, object_id):
    rows = sql("SELECT detail, actor_kind FROM audit_event WHERE action = %s"
               " AND object_id = %s ORDER BY id", (action, object_id))
    return rows


def test_put_a_year_then_correct_a_day(admin):
    body = {"note": "测试年份", "days": [
        {"date": "2099-01-01", "kind": "off", "note": "元旦"},
        {"date": "2099-01-02", "kind": "off"},
        {"date": "2099-01-03", "kind": "workday", "note": "调休上班"},   # a Saturday
    ]}
    resp = admin.send_json("PUT", f"{CAL}/years/2099", body)
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["year"] == 2099 and resp.body["note"] == "测试年份"
    assert [(d["date"], d["kind"]) for d in resp.body["days"]] == [
        ("2099-01-01", "off"), ("2099-01-02", "off"), ("2099-01-03", "workday")]
    # Thu 31 Dec 2098 (not loaded: estimated), Thu 1 Jan off, Fri 2 off, Sat 3 worked, Mon 5.
    got = deadline(admin, "2098-12-31T10:00:00%2B08:00")
    assert (got["due_by"], got["due_by_estimated"]) == ("2099-01-05" + END, False)
    events = audit_detail("calendar.year_replaced", "2099")
    assert events and events[-1][1] == "staff"
    assert (events[-1][0]["days_off"], events[-1][0]["workdays"]) == (2, 1)

    # Replaced, not merged: the old days are gone.
    resp = admin.send_json("PUT", f"{CAL}/years/2099", {"days": [
        {"date": "2099-01-02", "kind": "off"}]})
    assert resp.status_code == 200
    assert [d["date"] for d in resp.body["days"]] == ["2099-01-02"]
    assert resp.body["note"] is None
    detail = audit_detail("calendar.year_replaced", "2099")[-1][0]
    assert (detail["was_loaded"], detail["days_before"], detail["days_off"]) == (True, 3, 1)

    # Correct one day: Monday 5 January off.
    resp = admin.send_json("PUT", f"{CAL}/days/2099-01-05", {"kind": "off", "note": "临时"})
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body == {"date": "2099-01-05", "kind": "off", "note": "临时"}
    detail = audit_detail("calendar.day_corrected", "2099-01-05")[-1][0]
    assert (detail["kind_before"], detail["kind"]) == ("workday", "off")
    # Thu 1 Jan works now, Fri 2 off, Mon 5 off: Thu 1, Tue 6.
    got = deadline(admin, "2098-12-31T10:00:00%2B08:00")
    assert (got["due_by"], got["due_by_estimated"]) == ("2099-01-06" + END, False)
    resp = admin.get(f"{CAL}/years/2099")
    assert [d["date"] for d in resp.body["days"]] == ["2099-01-02", "2099-01-05"]


BAD_YEAR_BODIES = [
    ({}, 422, "missing-field", "/days"),
    ({"days": [], "extra": 1}, 422, "unknown-field", "/extra"),
    ({"days": {}}, 422, "invalid-field", "/days"),
    ({"days": [{"date": "2097-01-01"}]}, 422, "missing-field", "/days/0/kind"),
    ({"days": [{"kind": "off"}]}, 422, "missing-field", "/days/0/date"),
    ({"days": [{"date": "2097-01-01", "kind": "off", "why": "x"}]}, 422, "unknown-field",
     "/days/0/why"),
    ({"days": [{"date": "2097-01-01", "kind": "off"}, {"date": "2096-01-01", "kind": "off"}]},
     422, "invalid-field", "/days/1/date"),
    ({"days": [{"date": "2097-02-29", "kind": "off"}]}, 422, "invalid-field", "/days/0/date"),
    ({"days": [{"date": "2097-01-01", "kind": "off"}, {"date": "2097-01-01", "kind": "off"}]},
     422, "invalid-field", "/days/1/date"),
    ({"days": [{"date": "2097-01-01", "kind": "holiday"}]}, 422, "invalid-field",
     "/days/0/kind"),
    ({"days": [{"date": "2097-01-01", "kind": "off", "note": ""}]}, 422, "invalid-field",
     "/days/0/note"),
    ({"days": [], "note": 5}, 422, "invalid-field", "/note"),
    ([], 422, "invalid-field", ""),
]


def year_rows(year):
    return (sql("SELECT loaded_at FROM calendar_year WHERE year = %s", (year,)),
            sql("SELECT day, kind, note FROM calendar_day WHERE year = %s ORDER BY day",
                (year,)))


@pytest.mark.parametrize("doc,status,slug,field", BAD_YEAR_BODIES)
def test_bad_year_bodies_change_nothing(admin, doc, status, slug, field):
    before = year_rows(2097)
    resp = admin.send_json("PUT", f"{CAL}/years/2097", doc)
    assert_problem(resp, status, slug, field=field)
    assert year_rows(2097) == before


def test_malformed_year_body(admin):
    resp = admin.request("PUT", f"{CAL}/years/2097", data=b'{"days": [',
                         headers={"Content-Type": "application/json"})
    assert_problem(resp, 400, "malformed-json")
    resp = admin.request("PUT", f"{CAL}/years/2097", data=b'{"days": [], "days": []}',
                         headers={"Content-Type": "application/json"})
    assert_problem(resp, 400, "duplicate-key")


def test_loading_a_year_recomputes_open_estimated_deadlines(clerk, reviewer, admin):
    """A deadline computed over a missing year is a guess; once that year is loaded, the
    open ones are computed again (kept ones and flagged ones stay as they were)."""
    app = settled(clerk, reviewer)
    # As if settled on Wednesday 6 March 2097, before 2097 was loaded.
    sql("UPDATE application SET settled_at = '2097-03-06 10:00+08',"
        " (due_by, due_by_estimated) = (SELECT due_by, estimated"
        "  FROM calendar_due_by('2097-03-06 10:00+08')) WHERE id = %s", (app["id"],))
    before = clerk.get(f"{APPS}/{app['id']}").body
    assert (before["due_by"], before["due_by_estimated"]) == ("2097-03-08" + END, True)
    resp = admin.send_json("PUT", f"{CAL}/years/2097", {"days": [
        {"date": "2097-03-07", "kind": "off", "note": "测试"}]})
    assert resp.status_code == 200, resp.content[:300]
    after = clerk.get(f"{APPS}/{app['id']}").body
    # Thu 7 off, Fri 8 (1), Mon 11 (2).
    assert (after["due_by"], after["due_by_estimated"]) == ("2097-03-11" + END, False)
    assert after["version"] == before["version"] + 1
    assert audit_detail("calendar.year_replaced", "2097")[-1][0]["deadlines_recomputed"] >= 1
