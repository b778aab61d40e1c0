"""Applications end to end (docs/CONTRACT.md "Applications, materials, review"; SPEC §2,
§3, §5, §10): create (online, integrator, counter), field validation, PATCH with If-Match,
who sees what, lists and cursors, submit (completeness, eligibility at its boundaries, the
quote, one open application per certificate), Idempotency-Key, cancel, history.

Certificates are inserted with SQL as the owner role (the signing worker that issues them
comes in a later issue). Materials are inserted with SQL where a test is about submit, not
about uploads; one test uploads through the API.
"""

import json
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest

from conftest import require_env
from principals import principals, random_phone, sql  # noqa: F401  (the fixture)

APPS = "/api/v1/applications"

# ---------------------------------------------------------------------------------
# Identity numbers with their check characters (SPEC §10)
# ---------------------------------------------------------------------------------

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def id_check(body17):
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS)) % 11]


def id_number(birth="19850312", region="510104", seq=None):
    """A valid resident ID number (GB 11643) born on birth."""
    seq = seq or f"{secrets.randbelow(1000):03d}"
    body = region + birth + seq
    return body + id_check(body)


def cc_check(body17):
    c = 31 - sum(CC_ALPHABET.index(ch) * w for ch, w in zip(body17, CC_WEIGHTS)) % 31
    return CC_ALPHABET[0 if c == 31 else c]


def credit_code():
    """A random valid unified social credit code (GB 32100)."""
    body = "91510107" + "".join(secrets.choice(CC_ALPHABET) for _ in range(9))
    return body + cc_check(body)


def wrong_check(code, alphabet):
    """code with its check character replaced by another valid one."""
    return code[:-1] + next(c for c in alphabet if c != code[-1])


def test_generators_agree_with_known_values():
    assert id_check("11010519491231002") == "X"
    assert cc_check("91350100M000100Y4") == "3"


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------

def subject(cert_type="org", **kw):
    """Subject and handler fields for a certificate type."""
    doc = {
        "unit_name": "成都市郫都区红光镇白云村股份经济合作联合社",
        "credit_code": credit_code(),
        "handler_name": "张伟",
        "handler_phone": random_phone(),
        "handler_id_number": id_number(),
    }
    if cert_type == "personal":
        doc.update({"holder_name": "李娜", "holder_id_number": id_number("19900101")})
    doc.update(kw)
    return doc


DELIVERY = {
    "delivery_recipient": "张伟",
    "delivery_phone": "13800138000",
    "delivery_province": "四川省",
    "delivery_city": "成都市",
    "delivery_district": "郫都区",
    "delivery_address": "红光镇白云村3组18号",
    "delivery_postcode": "611730",
}


def full_body(business="new", cert_type="org", certificate_id=None, **kw):
    """Everything submit needs for business/cert_type (materials apart)."""
    doc = {"business_type": business, "certificate_type": cert_type}
    if certificate_id is not None:
        doc["certificate_id"] = certificate_id
    doc.update(subject(cert_type))
    if business in ("new", "renew"):
        doc["years"] = 1
    if business in ("new", "reissue"):
        doc.update(DELIVERY)
    if business in ("new", "renew", "reissue"):
        doc["invoice_title"] = doc["unit_name"]
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not None}


def create(who, doc, status=201, **kw):
    resp = who.send_json("POST", APPS, doc, **kw)
    assert resp.status_code == status, (resp.status_code, resp.body)
    return resp


def get(who, app_id, status=200):
    resp = who.get(f"{APPS}/{app_id}")
    assert resp.status_code == status, (resp.status_code, resp.body)
    return resp


def patch(who, app_id, doc, etag, status=200):
    headers = {} if etag is None else {"If-Match": etag}
    resp = who.send_json("PATCH", f"{APPS}/{app_id}", doc, headers=headers)
    assert resp.status_code == status, (resp.status_code, resp.body)
    return resp


def submit(who, app_id, status=200, **kw):
    resp = who.send_json("POST", f"{APPS}/{app_id}/submit", {}, **kw)
    assert resp.status_code == status, (resp.status_code, resp.body)
    return resp


def cancel(who, app_id, doc=None, status=200):
    resp = who.send_json("POST", f"{APPS}/{app_id}/cancel", doc or {})
    assert resp.status_code == status, (resp.status_code, resp.body)
    return resp


def slug(resp):
    return resp.body["type"].rsplit(":", 1)[1]


def certificate(cert_type="org", credit="", holder_id=None, not_before="now() - interval '300 days'",
                not_after="now() + interval '30 days'", revoked=False):
    """Inserts a certificate (as the signing worker will) and returns its id. not_before
    and not_after are SQL expressions (trusted: written by the tests)."""
    holder_name = "李娜" if cert_type == "personal" else None
    if cert_type == "personal" and holder_id is None:
        holder_id = id_number("19900101")
    rows = sql(
        "INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
        " holder_name, holder_id_number, not_before, not_after, status, revoked_at,"
        " revocation_reason)"
        f" VALUES (%s, %s, %s, %s, %s, %s, {not_before}, {not_after}, %s,"
        " CASE WHEN %s THEN now() END, CASE WHEN %s THEN 'keyCompromise' END) RETURNING id",
        (secrets.token_hex(16), cert_type, "成都市郫都区红光镇白云村股份经济合作联合社",
         credit, holder_name, holder_id if cert_type == "personal" else None,
         "revoked" if revoked else "valid", revoked, revoked))
    return rows[0][0]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n% test\n" + b"0" * 64


def attach(app_id, kinds):
    """Stores current materials of these kinds with SQL (the submit tests are about
    submit; uploads have their own tests)."""
    for kind in kinds:
        data = PNG if kind == "seal_impression" else PDF
        sql("INSERT INTO application_material (application_id, kind, content_type,"
            " size_bytes, sha256, data, uploaded_by_kind)"
            " VALUES (%s, %s, %s, %s, encode(sha256(%s), 'hex'), %s, 'applicant')",
            (app_id, kind, "image/png" if kind == "seal_impression" else "application/pdf",
             len(data), data, data))


def ready(who, doc):
    """Creates an application from doc with every required material attached."""
    app = create(who, doc).body
    attach(app["id"], app["required_materials"])
    return app


def set_status(app_id, status):
    sql("UPDATE application SET status = %s WHERE id = %s", (status, app_id))


def history_of(who, app_id):
    resp = who.get(f"{APPS}/{app_id}/history")
    assert resp.status_code == 200, resp.body
    return resp.body["items"]


def audit(action, app_id):
    return sql("SELECT actor_kind, detail FROM audit_event WHERE action = %s"
               " AND object_type = 'application' AND object_id = %s ORDER BY id",
               (action, str(app_id)))


@pytest.fixture(scope="module")
def alice(principals):  # noqa: F811
    return principals.new_applicant(name="applicant alice")


@pytest.fixture(scope="module")
def bob(principals):  # noqa: F811
    return principals.new_applicant(name="applicant bob")


@pytest.fixture(scope="module")
def counter(principals):  # noqa: F811
    return principals.staff("counter")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


# ---------------------------------------------------------------------------------
# Create
# ---------------------------------------------------------------------------------

def test_create_online_draft(alice):
    doc = full_body("new", "org", seals=0)
    resp = create(alice, doc)
    app = resp.body
    assert resp.headers["Location"] == f"{APPS}/{app['id']}"
    assert resp.headers["ETag"] == '"v1"'
    assert app["status"] == "draft" and app["version"] == 1 and app["channel"] == "online"
    for k, v in doc.items():
        assert app[k] == v, k
    assert app["certificate_id"] is None and app["holder_name"] is None
    assert app["quote"] is None and app["quote_locked"] is False
    assert app["materials"] == [] and app["return_materials"] is None
    assert app["required_materials"] == ["application_form", "business_license", "handler_id"]
    assert app["submitted_at"] is None and app["reviewed_at"] is None
    assert app["created_at"].endswith("+08:00")

    again = get(alice, app["id"])
    assert again.headers["ETag"] == '"v1"'
    assert again.body == app
    assert history_of(alice, app["id"]) == [
        {"from": None, "to": "draft", "at": app["created_at"], "actor_kind": "applicant",
         "reason": None}]
    assert [r[0] for r in audit("application.created", app["id"])] == ["applicant"]
    owner = sql("SELECT applicant_id, created_by_staff_id FROM application WHERE id = %s",
                (app["id"],))
    assert owner == [(alice.info["applicant_id"], None)]


def test_create_minimal_and_required_materials(alice):
    app = create(alice, {"business_type": "new", "certificate_type": "personal",
                         "seals": 2}).body
    assert app["unit_name"] is None and app["years"] is None and app["seals"] == 2
    assert app["required_materials"] == ["application_form", "business_license", "holder_id",
                                         "handler_id", "seal_impression"]
    cert = certificate(credit=credit_code())
    app = create(alice, {"business_type": "revoke", "certificate_type": "org",
                         "certificate_id": cert}).body
    assert app["certificate_id"] == cert and app["seals"] is None
    assert app["required_materials"] == ["application_form", "handler_id"]


@pytest.mark.parametrize("business,cert_type,kinds", [
    ("new", "org", ["application_form", "business_license", "handler_id"]),
    ("renew", "personal", ["application_form", "business_license", "holder_id", "handler_id"]),
    ("change", "org", ["application_form", "business_license", "handler_id"]),
    ("reissue", "personal", ["application_form", "handler_id"]),
    ("unlock", "org", ["application_form", "handler_id"]),
])
def test_required_materials_follow_the_matrix(alice, business, cert_type, kinds):
    doc = {"business_type": business, "certificate_type": cert_type}
    if business != "new":
        doc["certificate_id"] = certificate(cert_type, credit=credit_code())
    assert create(alice, doc).body["required_materials"] == kinds


def test_create_by_integrator(principals):  # noqa: F811
    x = principals.new_integrator("apps-X")
    y = principals.new_integrator("apps-Y")
    user = "u-" + uuid.uuid4().hex[:12]
    for_user = x.principal(user)
    app = create(for_user, full_body()).body
    assert app["channel"] == "integrator"
    assert get(for_user, app["id"]).headers["ETag"] == '"v1"'
    listed = for_user.get(APPS).body
    assert [a["id"] for a in listed["items"]] == [app["id"]]

    # Without a user the integrator acts for nobody: 422 naming the header, empty lists.
    nobody = x.principal()
    resp = create(nobody, full_body(), status=422)
    assert resp.body["header"] == "X-Certhall-External-User"
    assert nobody.get(APPS).body == {"items": [], "next_cursor": None}
    get(nobody, app["id"], status=404)
    # Another user of the same integrator, or the same user id at another integrator: 404.
    get(x.principal(user + "-2"), app["id"], status=404)
    other = y.principal(user)
    get(other, app["id"], status=404)
    patch(other, app["id"], {"years": 2}, '"v1"', status=404)
    submit(other, app["id"], status=404)
    cancel(other, app["id"], status=404)
    assert other.get(APPS).body["items"] == []


def test_create_at_the_counter(principals, counter, reviewer, alice):  # noqa: F811
    phone = random_phone()
    doc = full_body(handler_phone=phone)
    resp = create(counter, doc)
    app = resp.body
    assert app["channel"] == "counter" and app["handler_phone"] == phone
    staff_id = counter.info["staff_id"]
    owner = sql("SELECT a.applicant_id, a.created_by_staff_id, p.phone, p.integrator_id"
                " FROM application a JOIN applicant p ON p.id = a.applicant_id"
                " WHERE a.id = %s", (app["id"],))
    assert owner[0][1:] == (staff_id, phone, None)
    assert history_of(counter, app["id"])[0]["actor_kind"] == "staff"

    # The walk-in signs in later with that phone and finds it.
    walk_in = principals.sign_in_applicant(phone, principals.request_sms_code(phone))
    assert walk_in.info["applicant_id"] == owner[0][0]
    assert [a["id"] for a in walk_in.get(APPS).body["items"]] == [app["id"]]
    # A second counter application for the same phone has the same owner.
    app2 = create(counter, full_body(handler_phone=phone)).body
    assert sql("SELECT applicant_id FROM application WHERE id = %s",
               (app2["id"],))[0][0] == owner[0][0]

    # The clerk may change it; the clerk may not change an online application.
    patch(counter, app["id"], {"years": 3}, '"v1"')
    online = create(alice, full_body()).body
    get(counter, online["id"])
    patch(counter, online["id"], {"years": 3}, '"v1"', status=404)
    cancel(counter, online["id"], status=404)

    resp = create(counter, {"business_type": "new", "certificate_type": "org"}, status=422)
    assert (slug(resp), resp.body["field"]) == ("missing-field", "/handler_phone")
    # Other staff do not create applications.
    assert create(reviewer, doc, status=403).body["type"].endswith(":forbidden")


# ---------------------------------------------------------------------------------
# Validation: every refusal names its field
# ---------------------------------------------------------------------------------

GOOD_CC = "91350100M000100Y43"
GOOD_ID = "11010519491231002X"


INVALID = [
    # credit code: check character, alphabet, length
    ({"credit_code": wrong_check(GOOD_CC, CC_ALPHABET)}, "invalid-field", "/credit_code"),
    ({"credit_code": "91350100I000100Y43"}, "invalid-field", "/credit_code"),
    ({"credit_code": "91350100O000100Y43"}, "invalid-field", "/credit_code"),
    ({"credit_code": "91350100m000100y43"}, "invalid-field", "/credit_code"),
    ({"credit_code": GOOD_CC[:-1]}, "invalid-field", "/credit_code"),
    ({"invoice_tax_id": wrong_check(GOOD_CC, CC_ALPHABET)}, "invalid-field", "/invoice_tax_id"),
    # ID numbers: check character, birth date, alphabet, length
    ({"handler_id_number": wrong_check(GOOD_ID, "0123456789X")}, "invalid-field",
     "/handler_id_number"),
    ({"handler_id_number": GOOD_ID[:-1] + "x"}, "invalid-field", "/handler_id_number"),
    ({"handler_id_number": id_number("19490231")}, "invalid-field", "/handler_id_number"),
    ({"handler_id_number": id_number("19851301")}, "invalid-field", "/handler_id_number"),
    ({"handler_id_number": id_number("20990101")}, "invalid-field", "/handler_id_number"),
    ({"handler_id_number": id_number("18991231")}, "invalid-field", "/handler_id_number"),
    ({"handler_id_number": "A" + GOOD_ID[1:]}, "invalid-field", "/handler_id_number"),
    ({"handler_id_number": GOOD_ID[:17]}, "invalid-field", "/handler_id_number"),
    ({"handler_id_number": 110105194912310020}, "invalid-field", "/handler_id_number"),
    # phones
    ({"handler_phone": "12800138000"}, "invalid-field", "/handler_phone"),
    ({"handler_phone": "1380013800"}, "invalid-field", "/handler_phone"),
    ({"handler_phone": "+8613800138000"}, "invalid-field", "/handler_phone"),
    ({"delivery_phone": "138-0013-8000"}, "invalid-field", "/delivery_phone"),
    # names and text
    ({"unit_name": "单"}, "invalid-field", "/unit_name"),
    ({"unit_name": "x" * 101}, "invalid-field", "/unit_name"),
    ({"unit_name": "成都\u0007公司"}, "invalid-field", "/unit_name"),
    ({"unit_name": " 成都公司"}, "invalid-field", "/unit_name"),
    ({"handler_name": "张\n伟"}, "invalid-field", "/handler_name"),
    ({"delivery_address": "x" * 201}, "invalid-field", "/delivery_address"),
    ({"delivery_postcode": "61173"}, "invalid-field", "/delivery_postcode"),
    ({"delivery_postcode": "6117300"}, "invalid-field", "/delivery_postcode"),
    ({"invoice_title": "x" * 101}, "invalid-field", "/invoice_title"),
    # years and seals
    ({"years": 0}, "invalid-field", "/years"),
    ({"years": 6}, "invalid-field", "/years"),
    ({"years": "1"}, "invalid-field", "/years"),
    ({"years": 1.0}, "invalid-field", "/years"),
    ({"seals": 11}, "invalid-field", "/seals"),
    ({"seals": -1}, "invalid-field", "/seals"),
    # a holder only for personal certificates
    ({"holder_name": "李娜"}, "invalid-field", "/holder_name"),
    ({"holder_id_number": GOOD_ID}, "invalid-field", "/holder_id_number"),
    # the business and the certificate
    ({"certificate_id": 1}, "invalid-field", "/certificate_id"),
    ({"business_type": "transfer"}, "invalid-field", "/business_type"),
    ({"certificate_type": "server"}, "invalid-field", "/certificate_type"),
    ({"colour": "blue"}, "unknown-field", "/colour"),
]


@pytest.mark.parametrize("change,kind,field", INVALID,
                         ids=[f"{list(c)[0]}-{i}" for i, (c, _, _) in enumerate(INVALID)])
def test_create_refuses_invalid_fields(alice, change, kind, field):
    doc = {"business_type": "new", "certificate_type": "org", **change}
    resp = create(alice, doc, status=422)
    assert (slug(resp), resp.body["field"]) == (kind, field), resp.body
    if kind != "unknown-field":
        assert field[1:] in resp.body["detail"]


def test_create_business_rules(alice):
    cert = certificate(credit=credit_code())
    cases = [
        ({"business_type": "new"}, "missing-field", "/certificate_type"),
        ({"certificate_type": "org"}, "missing-field", "/business_type"),
        ({"business_type": "renew", "certificate_type": "org"}, "missing-field",
         "/certificate_id"),
        ({"business_type": "revoke", "certificate_type": "org", "certificate_id": None},
         "missing-field", "/certificate_id"),
        ({"business_type": "revoke", "certificate_type": "org", "certificate_id": cert,
          "years": 1}, "invalid-field", "/years"),
        ({"business_type": "reissue", "certificate_type": "org", "certificate_id": cert,
          "seals": 0}, "invalid-field", "/seals"),
        ({"business_type": "unlock", "certificate_type": "org",
          "certificate_id": 999999999999}, "invalid-field", "/certificate_id"),
        ({"business_type": "new", "certificate_type": "org", "certificate_id": cert},
         "invalid-field", "/certificate_id"),
        ({"business_type": "change", "certificate_type": "org", "certificate_id": 0},
         "invalid-field", "/certificate_id"),
    ]
    for doc, kind, field in cases:
        resp = create(alice, doc, status=422)
        assert (slug(resp), resp.body["field"]) == (kind, field), (doc, resp.body)
    # Renew takes years and seals; a valid personal subject is accepted as given.
    app = create(alice, {"business_type": "renew", "certificate_type": "personal",
                         "certificate_id": certificate("personal", credit=credit_code()),
                         "years": 5, "seals": 10, "holder_id_number": GOOD_ID,
                         "credit_code": GOOD_CC}).body
    assert (app["years"], app["seals"], app["holder_id_number"]) == (5, 10, GOOD_ID)


def test_create_refuses_bad_bodies(alice):
    for raw, kind in [(b"", "malformed-json"), (b"[]", None), (b'{"business_type":"new",'
                      b'"business_type":"new","certificate_type":"org"}', "duplicate-key")]:
        resp = alice.post(APPS, data=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code in (400, 422), resp.body
        if kind:
            assert slug(resp) == kind
    resp = alice.post(APPS, data=b"{}", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415


# ---------------------------------------------------------------------------------
# PATCH with If-Match
# ---------------------------------------------------------------------------------

def test_patch_needs_if_match(alice):
    app = create(alice, full_body()).body
    resp = patch(alice, app["id"], {"years": 2}, None, status=428)
    assert slug(resp) == "precondition-required" and resp.body["header"] == "If-Match"
    for stale in ('"v2"', '"v0"', 'W/"v1"', "v1", '"1"'):
        resp = patch(alice, app["id"], {"years": 2}, stale, status=412)
        assert slug(resp) == "precondition-failed"
    assert get(alice, app["id"]).body["years"] == 1      # nothing changed

    resp = patch(alice, app["id"], {"years": 2, "seals": 1}, '"v1"')
    assert resp.headers["ETag"] == '"v2"'
    assert (resp.body["version"], resp.body["years"], resp.body["seals"]) == (2, 2, 1)
    assert "seal_impression" in resp.body["required_materials"]
    # The old tag is stale now; a list of tags and * are understood.
    patch(alice, app["id"], {"years": 3}, '"v1"', status=412)
    assert patch(alice, app["id"], {"years": 3}, '"v1", "v2"').headers["ETag"] == '"v3"'
    assert patch(alice, app["id"], {"years": 4}, "*").body["version"] == 4
    assert get(alice, app["id"]).headers["ETag"] == '"v4"'


def test_patch_sets_and_clears(alice):
    app = create(alice, full_body(seals=2)).body
    new_id = id_number("19700101")
    resp = patch(alice, app["id"], {"handler_id_number": new_id, "delivery_district": None,
                                    "invoice_tax_id": GOOD_CC, "seals": None}, '"v1"')
    body = resp.body
    assert body["handler_id_number"] == new_id and body["delivery_district"] is None
    assert body["invoice_tax_id"] == GOOD_CC and body["seals"] == 0
    assert body["delivery_city"] == DELIVERY["delivery_city"]     # untouched
    assert "seal_impression" not in body["required_materials"]
    assert body["updated_at"] >= app["updated_at"]

    # The audit event names the fields, never their values.
    events = audit("application.updated", app["id"])
    assert len(events) == 1
    assert sorted(events[0][1]["fields"]) == sorted(
        ["handler_id_number", "delivery_district", "invoice_tax_id", "seals"])
    assert new_id not in json.dumps(events[0][1])

    # A patch that changes nothing keeps the version.
    same = patch(alice, app["id"], {"handler_id_number": new_id}, '"v2"')
    assert same.headers["ETag"] == '"v2"'
    assert len(audit("application.updated", app["id"])) == 1

    # Refusals name the field; the rules hold for the result.
    for doc, kind, field in [
        ({}, "missing-field", ""),
        ({"business_type": None}, "invalid-field", "/business_type"),
        ({"certificate_type": "personal", "years": 9}, "invalid-field", "/years"),
        ({"holder_name": "李娜"}, "invalid-field", "/holder_name"),
        ({"business_type": "revoke"}, "missing-field", "/certificate_id"),
        ({"credit_code": wrong_check(GOOD_CC, CC_ALPHABET)}, "invalid-field", "/credit_code"),
        ({"id": 5}, "unknown-field", "/id"),
        ({"status": "submitted"}, "unknown-field", "/status"),
    ]:
        resp = patch(alice, app["id"], doc, '"v2"', status=422)
        assert (slug(resp), resp.body["field"]) == (kind, field), (doc, resp.body)
    # Changing the business keeps the rules: revoke needs a certificate, takes no years.
    cert = certificate(credit=credit_code())
    resp = patch(alice, app["id"], {"business_type": "revoke", "certificate_id": cert},
                 '"v2"', status=422)
    assert resp.body["field"] == "/years"
    resp = patch(alice, app["id"], {"business_type": "revoke", "certificate_id": cert,
                                    "years": None}, '"v2"')
    assert (resp.body["business_type"], resp.body["certificate_id"]) == ("revoke", cert)
    assert resp.body["required_materials"] == ["application_form", "handler_id"]


def test_patch_only_in_draft_or_returned(alice):
    app = ready(alice, full_body())
    submitted = submit(alice, app["id"]).body
    resp = patch(alice, app["id"], {"years": 2}, f'"v{submitted["version"]}"', status=409)
    assert slug(resp) == "conflict" and resp.body["status_now"] == "submitted"
    set_status(app["id"], "returned")
    resp = patch(alice, app["id"], {"years": 2}, f'"v{submitted["version"]}"')
    assert resp.body["years"] == 2 and resp.body["status"] == "returned"


# ---------------------------------------------------------------------------------
# Who sees what
# ---------------------------------------------------------------------------------

def test_other_applicants_get_404(alice, bob, reviewer, principals):  # noqa: F811
    app = ready(alice, full_body())
    path = f"{APPS}/{app['id']}"
    for resp in (bob.get(path), bob.get(path + "/history"),
                 bob.send_json("PATCH", path, {"years": 2}, headers={"If-Match": '"v1"'}),
                 bob.send_json("POST", path + "/submit", {}),
                 bob.send_json("POST", path + "/cancel", {})):
        assert resp.status_code == 404, (resp.request.method, resp.request.url, resp.body)
        assert slug(resp) == "not-found"
    # The same answer as for an id that does not exist, whatever the id looks like.
    missing = bob.get(f"{APPS}/999999999999")
    assert missing.status_code == 404
    assert missing.body["detail"] == bob.get(path).body["detail"]
    for bad in ("0", "-1", "01", "abc", "1.5", "9" * 19):
        assert alice.get(f"{APPS}/{bad}").status_code == 404, bad
    assert get(alice, app["id"]).body["status"] == "draft"      # nothing changed

    # Staff of any role read it (and its history), but change nothing.
    assert get(reviewer, app["id"]).body["id"] == app["id"]
    assert history_of(reviewer, app["id"])[0]["to"] == "draft"
    operator = principals.staff("operator")
    assert get(operator, app["id"]).body["handler_id_number"] == app["handler_id_number"]
    resp = reviewer.send_json("PATCH", path, {"years": 2}, headers={"If-Match": '"v1"'})
    assert resp.status_code == 403
    assert principals.anonymous().get(path).status_code == 401


# ---------------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------------

def test_list_own_newest_first_with_cursor(principals, reviewer):  # noqa: F811
    me = principals.new_applicant(name="applicant lister")
    other = principals.new_applicant(name="applicant other lister")
    create(other, full_body())
    made = [create(me, full_body(business="new", cert_type="personal")).body["id"]
            for _ in range(5)]
    page = me.get(APPS, params={"limit": 2}).body
    assert [a["id"] for a in page["items"]] == made[::-1][:2]
    seen = [a["id"] for a in page["items"]]
    while page["next_cursor"]:
        page = me.get(APPS, params={"limit": 2, "cursor": page["next_cursor"]}).body
        seen += [a["id"] for a in page["items"]]
    assert seen == made[::-1]
    full = me.get(APPS).body
    assert full["next_cursor"] is None and len(full["items"]) == 5

    # Lists mask ID numbers and leave out the materials.
    item = full["items"][0]
    detail = get(me, item["id"]).body
    assert "materials" not in item
    for field in ("holder_id_number", "handler_id_number"):
        assert item[field] == detail[field][:4] + "*" * 10 + detail[field][-4:]
    assert item["unit_name"] == detail["unit_name"]

    # Filters.
    cancel(me, made[0])
    assert [a["id"] for a in me.get(APPS, params={"status": "cancelled"}).body["items"]] \
        == [made[0]]
    assert me.get(APPS, params={"business_type": "renew"}).body["items"] == []
    assert len(me.get(APPS, params={"certificate_type": "personal",
                                    "channel": "online"}).body["items"]) == 5
    # Staff see everyone's.
    staff_page = reviewer.get(APPS, params={"status": "cancelled", "limit": 100}).body
    assert made[0] in [a["id"] for a in staff_page["items"]]
    staff_all = reviewer.get(APPS, params={"limit": 100}).body["items"]
    owners = {a["id"] for a in staff_all}
    assert set(made[1:]) <= owners


@pytest.mark.parametrize("params,name", [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"status": "open"}, "status"),
    ({"business_type": "buy"}, "business_type"), ({"certificate_type": "x"}, "certificate_type"),
    ({"channel": "fax"}, "channel"), ({"cursor": "!!"}, "cursor"), ({"cursor": "YWJj"}, "cursor"),
    ({"sort": "id"}, "sort"),
])
def test_list_refuses_bad_parameters(alice, params, name):
    resp = alice.get(APPS, params=params)
    assert resp.status_code == 422, resp.body
    assert resp.body["parameter"] == name


def test_list_refuses_repeated_parameters(alice):
    resp = alice.get(APPS + "?limit=1&limit=2")
    assert resp.status_code == 422 and resp.body["parameter"] == "limit"


# ---------------------------------------------------------------------------------
# Submit: completeness, quote
# ---------------------------------------------------------------------------------

def test_submit_names_what_is_missing(alice):
    app = create(alice, {"business_type": "new", "certificate_type": "personal",
                         "seals": 1}).body
    resp = submit(alice, app["id"], status=422)
    assert slug(resp) == "not-eligible" and resp.body["rule"] == "complete"
    assert resp.body["missing_fields"] == [
        "unit_name", "credit_code", "holder_name", "holder_id_number", "handler_name",
        "handler_phone", "handler_id_number", "years", "delivery_recipient", "delivery_phone",
        "delivery_province", "delivery_city", "delivery_address", "invoice_title"]
    assert resp.body["missing_materials"] == [
        "application_form", "business_license", "holder_id", "handler_id", "seal_impression"]

    # Fill in the fields: only the materials are missing.
    doc = full_body("new", "personal")
    del doc["business_type"], doc["certificate_type"]
    patch(alice, app["id"], doc, '"v1"')
    attach(app["id"], ["application_form", "holder_id"])
    resp = submit(alice, app["id"], status=422)
    assert resp.body["missing_fields"] == []
    assert resp.body["missing_materials"] == ["business_license", "handler_id", "seal_impression"]
    # A superseded file does not count.
    sql("UPDATE application_material SET superseded_at = now()"
        " WHERE application_id = %s AND kind = 'holder_id'", (app["id"],))
    assert "holder_id" in submit(alice, app["id"], status=422).body["missing_materials"]
    assert get(alice, app["id"]).body["status"] == "draft"


def test_submit_free_business_needs_no_delivery_or_invoice(alice):
    credit = credit_code()
    cert = certificate(credit=credit)
    app = create(alice, {"business_type": "revoke", "certificate_type": "org",
                         "certificate_id": cert, **subject(credit_code=credit)}).body
    resp = submit(alice, app["id"], status=422)
    assert resp.body["missing_fields"] == []
    assert resp.body["missing_materials"] == ["application_form", "handler_id"]


@pytest.mark.parametrize("business,cert_type,years,seals,total", [
    ("new", "org", 1, 1, 40000),          # SPEC §4: 100 + 200 + 100 yuan
    ("new", "personal", 2, 0, 30000),
    ("renew", "personal", 3, 1, 60000),   # SPEC §4: 300 + 300 yuan
    ("reissue", "org", None, None, 5000),
    ("change", "org", None, None, 0),
    ("revoke", "personal", None, None, 0),
    ("unlock", "org", None, None, 0),
])
def test_submit_stores_the_quote(alice, client, business, cert_type, years, seals, total):
    credit = credit_code()
    body = full_body(business, cert_type, credit_code=credit, years=years, seals=seals)
    if business != "new":
        body["certificate_id"] = certificate(cert_type, credit=credit,
                                             holder_id=body.get("holder_id_number"))
    app = ready(alice, body)
    resp = submit(alice, app["id"])
    out = resp.body
    assert out["status"] == "submitted" and out["version"] == app["version"] + 1
    assert resp.headers["ETag"] == f'"v{out["version"]}"'
    assert out["submitted_at"] is not None and out["quote_locked"] is False
    quote_req = {"business_type": business, "certificate_type": cert_type}
    if years is not None:
        quote_req["years"] = years
    if seals is not None:
        quote_req["seals"] = seals
    expected = client.post_json("/api/v1/quotes", quote_req).body
    assert out["quote"] == expected
    assert out["quote"]["total_fen"] == total
    assert sql("SELECT quote_total_fen FROM application WHERE id = %s",
               (app["id"],))[0][0] == total
    assert [(h["from"], h["to"]) for h in history_of(alice, app["id"])] == [
        (None, "draft"), ("draft", "submitted")]
    assert [r[1]["to"] for r in audit("application.submitted", app["id"])] == ["submitted"]


def test_resubmit_after_return(alice):
    app = ready(alice, full_body())
    submit(alice, app["id"])
    set_status(app["id"], "returned")
    out = submit(alice, app["id"]).body
    assert out["status"] == "submitted"
    # Submitting what is already submitted is a conflict, and changes nothing.
    resp = submit(alice, app["id"], status=409)
    assert resp.body["status_now"] == "submitted"
    assert get(alice, app["id"]).body["version"] == out["version"]


def test_submit_with_uploaded_materials(alice):
    app = create(alice, full_body(seals=1)).body
    for kind in app["required_materials"]:
        data, ctype = (PNG, "image/png") if kind == "seal_impression" else (PDF, "application/pdf")
        resp = alice.request("PUT", f"{APPS}/{app['id']}/materials/{kind}", data=data,
                             headers={"Content-Type": ctype})
        if resp.status_code == 500:
            pytest.skip("material uploads are not there yet")
        assert resp.status_code == 201, resp.body
    out = submit(alice, app["id"]).body
    assert [m["kind"] for m in out["materials"]] == app["required_materials"]


# ---------------------------------------------------------------------------------
# Eligibility at its boundaries
# ---------------------------------------------------------------------------------

def eligible(who, business, cert_type="org", **cert):
    """Creates a complete application about a new certificate (same subject unless cert
    says otherwise); returns the submit response."""
    credit = cert.pop("credit", None) or credit_code()
    holder = id_number("19900101")
    cert_id = certificate(cert.pop("of_type", cert_type),
                          credit=cert.pop("cert_credit", credit),
                          holder_id=cert.pop("cert_holder", holder), **cert)
    body = full_body(business, cert_type, certificate_id=cert_id, credit_code=credit)
    if cert_type == "personal":
        body["holder_id_number"] = holder
    app = ready(who, body)
    return who.send_json("POST", f"{APPS}/{app['id']}/submit", {})


def refused(resp, rule):
    assert resp.status_code == 422, resp.body
    assert (slug(resp), resp.body["rule"]) == ("not-eligible", rule), resp.body
    return True


def test_renew_window_boundaries(alice):
    # From 60 days before not_after (a minute inside the window): allowed.
    assert eligible(alice, "renew", not_after="now() + interval '60 days' - interval '1 minute'"
                    ).status_code == 200
    # 61 days before: refused.
    assert refused(eligible(alice, "renew", not_after="now() + interval '61 days'"),
                   "renew_window")
    assert refused(eligible(alice, "renew", not_after="now() + interval '60 days 1 hour'"),
                   "renew_window")
    # Expired: allowed; revoked: refused.
    assert eligible(alice, "renew", not_before="now() - interval '400 days'",
                    not_after="now() - interval '1 day'").status_code == 200
    assert refused(eligible(alice, "renew", revoked=True), "renew_window")
    assert eligible(alice, "renew", "personal",
                    not_after="now() + interval '10 days'").status_code == 200


@pytest.mark.parametrize("business", ["reissue", "change", "revoke", "unlock"])
def test_certificate_must_be_valid(alice, business):
    assert eligible(alice, business).status_code == 200
    assert refused(eligible(alice, business, not_before="now() - interval '400 days'",
                            not_after="now() - interval '1 minute'"), "certificate_valid")
    assert refused(eligible(alice, business, revoked=True), "certificate_valid")
    assert refused(eligible(alice, business, not_before="now() + interval '1 day'",
                            not_after="now() + interval '400 days'"), "certificate_valid")


@pytest.mark.parametrize("business", ["renew", "reissue", "revoke", "unlock"])
def test_same_subject(alice, business):
    assert refused(eligible(alice, business, cert_credit=credit_code()), "same_subject")
    # personal: the holder too
    assert refused(eligible(alice, business, "personal", cert_holder=id_number("19800101")),
                   "same_subject")
    assert eligible(alice, business, "personal").status_code == 200


def test_change_names_the_new_subject(alice):
    assert eligible(alice, "change", cert_credit=credit_code()).status_code == 200
    assert eligible(alice, "change", "personal",
                    cert_holder=id_number("19800101")).status_code == 200


def test_certificate_type_must_match(alice):
    assert refused(eligible(alice, "revoke", "org", of_type="personal"), "certificate_type")
    assert refused(eligible(alice, "renew", "personal", of_type="org"), "certificate_type")


def test_one_open_application_per_certificate(alice, bob):
    credit = credit_code()
    cert = certificate(credit=credit)
    body = full_body("reissue", certificate_id=cert, credit_code=credit)
    first = ready(alice, body)
    second = ready(alice, full_body("reissue", certificate_id=cert, credit_code=credit))
    third = ready(bob, full_body("reissue", certificate_id=cert, credit_code=credit))
    submit(alice, first["id"])
    for who, app in ((alice, second), (bob, third)):
        resp = submit(who, app["id"], status=409)
        assert (slug(resp), resp.body["rule"]) == ("conflict", "one_open_per_certificate")
        assert get(who, app["id"]).body["status"] == "draft"
        assert history_of(who, app["id"])[-1]["to"] == "draft"
    # Once the first is cancelled the certificate is free again.
    cancel(alice, first["id"])
    assert submit(alice, second["id"]).body["status"] == "submitted"


def test_one_open_race_is_decided_by_the_index(alice):
    """A submit that passes the check while another submit of the same certificate is
    still uncommitted waits on the unique index, then gets the 409 (and no 500)."""
    credit = credit_code()
    cert = certificate(credit=credit)
    first = ready(alice, full_body("revoke", certificate_id=cert, credit_code=credit))
    second = ready(alice, full_body("revoke", certificate_id=cert, credit_code=credit))
    conn = psycopg2.connect(require_env("CERTHALL_DB"))
    try:
        with conn.cursor() as cur:      # the first "submit", not committed yet
            cur.execute("UPDATE application SET status = 'submitted' WHERE id = %s",
                        (first["id"],))
            box = {}
            worker = threading.Thread(target=lambda: box.setdefault(
                "resp", alice.send_json("POST", f"{APPS}/{second['id']}/submit", {})))
            worker.start()
            time.sleep(1.0)             # the second now waits on the index entry
            assert worker.is_alive(), box["resp"].body
        conn.commit()
        worker.join(15)
    finally:
        conn.close()
    resp = box["resp"]
    assert resp.status_code == 409, resp.body
    assert resp.body["rule"] == "one_open_per_certificate"
    assert get(alice, second["id"]).body["status"] == "draft"


def test_concurrent_submits_one_wins(alice, bob):
    for _ in range(3):
        credit = credit_code()
        cert = certificate(credit=credit)
        apps = [(who, ready(who, full_body("unlock", certificate_id=cert, credit_code=credit)))
                for who in (alice, bob)]
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(
                lambda wa: wa[0].send_json("POST", f"{APPS}/{wa[1]['id']}/submit", {}), apps))
        assert sorted(r.status_code for r in answers) == [200, 409], [r.body for r in answers]
        assert [r.body["rule"] for r in answers if r.status_code == 409] \
            == ["one_open_per_certificate"]


# ---------------------------------------------------------------------------------
# Idempotency-Key
# ---------------------------------------------------------------------------------

def test_create_idempotency(alice, bob):
    key = "create-" + uuid.uuid4().hex
    doc = full_body()
    first = create(alice, doc, headers={"Idempotency-Key": key})
    again = create(alice, doc, headers={"Idempotency-Key": key})
    assert again.body == first.body
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert "Idempotency-Replayed" not in first.headers
    rows = sql("SELECT count(*) FROM application WHERE applicant_id = %s AND credit_code = %s",
               (alice.info["applicant_id"], doc["credit_code"]))
    assert rows[0][0] == 1
    assert len(audit("application.created", first.body["id"])) == 1

    # The same key with another body: refused, nothing made.
    resp = create(alice, {**doc, "years": 2}, status=422,
                  headers={"Idempotency-Key": key})
    assert resp.body["header"] == "Idempotency-Key"
    # Keys are per caller: bob's request with alice's key is his own.
    assert create(bob, doc, headers={"Idempotency-Key": key}).body["id"] != first.body["id"]
    # A malformed key is refused.
    resp = create(alice, doc, status=422, headers={"Idempotency-Key": "short"})
    assert resp.body["header"] == "Idempotency-Key"


def test_submit_idempotency(alice):
    app = ready(alice, full_body())
    key = "submit-" + uuid.uuid4().hex
    first = submit(alice, app["id"], headers={"Idempotency-Key": key})
    again = submit(alice, app["id"], headers={"Idempotency-Key": key})
    assert again.body == first.body
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert [h["to"] for h in history_of(alice, app["id"])] == ["draft", "submitted"]
    # Without the key a second submit is a conflict.
    submit(alice, app["id"], status=409)


def test_refused_submit_keeps_the_key_free(alice):
    app = create(alice, full_body()).body
    key = "submit-" + uuid.uuid4().hex
    assert submit(alice, app["id"], status=422,
                  headers={"Idempotency-Key": key}).body["rule"] == "complete"
    attach(app["id"], app["required_materials"])
    assert submit(alice, app["id"], headers={"Idempotency-Key": key}).body["status"] \
        == "submitted"


# ---------------------------------------------------------------------------------
# Cancel
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["draft", "submitted", "returned", "approved",
                                   "awaiting_payment", "awaiting_verification"])
def test_cancel_from_each_allowed_state(alice, state):
    app = ready(alice, full_body())
    if state != "draft":
        submit(alice, app["id"])
        set_status(app["id"], state)
    before = get(alice, app["id"]).body["version"]
    resp = cancel(alice, app["id"], {"reason": "不再需要"})
    assert resp.body["status"] == "cancelled" and resp.body["version"] == before + 1
    assert resp.headers["ETag"] == f'"v{before + 1}"'
    last = history_of(alice, app["id"])[-1]
    assert (last["from"], last["to"], last["reason"]) == (state, "cancelled", "不再需要")
    events = audit("application.cancelled", app["id"])
    assert [(e[1]["from"], e[1]["to"]) for e in events] == [(state, "cancelled")]


@pytest.mark.parametrize("state", ["cancelled", "rejected", "issuing", "issued", "shipped",
                                   "completed"])
def test_cancel_refused_from_later_states(alice, state):
    app = create(alice, full_body()).body
    set_status(app["id"], state)
    resp = cancel(alice, app["id"], status=409)
    assert slug(resp) == "conflict" and resp.body["status_now"] == state
    assert get(alice, app["id"]).body["version"] == app["version"]
    assert len(history_of(alice, app["id"])) == 1


def test_cancel_body(alice):
    app = create(alice, full_body()).body
    resp = cancel(alice, app["id"], {"reason": "x"}, status=422)
    assert resp.body["field"] == "/reason"
    resp = cancel(alice, app["id"], {"why": "x"}, status=422)
    assert slug(resp) == "unknown-field"
    cancel(alice, app["id"])
    assert history_of(alice, app["id"])[-1]["reason"] is None


# ---------------------------------------------------------------------------------
# A statement that fails after it was sent (certhall/db.h: writes whose result is not
# needed, such as the history row and the audit event, go with the next statement)
# ---------------------------------------------------------------------------------

@pytest.fixture
def refuse_history():
    """refuse_history(app_id, to_status): from then until the test ends the database
    refuses that history row (a trigger the owner adds, and drops afterwards)."""
    made = []

    def refuse(app_id, to_status):
        name = f"test_refuse_history_{app_id}"
        sql(f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.application_id = {int(app_id)} AND NEW.to_status = '{to_status}' THEN
                    RAISE EXCEPTION 'history refused by the test';
                END IF;
                RETURN NEW;
            END $$""")
        sql(f"CREATE TRIGGER {name} BEFORE INSERT ON application_history"
            f" FOR EACH ROW EXECUTE FUNCTION {name}()")
        made.append(name)

    yield refuse
    for name in made:
        sql(f"DROP TRIGGER IF EXISTS {name} ON application_history")
        sql(f"DROP FUNCTION IF EXISTS {name}()")


def test_a_submit_whose_history_row_fails_changes_nothing(alice, refuse_history):
    """The history row is sent without waiting for its result; when it fails, the submit
    answers 500 and nothing of it stays: not the status, the quote, the audit event nor
    the Idempotency-Key, so the same request succeeds once the database takes it."""
    app = ready(alice, full_body())
    before = get(alice, app["id"]).body
    key = str(uuid.uuid4())
    refuse_history(app["id"], "submitted")
    for _ in range(3):   # every worker's connection stays usable
        resp = submit(alice, app["id"], status=500, headers={"Idempotency-Key": key})
        assert slug(resp) == "internal"
    after = get(alice, app["id"]).body
    assert after == before
    assert [h["to"] for h in history_of(alice, app["id"])] == ["draft"]
    assert audit("application.submitted", app["id"]) == []
    assert sql("SELECT count(*) FROM idempotency_key WHERE key = %s", (key,))[0][0] == 0

    sql(f"DROP TRIGGER test_refuse_history_{app['id']} ON application_history")
    done = submit(alice, app["id"], headers={"Idempotency-Key": key}).body
    assert done["status"] == "submitted" and done["version"] == before["version"] + 1
    assert [h["to"] for h in history_of(alice, app["id"])] == ["draft", "submitted"]
    assert len(audit("application.submitted", app["id"])) == 1
