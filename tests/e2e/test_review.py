"""Review (SPEC §5 step 3): the reviewers' queue and their decisions, through nginx.

Applications are built the way an applicant builds them: POST /applications, the
materials uploaded with PUT /applications/{id}/materials/{kind} (rows inserted as the
owner role only when that endpoint cannot take them yet, with a warning), POST .../submit.
Certificates for free business (revoke) are inserted by SQL: the signing worker that
issues them comes in a later issue.

What a decision does is checked from three sides: the answer (the full Application),
the database (status history, review columns, the locked quote) and the SMS the handler
receives at the fake gateway ($CERTHALL_SMS_GATEWAY_URL, tests/fakes/sms_gateway.py).
"""

import base64
import hashlib
import json
import os
import secrets
import struct
import threading
import time
import warnings
import zlib
from pathlib import Path

import pytest
import requests

import spec_tables as T
from conftest import assert_problem, require_env, wait_until
from principals import principals, random_phone, sql  # noqa: F401  (the fixture)

APPS = "/api/v1/applications"
QUEUE = "/api/v1/review-queue"
SIGNATURE = "【四川CA】"
SMS_WAIT = 20  # seconds for the sender to deliver an SMS to the fake gateway

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

# Every reason this module sends: none may reach the server log.
REASONS = []
# Every application this module submits: those still in the queue at the end are
# rejected, so a long-lived stack's queue does not fill up with them.
SUBMITTED = []


# ---------------------------------------------------------------------------------
# Test data: subjects with valid check characters, files with the right magic
# ---------------------------------------------------------------------------------

def credit_code():
    """A random unified social credit code (GB 32100) with a right check character."""
    body = "91" + "510100" + "".join(secrets.choice(CREDIT_ALPHABET) for _ in range(9))
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(body, CREDIT_WEIGHTS))
    return body + CREDIT_ALPHABET[(31 - total % 31) % 31]


def id_number():
    """A random resident ID number (GB 11643) with a real birth date and check character."""
    body = "510107" + f"{1970 + secrets.randbelow(30)}{1 + secrets.randbelow(12):02d}" \
        f"{1 + secrets.randbelow(28):02d}" + f"{secrets.randbelow(1000):03d}"
    total = sum(int(c) * w for c, w in zip(body, ID_WEIGHTS))
    return body + "10X98765432"[total % 11]


def pdf_bytes():
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " +
            secrets.token_hex(16).encode() + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def png_bytes():
    """A real 1x1 PNG (signature, IHDR, IDAT, IEND with their CRCs)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" + bytes([secrets.randbelow(256) for _ in range(4)]))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) +
            chunk(b"IEND", b""))


def material_file(kind):
    """(content type, bytes) for a material: the seal impression must be a PNG."""
    if kind == "seal_impression":
        return "image/png", png_bytes()
    return "application/pdf", pdf_bytes()


# ---------------------------------------------------------------------------------
# Building applications through the API
# ---------------------------------------------------------------------------------

def application_body(business="new", cert="org", certificate_id=None, years=1, seals=1,
                     subject=None):
    """A complete application body for business/cert (every field submit requires)."""
    subject = subject or {"credit_code": credit_code(), "holder_id_number": id_number()}
    body = {
        "business_type": business, "certificate_type": cert,
        "unit_name": "四川蜀审测试科技有限公司", "credit_code": subject["credit_code"],
        "handler_name": "李审核", "handler_phone": random_phone(),
        "handler_id_number": id_number(),
    }
    if cert == "personal":
        body.update(holder_name="王持有", holder_id_number=subject["holder_id_number"])
    if business in T.WITH_YEARS:
        body.update(years=years, seals=seals)
    if business in ("new", "reissue"):
        body.update(delivery_recipient="李审核", delivery_phone=random_phone(),
                    delivery_province="四川省", delivery_city="成都市",
                    delivery_district="武侯区", delivery_address="锦云西二巷1号",
                    delivery_postcode="610041")
    if business in ("new", "renew", "reissue"):
        body.update(invoice_title="四川蜀审测试科技有限公司")
    if business != "new":
        body["certificate_id"] = certificate_id
    return body


def insert_certificate(cert, subject, days_left=300):
    """A valid certificate of this subject (as the signing worker will issue them),
    expiring in days_left days (renewal opens 60 days before)."""
    rows = sql("INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
               " holder_name, holder_id_number, not_before, not_after)"
               " VALUES (%s, %s, '四川蜀审测试科技有限公司', %s, %s, %s,"
               "  now() - interval '300 days', now() + %s * interval '1 day') RETURNING id",
               (secrets.token_hex(16), cert, subject["credit_code"],
                "王持有" if cert == "personal" else None,
                subject["holder_id_number"] if cert == "personal" else None, days_left))
    return rows[0][0]


def upload(owner, app_id, kind):
    ctype, data = material_file(kind)
    return owner.request("PUT", f"{APPS}/{app_id}/materials/{kind}", data=data,
                         headers={"Content-Type": ctype})


def insert_material(app_id, kind, applicant_id):
    ctype, data = material_file(kind)
    sql("UPDATE application_material SET superseded_at = now()"
        " WHERE application_id = %s AND kind = %s AND superseded_at IS NULL", (app_id, kind))
    sql("INSERT INTO application_material (application_id, kind, content_type, size_bytes,"
        " sha256, data, uploaded_by_kind, uploaded_by_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, 'applicant', %s)",
        (app_id, kind, ctype, len(data), hashlib.sha256(data).hexdigest(), data, applicant_id))


def attach(owner, app, kinds=None):
    """Uploads the materials (all the application requires, or kinds)."""
    for kind in kinds or app["required_materials"]:
        resp = upload(owner, app["id"], kind)
        if resp.status_code in (200, 201):
            continue
        if resp.status_code >= 500:
            warnings.warn(f"PUT materials/{kind} answered {resp.status_code}; "
                          "inserting the material as the owner role")
            insert_material(app["id"], kind, owner.info.get("applicant_id"))
            continue
        pytest.fail(f"PUT materials/{kind}: {resp.status_code} {resp.content[:300]!r}")


def create(owner, **kw):
    resp = owner.post_json(APPS, application_body(**kw))
    assert resp.status_code == 201, f"create: {resp.status_code} {resp.content[:400]!r}"
    return resp.body


def submit(owner, app_id):
    resp = owner.post_json(f"{APPS}/{app_id}/submit", {})
    assert resp.status_code == 200, f"submit {app_id}: {resp.status_code} {resp.content[:400]!r}"
    assert resp.body["status"] == "submitted", resp.body
    return resp.body


def submitted(owner, business="new", cert="org", **kw):
    """A new application of owner's, complete, submitted."""
    if business != "new" and "certificate_id" not in kw:
        subject = {"credit_code": credit_code(), "holder_id_number": id_number()}
        kw.update(subject=subject, certificate_id=insert_certificate(
            cert, subject, days_left=30 if business == "renew" else 300))
    app = create(owner, business=business, cert=cert, **kw)
    attach(owner, app)
    SUBMITTED.append(app["id"])
    return submit(owner, app["id"])


def review(reviewer, app_id, doc):
    if isinstance(doc, dict) and isinstance(doc.get("reason"), str):
        REASONS.append(doc["reason"])
    return reviewer.post_json(f"{APPS}/{app_id}/review", doc)


def get(principal, app_id):
    resp = principal.get(f"{APPS}/{app_id}")
    assert resp.status_code == 200, f"GET {app_id}: {resp.status_code} {resp.content[:300]!r}"
    return resp.body


def history(app_id):
    """(from_status, to_status, actor_kind, actor_id, reason) rows, oldest first."""
    return sql("SELECT from_status, to_status, actor_kind, actor_id, reason"
               " FROM application_history WHERE application_id = %s ORDER BY id", (app_id,))


def row(app_id):
    rows = sql("SELECT status, version, review_reason, return_materials, reviewed_by,"
               " reviewed_at IS NOT NULL, quote_total_fen, quote_locked_at IS NOT NULL"
               " FROM application WHERE id = %s", (app_id,))
    assert rows, f"application {app_id} is not in the database"
    keys = ("status", "version", "review_reason", "return_materials", "reviewed_by",
            "reviewed", "quote_total_fen", "quote_locked")
    return dict(zip(keys, rows[0]))


def sms_to(phone, predicate=lambda m: True, timeout=SMS_WAIT):
    """The newest message the fake gateway received for phone that satisfies predicate."""
    gateway = require_env("CERTHALL_SMS_GATEWAY_URL").rstrip("/")

    def look():
        resp = requests.get(f"{gateway}/messages", params={"phone": phone}, timeout=5)
        assert resp.status_code == 200, resp.text[:200]
        found = [m for m in resp.json() if predicate(m)]
        return found[-1] if found else None
    return wait_until(look, timeout, what=f"an SMS to {phone[:3]}****{phone[-4:]}")


def decision_history(app_id):
    """The history rows written by decisions (those leaving `submitted`)."""
    return [h for h in history(app_id) if h[0] == "submitted"]


# ---------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def applicant(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (review)")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


@pytest.fixture(scope="module")
def reviewer2(principals):  # noqa: F811
    return principals.new_staff(["reviewer"], name="second reviewer")


@pytest.fixture(scope="module", autouse=True)
def clear_the_queue(reviewer):
    yield
    left = sql("SELECT id FROM application WHERE id = ANY(%s) AND status = 'submitted'",
               (SUBMITTED,)) if SUBMITTED else []
    for (app_id,) in left:
        review(reviewer, app_id, {"decision": "reject", "reason": "测试数据，予以清理"})


@pytest.fixture(scope="module")
def material_names(principals):  # noqa: F811
    return dict(sql("SELECT code, name FROM material_kind"))


# ---------------------------------------------------------------------------------
# Who may review
# ---------------------------------------------------------------------------------

def test_only_reviewers_reach_the_queue_and_the_decision(principals, applicant):  # noqa: F811
    app = create(applicant)
    for role in ("operator", "finance", "counter", "admin"):
        staff = principals.staff(role)
        assert_problem(staff.get(QUEUE), 403, "forbidden")
        assert_problem(review(staff, app["id"], {"decision": "approve"}), 403, "forbidden")
    assert_problem(applicant.get(QUEUE), 403, "forbidden")
    assert_problem(review(applicant, app["id"], {"decision": "approve"}), 403, "forbidden")
    anonymous = principals.anonymous()
    assert_problem(anonymous.get(QUEUE), 401, "unauthorized")


@pytest.mark.parametrize("app_id", ["999999999999", "0", "abc", "-1", "01"])
def test_unknown_application_is_404(reviewer, app_id):
    assert_problem(review(reviewer, app_id, {"decision": "approve"}), 404, "not-found")


# ---------------------------------------------------------------------------------
# The queue
# ---------------------------------------------------------------------------------

def walk_queue(reviewer, query, want_ids, limit, max_pages=500):
    """Pages through the queue with query until every id of want_ids was seen (or the end).

    Returns every item seen, in order; checks no item comes twice and every item is
    submitted and matches the filters of query."""
    seen, ids, cursor = [], set(), None
    for _ in range(max_pages):
        params = dict(query, limit=limit)
        if cursor:
            params["cursor"] = cursor
        resp = reviewer.get(QUEUE, params=params)
        assert resp.status_code == 200, f"queue {params}: {resp.status_code} {resp.content[:300]!r}"
        page = resp.body
        assert len(page["items"]) <= limit
        for item in page["items"]:
            assert item["id"] not in ids, f"{item['id']} came twice while paging"
            ids.add(item["id"])
            assert item["status"] == "submitted", item
            for name in ("business_type", "certificate_type", "channel"):
                if name in query:
                    assert item[name] == query[name], (name, item)
            assert "materials" not in item, "the queue shows the list form (no materials)"
            seen.append(item)
        cursor = page["next_cursor"]
        if cursor is None or want_ids <= ids:
            break
        assert page["items"], "a page with a next_cursor must not be empty"
    return seen


def test_queue_is_oldest_submitted_first_with_id_breaking_ties(applicant, reviewer):
    apps = [submitted(applicant) for _ in range(4)]
    ids = [a["id"] for a in apps]
    try:
        # Older than anything else in the queue; the last two tie on submitted_at, in the
        # order opposite to their ids' to show the tie is broken by id, not by insertion.
        stamps = ["2001-02-03 04:05:06.000001+08", "2001-02-03 04:05:06.000002+08",
                  "2001-02-03 04:05:06.5+08", "2001-02-03 04:05:06.5+08"]
        for app_id, at in zip(ids, stamps):
            sql("UPDATE application SET submitted_at = %s WHERE id = %s", (at, app_id))
        for limit in (1, 2, 3, 100):
            items = walk_queue(reviewer, {}, set(ids), limit)
            mine = [i["id"] for i in items if i["id"] in ids]
            assert mine == ids, f"limit {limit}: queue order {mine}, expected {ids}"
        # Nothing older is in the queue, so they head it.
        first = reviewer.get(QUEUE, params={"limit": 4}).body
        assert [i["id"] for i in first["items"]] == ids
        assert first["next_cursor"] is None or isinstance(first["next_cursor"], str)
    finally:
        for app_id in ids:   # out of the queue, so other tests see their own at its head
            review(reviewer, app_id, {"decision": "reject", "reason": "测试数据，予以清理"})


def test_queue_default_page_and_list_form(applicant, reviewer):
    app = submitted(applicant, cert="personal")
    resp = reviewer.get(QUEUE)
    assert resp.status_code == 200
    assert len(resp.body["items"]) <= 20
    items = walk_queue(reviewer, {"certificate_type": "personal"}, {app["id"]}, 100)
    item = next(i for i in items if i["id"] == app["id"])
    # List form: ID numbers masked, no materials.
    full = get(reviewer, app["id"])
    assert full["holder_id_number"] and item["holder_id_number"] != full["holder_id_number"]
    assert item["handler_id_number"] != full["handler_id_number"]
    assert item["submitted_at"] == full["submitted_at"]


def test_queue_filters(principals, applicant, reviewer):  # noqa: F811
    counter = principals.staff("counter")
    org_new = submitted(applicant, business="new", cert="org")
    personal_revoke = submitted(applicant, business="revoke", cert="personal")
    at_counter = submitted(counter, business="new", cert="org")
    assert at_counter["channel"] == "counter"
    want = {org_new["id"], personal_revoke["id"], at_counter["id"]}
    cases = [
        ({"business_type": "revoke"}, {personal_revoke["id"]}),
        ({"certificate_type": "personal"}, {personal_revoke["id"]}),
        ({"business_type": "new", "certificate_type": "org"}, {org_new["id"], at_counter["id"]}),
        ({"channel": "counter"}, {at_counter["id"]}),
        ({"channel": "online", "business_type": "new"}, {org_new["id"]}),
        ({"business_type": "revoke", "certificate_type": "org"}, set()),
    ]
    for query, expected in cases:
        seen = {i["id"] for i in walk_queue(reviewer, query, expected, 100)} & want
        assert seen == expected, f"{query}: saw {seen}, expected {expected}"


def test_a_decided_application_leaves_the_queue(applicant, reviewer):
    app = submitted(applicant, business="revoke", cert="org")
    assert app["id"] in {i["id"] for i in walk_queue(reviewer, {"business_type": "revoke"},
                                                     {app["id"]}, 100)}
    assert review(reviewer, app["id"], {"decision": "approve"}).status_code == 200
    assert app["id"] not in {i["id"] for i in walk_queue(reviewer, {"business_type": "revoke"},
                                                         {app["id"]}, 100)}


def cursor_of(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("query, parameter", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("limit=", "limit"),
    ("limit=-1", "limit"), ("limit=1&limit=2", "limit"),
    ("business_type=nope", "business_type"), ("certificate_type=company", "certificate_type"),
    ("channel=phone", "channel"), ("channel=online&channel=counter", "channel"),
    ("cursor=", "cursor"), ("cursor=%%%", "cursor"), ("cursor=not-a-cursor!", "cursor"),
    ("cursor=" + cursor_of("12345"), "cursor"), ("cursor=" + cursor_of("x:1"), "cursor"),
    ("cursor=" + cursor_of("1:0"), "cursor"), ("cursor=" + cursor_of("+5:3"), "cursor"),
    ("cursor=" + cursor_of("05:3"), "cursor"), ("cursor=" + cursor_of("-0:3"), "cursor"),
    ("cursor=" + cursor_of("1:2") + "==", "cursor"),
    ("status=submitted", "status"), ("sort=asc", "sort"),
])
def test_bad_queue_query_is_422_naming_the_parameter(reviewer, query, parameter):
    resp = reviewer.get(f"{QUEUE}?{query}")
    body = assert_problem(resp, 422, "invalid-field")
    assert body.get("parameter") == parameter, body


def test_a_well_formed_cursor_is_taken(reviewer):
    """Cursors are opaque to clients, but any well-formed one is a position, not an error
    (here: before everything, so the page equals the first)."""
    first = reviewer.get(QUEUE, params={"limit": 5})
    resp = reviewer.get(QUEUE, params={"cursor": cursor_of("0:1"), "limit": 5})
    assert resp.status_code == 200, resp.content[:300]
    assert [i["id"] for i in resp.body["items"]] == [i["id"] for i in first.body["items"]]


# ---------------------------------------------------------------------------------
# Approve
# ---------------------------------------------------------------------------------

def test_approve_paid_business_locks_the_quote_and_waits_for_payment(applicant, reviewer):
    app = submitted(applicant, business="new", cert="org", years=1, seals=1)
    before = row(app["id"])
    # The quote is recomputed at approval from the schedule in force, not taken over.
    sql("UPDATE application SET quote_total_fen = 1 WHERE id = %s", (app["id"],))

    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, resp.content[:400]
    got = resp.body
    assert got["id"] == app["id"]
    assert got["status"] == "awaiting_payment"
    assert got["version"] == app["version"] + 2
    assert resp.headers.get("ETag") == f'"v{got["version"]}"'
    assert got["quote_locked"] is True
    assert got["quote"]["total_fen"] == 40000 == T.quote_total("new", "org", 1, 1)
    assert got["review_reason"] is None and got["return_materials"] is None
    assert got["reviewed_at"]

    after = row(app["id"])
    assert after["status"] == "awaiting_payment"
    assert after["version"] == before["version"] + 2
    assert after["quote_total_fen"] == 40000 and after["quote_locked"]
    assert after["reviewed_by"] == reviewer.info["staff_id"] and after["reviewed"]
    assert after["review_reason"] is None

    steps = [h[:2] for h in history(app["id"])]
    assert steps[-2:] == [("submitted", "approved"), ("approved", "awaiting_payment")]
    for h in history(app["id"])[-2:]:
        assert h[2:4] == ("staff", reviewer.info["staff_id"])

    actions = [r[0] for r in sql("SELECT action FROM audit_event WHERE object_type = "
                                 "'application' AND object_id = %s ORDER BY id",
                                 (str(app["id"]),))]
    assert actions[-2:] == ["application.approved", "application.awaiting_payment"]

    msg = sms_to(app["handler_phone"], lambda m: "审核通过" in m["text"])
    assert msg["text"] == (f"{SIGNATURE}您的数字证书申请（编号{app['id']}）已审核通过，"
                           "应付金额400元，请登录自助网厅完成缴费。")


def test_approve_shows_fen_as_yuan_with_cents_only_when_needed(applicant, reviewer):
    """Personal reissue is 50 yuan: 5000 fen → 50元 (no .00)."""
    app = submitted(applicant, business="reissue", cert="personal")
    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, resp.content[:400]
    assert resp.body["status"] == "awaiting_payment"
    assert resp.body["quote"]["total_fen"] == T.quote_total("reissue", "personal", None, 0)
    msg = sms_to(app["handler_phone"], lambda m: "审核通过" in m["text"])
    assert f"应付金额{T.quote_total('reissue', 'personal', None, 0) // 100}元，" in msg["text"]


def add_fee_schedule(from_id, reissue_personal=None):
    """A new fee schedule copying schedule from_id (personal reissue at reissue_personal
    fen when given), in force 1.5 s after it is inserted; waits for that.  Its version."""
    rows = sql("INSERT INTO fee_schedule (version, effective_from, note)"
               " SELECT max(version) + 1, now() + interval '1.5 seconds', %s"
               " FROM fee_schedule RETURNING id, version",
               ("test_review: 分位金额" if reissue_personal else "test_review: 恢复原价",))
    new_id, version = rows[0]
    sql("INSERT INTO fee_item (schedule_id, fee_code, certificate_type, amount_fen,"
        " tax_rate_bp, note)"
        " SELECT %s, fee_code, certificate_type,"
        "  CASE WHEN %s::bigint IS NOT NULL AND fee_code = 'reissue'"
        "   AND certificate_type = 'personal' THEN %s::bigint ELSE amount_fen END,"
        "  tax_rate_bp, note FROM fee_item WHERE schedule_id = %s",
        (new_id, reissue_personal, reissue_personal, from_id))
    wait_until(lambda: sql("SELECT effective_from <= now() FROM fee_schedule WHERE id = %s",
                           (new_id,))[0][0], 10, what="the new fee schedule to come into force")
    return version


def test_approval_prices_with_the_schedule_in_force_and_shows_cents(applicant, reviewer):
    """Submitted under one schedule, approved under the next: the locked quote is the new
    one, and 5050 fen reads 50.50元 in the SMS.  Schedules in force cannot change
    (sql/0003_fees.sql), so the old prices come back as a further schedule."""
    app = submitted(applicant, business="reissue", cert="personal")
    assert app["quote"]["total_fen"] == 5000
    current = sql("SELECT id FROM fee_schedule WHERE effective_from <= now()"
                  " ORDER BY effective_from DESC LIMIT 1")[0][0]
    version = add_fee_schedule(current, reissue_personal=5050)
    try:
        resp = review(reviewer, app["id"], {"decision": "approve"})
    finally:
        add_fee_schedule(current)
    assert resp.status_code == 200, resp.content[:400]
    assert resp.body["quote"]["total_fen"] == 5050
    assert resp.body["quote"]["schedule_version"] == version
    assert row(app["id"])["quote_total_fen"] == 5050
    msg = sms_to(app["handler_phone"], lambda m: "审核通过" in m["text"])
    assert "应付金额50.50元，" in msg["text"], msg["text"]


def test_approve_free_business_waits_for_verification(applicant, reviewer):
    app = submitted(applicant, business="revoke", cert="org")
    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, resp.content[:400]
    got = resp.body
    assert got["status"] == "awaiting_verification"
    assert got["quote_locked"] is True and got["quote"]["total_fen"] == 0
    assert got["quote"]["lines"] == []
    assert [h[:2] for h in history(app["id"])][-2:] == [
        ("submitted", "approved"), ("approved", "awaiting_verification")]
    msg = sms_to(app["handler_phone"], lambda m: "审核通过" in m["text"])
    assert msg["text"] == (f"{SIGNATURE}您的数字证书申请（编号{app['id']}）已审核通过，"
                           "请登录自助网厅完成验证。")


@pytest.mark.parametrize("doc, field, slug", [
    ({"decision": "approve", "materials": ["application_form"]}, "/materials", "invalid-field"),
    ({"decision": "approve", "reason": "看起来不错"}, "/reason", "invalid-field"),
    ({"decision": "maybe"}, "/decision", "invalid-field"),
    ({}, "/decision", "missing-field"),
    ({"decision": "approve", "note": "x"}, "/note", "unknown-field"),
])
def test_bad_approve_body_is_422(applicant, reviewer, doc, field, slug):
    app = submitted(applicant, business="unlock", cert="org")
    body = assert_problem(review(reviewer, app["id"], doc), 422, slug)
    assert body.get("field") == field, body
    assert row(app["id"])["status"] == "submitted"


# ---------------------------------------------------------------------------------
# Reject and return: the reason and the materials
# ---------------------------------------------------------------------------------

@pytest.fixture
def pending(applicant):
    """A submitted org `new` application with an e-seal."""
    return submitted(applicant, business="new", cert="org", seals=1)


@pytest.mark.parametrize("doc, field, slug", [
    ({"decision": "reject"}, "/reason", "missing-field"),
    ({"decision": "reject", "reason": None}, "/reason", "missing-field"),
    ({"decision": "reject", "reason": "差"}, "/reason", "invalid-field"),
    ({"decision": "reject", "reason": ""}, "/reason", "invalid-field"),
    ({"decision": "reject", "reason": "   "}, "/reason", "invalid-field"),
    ({"decision": "reject", "reason": "\u3000\u3000"}, "/reason", "invalid-field"),
    ({"decision": "reject", "reason": "坏" * 501}, "/reason", "invalid-field"),
    ({"decision": "reject", "reason": "含有\n换行"}, "/reason", "invalid-field"),
    ({"decision": "reject", "reason": 42}, "/reason", "invalid-field"),
    ({"decision": "reject", "reason": "不符合要求", "materials": ["application_form"]},
     "/materials", "invalid-field"),
    ({"decision": "return"}, "/reason", "missing-field"),
    ({"decision": "return", "reason": "缺"}, "/reason", "invalid-field"),
    ({"decision": "return", "reason": "营业执照未加盖公章"}, "/materials", "missing-field"),
    ({"decision": "return", "reason": "营业执照未加盖公章", "materials": []},
     "/materials", "invalid-field"),
    ({"decision": "return", "reason": "营业执照未加盖公章", "materials": "business_license"},
     "/materials", "invalid-field"),
    ({"decision": "return", "reason": "营业执照未加盖公章",
      "materials": ["business_license", "business_license"]}, "/materials", "invalid-field"),
    ({"decision": "return", "reason": "营业执照未加盖公章", "materials": ["passport"]},
     "/materials", "invalid-field"),
    # holder_id is a kind, but an org `new` application does not require it.
    ({"decision": "return", "reason": "持有人身份证不清晰", "materials": ["holder_id"]},
     "/materials", "invalid-field"),
    ({"decision": "return", "reason": "材料不全",
      "materials": ["application_form", "business_license", "holder_id", "handler_id",
                    "seal_impression", "application_form"]}, "/materials", "invalid-field"),
])
def test_reject_and_return_rules_are_422_and_change_nothing(pending, reviewer, doc, field, slug):
    before = row(pending["id"])
    body = assert_problem(review(reviewer, pending["id"], doc), 422, slug)
    assert body.get("field") == field, body
    assert row(pending["id"]) == before
    assert decision_history(pending["id"]) == []


@pytest.mark.parametrize("reason", ["不符", "理" * 500])
def test_reason_length_bounds_are_inclusive(applicant, reviewer, reason):
    app = submitted(applicant, business="unlock", cert="org")
    resp = review(reviewer, app["id"], {"decision": "reject", "reason": reason})
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["review_reason"] == reason
    msg = sms_to(app["handler_phone"], lambda m: "未通过审核" in m["text"])
    # The SMS keeps within one provider message: a long reason is shortened there only.
    assert len(msg["text"]) <= 500
    assert msg["text"].startswith(SIGNATURE)


def test_reject_is_final_and_tells_the_handler(applicant, reviewer):
    app = submitted(applicant, business="new", cert="personal")
    reason = f"申请表信息与营业执照不一致 {secrets.token_hex(4)}"
    resp = review(reviewer, app["id"], {"decision": "reject", "reason": reason})
    assert resp.status_code == 200, resp.content[:400]
    got = resp.body
    assert got["status"] == "rejected" and got["review_reason"] == reason
    assert got["return_materials"] is None and got["quote_locked"] is False
    assert got["version"] == app["version"] + 1
    r = row(app["id"])
    assert r["reviewed_by"] == reviewer.info["staff_id"] and r["reviewed"]
    assert decision_history(app["id"]) == [
        ("submitted", "rejected", "staff", reviewer.info["staff_id"], reason)]
    msg = sms_to(app["handler_phone"], lambda m: "未通过审核" in m["text"])
    assert msg["text"] == (f"{SIGNATURE}您的数字证书申请（编号{app['id']}）未通过审核，"
                           f"原因：{reason}。如有疑问请致电400-028-1130。")
    # Final: no decision, no resubmission, no edit.
    assert_problem(review(reviewer, app["id"], {"decision": "approve"}), 409, "conflict")
    assert_problem(applicant.post_json(f"{APPS}/{app['id']}/submit", {}), 409, "conflict")


def test_return_then_fix_and_resubmit_comes_back_to_the_queue(applicant, reviewer,
                                                               material_names):
    app = submitted(applicant, business="new", cert="org", seals=1)
    reason = f"营业执照复印件未加盖单位公章 {secrets.token_hex(4)}"
    materials = ["handler_id", "business_license"]       # catalog order is kept
    resp = review(reviewer, app["id"], {"decision": "return", "reason": reason,
                                        "materials": materials})
    assert resp.status_code == 200, resp.content[:400]
    got = resp.body
    assert got["status"] == "returned" and got["review_reason"] == reason
    assert got["return_materials"] == ["business_license", "handler_id"]
    assert got["quote_locked"] is False
    assert decision_history(app["id"]) == [
        ("submitted", "returned", "staff", reviewer.info["staff_id"], reason)]
    assert row(app["id"])["return_materials"] == ["business_license", "handler_id"]

    names = "、".join(material_names[k] for k in ("business_license", "handler_id"))
    msg = sms_to(app["handler_phone"], lambda m: "需补正材料" in m["text"])
    assert msg["text"] == (f"{SIGNATURE}您的数字证书申请（编号{app['id']}）需补正材料：{names}。"
                           f"原因：{reason}。请登录自助网厅修改后重新提交。")

    # Returned is out of the queue, and cannot be decided again until resubmitted.
    assert app["id"] not in {i["id"] for i in walk_queue(reviewer, {}, {app["id"]}, 100)}
    assert_problem(review(reviewer, app["id"], {"decision": "approve"}), 409, "conflict")

    # The applicant fixes it: an edit (If-Match) and the materials uploaded again.
    current = applicant.get(f"{APPS}/{app['id']}")
    resp = applicant.send_json("PATCH", f"{APPS}/{app['id']}", {"unit_name": "四川蜀审科技有限公司"},
                               headers={"If-Match": current.headers["ETag"]})
    assert resp.status_code == 200, resp.content[:400]
    attach(applicant, app, ["business_license", "handler_id"])
    again = submit(applicant, app["id"])
    assert again["unit_name"] == "四川蜀审科技有限公司"
    items = walk_queue(reviewer, {"business_type": "new"}, {app["id"]}, 100)
    assert app["id"] in {i["id"] for i in items}

    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, resp.content[:400]
    assert resp.body["status"] == "awaiting_payment"
    assert resp.body["review_reason"] is None and resp.body["return_materials"] is None
    steps = [h[:2] for h in history(app["id"])]
    assert steps[-4:] == [("submitted", "returned"), ("returned", "submitted"),
                          ("submitted", "approved"), ("approved", "awaiting_payment")]


def test_return_may_name_the_seal_impression_when_seals_are_asked(applicant, reviewer,
                                                                  material_names):
    app = submitted(applicant, business="renew", cert="personal", years=3, seals=1)
    assert "seal_impression" in app["required_materials"]
    resp = review(reviewer, app["id"], {"decision": "return", "reason": "印模图片模糊",
                                        "materials": ["seal_impression"]})
    assert resp.status_code == 200, resp.content[:400]
    assert resp.body["return_materials"] == ["seal_impression"]
    msg = sms_to(app["handler_phone"], lambda m: "需补正材料" in m["text"])
    assert f"需补正材料：{material_names['seal_impression']}。" in msg["text"]


# ---------------------------------------------------------------------------------
# Illegal transitions and the race
# ---------------------------------------------------------------------------------

def test_reviewing_a_draft_is_409_and_changes_nothing(applicant, reviewer):
    app = create(applicant)
    for doc in ({"decision": "approve"}, {"decision": "reject", "reason": "草稿不能审"},
                {"decision": "return", "reason": "草稿不能审", "materials": ["application_form"]}):
        body = assert_problem(review(reviewer, app["id"], doc), 409, "conflict")
        assert body.get("status_now") == "draft", body
    got = get(applicant, app["id"])
    assert got["status"] == "draft" and got["version"] == app["version"]
    assert [h[:2] for h in history(app["id"])] == [(None, "draft")]


@pytest.mark.parametrize("first, second", [
    ({"decision": "approve"}, {"decision": "approve"}),
    ({"decision": "approve"}, {"decision": "reject", "reason": "再次审核"}),
    ({"decision": "reject", "reason": "第一次"}, {"decision": "approve"}),
    ({"decision": "return", "reason": "第一次", "materials": ["application_form"]},
     {"decision": "return", "reason": "第二次", "materials": ["application_form"]}),
])
def test_reviewing_twice_is_409_and_changes_nothing(applicant, reviewer, first, second):
    app = submitted(applicant, business="revoke", cert="personal")
    assert review(reviewer, app["id"], first).status_code == 200
    before, steps = row(app["id"]), history(app["id"])
    body = assert_problem(review(reviewer, app["id"], second), 409, "conflict")
    assert body.get("status_now") == before["status"], body
    assert row(app["id"]) == before
    assert history(app["id"]) == steps
    assert get(applicant, app["id"])["version"] == before["version"]


RACE_ROUNDS = 4


@pytest.mark.parametrize("decisions", [
    ({"decision": "approve"}, {"decision": "approve"}),
    ({"decision": "approve"}, {"decision": "reject", "reason": "并发测试：驳回"}),
    ({"decision": "return", "reason": "并发测试：退回", "materials": ["application_form"]},
     {"decision": "reject", "reason": "并发测试：驳回"}),
])
def test_two_reviewers_at_once_exactly_one_wins(applicant, reviewer, reviewer2, decisions):
    outcome = {"approve": "awaiting_payment", "reject": "rejected", "return": "returned"}
    decided = []
    for _ in range(RACE_ROUNDS):
        app = submitted(applicant, business="new", cert="org")
        barrier = threading.Barrier(2)
        results = [None, None]

        def decide(i, who, doc):
            barrier.wait(timeout=10)
            results[i] = review(who, app["id"], doc)

        threads = [threading.Thread(target=decide, args=(i, who, doc))
                   for i, (who, doc) in enumerate(zip((reviewer, reviewer2), decisions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert all(r is not None for r in results), "a reviewer thread did not finish"
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409], [(r.status_code, r.content[:200]) for r in results]
        winner = 0 if results[0].status_code == 200 else 1
        loser = 1 - winner
        assert_problem(results[loser], 409, "conflict")
        won = decisions[winner]["decision"]
        state = row(app["id"])
        assert state["status"] == outcome[won] == results[winner].body["status"]
        winner_id = (reviewer, reviewer2)[winner].info["staff_id"]
        assert state["reviewed_by"] == winner_id
        assert len(decision_history(app["id"])) == 1, history(app["id"])
        assert decision_history(app["id"])[0][3] == winner_id
        assert state["version"] == app["version"] + (2 if won == "approve" else 1)
        decided.append(app)

    # The handler hears of the decision once: the loser's transaction queued nothing.
    gateway = require_env("CERTHALL_SMS_GATEWAY_URL").rstrip("/")
    for app in decided:
        sms_to(app["handler_phone"], lambda m, i=app["id"]: f"编号{i}）" in m["text"])
    time.sleep(1)
    for app in decided:
        got = requests.get(f"{gateway}/messages", params={"phone": app["handler_phone"]},
                           timeout=5).json()
        assert len([m for m in got if f"编号{app['id']}）" in m["text"]]) == 1, got


# ---------------------------------------------------------------------------------
# Privacy of the reason
# ---------------------------------------------------------------------------------

def test_zz_reasons_stay_out_of_the_server_log():
    """Named to run last in the module: every reason sent above must be absent."""
    stack = os.environ.get("CERTHALL_STACK")
    if not stack or not Path(stack, "log", "api.log").exists():
        pytest.skip("no $CERTHALL_STACK/log/api.log to read")
    time.sleep(0.5)
    lines = Path(stack, "log", "api.log").read_text(encoding="utf-8",
                                                    errors="replace").splitlines()
    # JSON lines may escape non-ASCII characters: read them decoded as well.
    texts = []
    for line in lines:
        texts.append(line)
        try:
            texts.append(json.dumps(json.loads(line), ensure_ascii=False))
        except ValueError:
            pass
    text = "\n".join(texts)
    leaked = [r for r in REASONS if len(r.strip()) >= 4 and r in text]
    assert REASONS, "no reason was sent"
    assert not leaked, f"reasons found in log/api.log: {leaked[:3]}"
