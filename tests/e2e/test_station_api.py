"""The USB key routes the personalisation station uses (issue 12), through nginx:
binding a blank key, its sealed SO PIN, the user PIN by SMS, personalised.

Applications reach `issuing` the way a walk-in's does: a counter clerk enters it, a
reviewer approves it, the clerk takes the payment (test_payments' helpers); settlement
queues its signing job. The whole personalisation with a real signer, the certificate API
and a SoftHSM2 USB key is tests/e2e/test_station.py; this file pins the routes' rules.

Two things stand in for other processes here, in the test only:
- the signer's side of an SO PIN request (`token_request`): `Answerer` beats in
  `signer_status` and seals an SO PIN of its own to the requester key, as certhall-signer
  does with the derived one; where the real signer answers first the box still opens to
  16 hex digits (the test checks the box, not the PIN's value);
- the issuance of a certificate for a key, for the user PIN and personalised rules: a
  certificate row for the application and the key's serial, as the signer writes it
  (`issue_for`).
"""

import base64
import json
import os
import secrets
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from conftest import assert_problem, require_env, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_payments import counter_approved
from test_review import application_body, attach, review, submit, submitted
from test_verification import gateway_messages

KEYS = "/api/v1/usb-keys"
APPS = "/api/v1/applications"
SCRUBBED = "[scrubbed after delivery]"
SMS_WAIT = 20


# ---------------------------------------------------------------------------------
# People and applications
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def operator(principals):  # noqa: F811
    return principals.staff("operator")


@pytest.fixture(scope="module")
def clerk(principals):  # noqa: F811
    return principals.staff("counter")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


def serial():
    """A USB key serial like SoftHSM's (16 lowercase hex digits)."""
    return secrets.token_hex(8)


def issuing(clerk, reviewer, business="new", cert="org"):
    """A walk-in's application of business and cert entered by a counter clerk, approved
    and paid at the window: issuing, its signing job queued without a key request."""
    resp = clerk.post_json(APPS, application_body(business=business, cert=cert))
    assert resp.status_code == 201, resp.content[:300]
    app = resp.body
    attach(clerk, app)
    submit(clerk, app["id"])
    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200 and resp.body["status"] == "awaiting_payment", resp.body
    app = resp.body
    resp = clerk.post_json(f"{APPS}/{app['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": app["quote"]["total_fen"]})
    assert resp.status_code == 201, resp.content[:300]
    now = clerk.get(f"{APPS}/{app['id']}").body
    assert now["status"] == "issuing", now
    assert sql("SELECT status, csr IS NULL FROM signing_job WHERE application_id = %s",
               (app["id"],)) == [("queued", True)]
    return now


def bind(operator, app_id, key_serial, status=201):
    resp = operator.post_json(KEYS, {"serial": key_serial, "application_id": app_id})
    assert resp.status_code == status, resp.content[:300]
    return resp


def issue_for(app, key_serial):
    """The certificate the signer would store for the application's key (see the module
    docstring); returns its id."""
    return sql("INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
               " not_before, not_after, usb_key_serial, application_id)"
               " VALUES (%s, 'org', %s, %s, now(), now() + interval '1 year', %s, %s)"
               " RETURNING id",
               (secrets.token_hex(16), app["unit_name"], app["credit_code"], key_serial,
                app["id"]))[0][0]


def audit(serial_):
    return sql("SELECT action, detail FROM audit_event WHERE object_type = 'usb_key'"
               " AND object_id = %s ORDER BY id", (serial_,))


def spki(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def logs():
    """Everything the stack's processes logged so far, as text."""
    log_dir = Path(require_env("CERTHALL_STACK")) / "log"
    return "".join(p.read_text(errors="replace") for p in log_dir.glob("*.log"))


# ---------------------------------------------------------------------------------
# A stand-in for the signer's answer to token requests (module docstring)
# ---------------------------------------------------------------------------------

class Answerer:
    """Beats in signer_status as state ok and, when answer is set, seals pin to each
    requester key of the so_pin requests for serials it watches."""

    def __init__(self, answer=True):
        self.name = f"test-signer-{secrets.token_hex(4)}"
        self.answer = answer
        self.pin = secrets.token_hex(8)
        self.serials = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        sql("INSERT INTO signer_status (name, state) VALUES (%s, 'ok')", (self.name,))
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        sql("DELETE FROM signer_status WHERE name = %s", (self.name,))

    def run(self):
        while not self.stop.is_set():
            sql("UPDATE signer_status SET heartbeat_at = now() WHERE name = %s", (self.name,))
            if self.answer:
                for rid, subject, key in sql(
                        "SELECT id, subject, requester_key FROM token_request"
                        " WHERE kind = 'so_pin' AND sealed IS NULL AND error IS NULL"):
                    if subject not in self.serials:
                        continue
                    pub = serialization.load_der_public_key(bytes(key))
                    box = pub.encrypt(self.pin.encode(), padding.OAEP(
                        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                        label=None))
                    sql("UPDATE token_request SET sealed = %s, answered_at = now()"
                        " WHERE id = %s AND sealed IS NULL", (box, rid))
            time.sleep(0.05)


def open_box(key, sealed):
    return key.decrypt(base64.b64decode(sealed), padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)).decode()


def live_signers():
    return sql("SELECT name FROM signer_status WHERE state = 'ok'"
               " AND heartbeat_at > now() - interval '15 seconds'")


@contextmanager
def signer_stopped(stackctl):
    """The stack's certhall-signer stopped for the block (started again after it), so
    that nothing but this test answers, or fails to answer, token requests. A stack
    without a running signer is left as it is."""
    running = stackctl.run("signer-pid", check=False).returncode == 0
    if running:
        stackctl.run("signer-stop")
    try:
        wait_until(lambda: not live_signers(), 20, what="no signer up")
        yield
    finally:
        if running:
            stackctl.run("signer-start")


# ---------------------------------------------------------------------------------
# Binding
# ---------------------------------------------------------------------------------

def test_bind_a_blank_key(operator, clerk, reviewer):
    app = issuing(clerk, reviewer)
    key = serial()
    resp = bind(operator, app["id"], key)
    assert resp.headers["Location"] == f"{KEYS}/{key}"
    body = resp.body
    assert (body["serial"], body["application_id"], body["status"]) == (key, app["id"],
                                                                        "initialised")
    assert body["operator_id"] == operator.info["staff_id"]
    assert body["certificate_id"] is None and body["personalised_at"] is None
    assert body["pin_sent_at"] is None
    assert [a for a, _ in audit(key)] == ["usb_key.bound"]

    # The station starting over: the same answer, nothing new.
    again = bind(operator, app["id"], key, status=200)
    assert again.body == body
    assert [a for a, _ in audit(key)] == ["usb_key.bound"]

    # One key per application, one application per key.
    body = assert_problem(bind(operator, app["id"], serial(), 409), 409, "conflict")
    assert key in body["detail"]
    other = issuing(clerk, reviewer)
    body = assert_problem(bind(operator, other["id"], key, 409), 409, "conflict")
    assert body["key_status"] == "initialised"
    assert bind(operator, other["id"], serial()).body["application_id"] == other["id"]


def test_bind_only_an_application_waiting_for_a_key(operator, clerk, reviewer, principals):  # noqa: F811
    # Not paid yet.
    app = counter_approved(clerk, reviewer)
    body = assert_problem(bind(operator, app["id"], serial(), 409), 409, "conflict")
    assert body["status_now"] == "awaiting_payment"
    # Renew is enabled online on the key the handler holds.
    owner = principals.new_applicant(name="renewing applicant")
    renew = submitted(owner, business="renew")
    assert review(reviewer, renew["id"], {"decision": "approve"}).status_code == 200
    sql("UPDATE application SET status = 'issuing' WHERE id = %s", (renew["id"],))
    body = assert_problem(bind(operator, renew["id"], serial(), 409), 409, "conflict")
    assert body["status_now"] == "issuing" and "new and reissue" in body["detail"]
    # A job that has its key request already.
    app = issuing(clerk, reviewer)
    sql("UPDATE signing_job SET csr = '\\x30'::bytea, csr_submitted_at = now()"
        " WHERE application_id = %s", (app["id"],))
    body = assert_problem(bind(operator, app["id"], serial(), 409), 409, "conflict")
    assert body["status_now"] == "issuing"
    # No such application; malformed serials.
    assert_problem(bind(operator, 999999999, serial(), 422), 422, "invalid-field",
                   field="/application_id")
    for bad in ("abc", "0123456789abcdef0", "ab cd", "序列号1234"):
        assert_problem(bind(operator, app["id"], bad, 422), 422, "invalid-field",
                       field="/serial")
    assert_problem(operator.post_json(KEYS, {"serial": serial()}), 422, "missing-field",
                   field="/application_id")
    assert sql("SELECT count(*) FROM usb_key WHERE application_id = %s", (app["id"],)) == [(0,)]


def test_list_and_read(operator, clerk, reviewer, principals):  # noqa: F811
    app = issuing(clerk, reviewer)
    keys = sorted(serial() for _ in range(3))
    bind(operator, app["id"], keys[0])
    for k in keys[1:]:
        bind(operator, issuing(clerk, reviewer)["id"], k)

    resp = operator.get(f"{KEYS}/{keys[0]}")
    assert resp.status_code == 200 and resp.body["application_id"] == app["id"]
    assert principals.admin().get(f"{KEYS}/{keys[0]}").status_code == 200
    for missing in (serial(), "no", "ab%20cd"):
        assert_problem(operator.get(f"{KEYS}/{missing}"), 404, "not-found")

    resp = operator.get(KEYS, params={"application_id": app["id"]})
    assert [k["serial"] for k in resp.body["items"]] == [keys[0]]
    assert resp.body["next_cursor"] is None

    # Pages in serial order, every key once.
    seen, cursor = [], None
    while True:
        params = {"status": "initialised", "limit": 2, **({"cursor": cursor} if cursor else {})}
        resp = operator.get(KEYS, params=params)
        assert resp.status_code == 200, resp.content[:300]
        seen += [k["serial"] for k in resp.body["items"]]
        assert all(k["status"] == "initialised" for k in resp.body["items"])
        cursor = resp.body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(keys) <= set(seen)

    for params, name in (({"status": "lost"}, "status"), ({"limit": 0}, "limit"),
                         ({"application_id": "x"}, "application_id"),
                         ({"cursor": "not a serial"}, "cursor"), ({"sort": "serial"}, "sort")):
        body = assert_problem(operator.get(KEYS, params=params), 422, "invalid-field")
        assert body["parameter"] == name


def test_roles(principals, operator, clerk, reviewer):  # noqa: F811
    app = issuing(clerk, reviewer)
    key = serial()
    for who in (principals.applicant("A"), principals.staff("reviewer"),
                principals.staff("finance"), principals.staff("counter"),
                principals.admin()):
        assert_problem(who.post_json(KEYS, {"serial": key, "application_id": app["id"]}),
                       403, "forbidden")
    assert_problem(principals.anonymous().get(KEYS), 401, "unauthorized")
    assert_problem(principals.applicant("A").get(KEYS), 403, "forbidden")
    bind(operator, app["id"], key)
    for suffix, doc in (("so-pin", {"requester_key": spki(rsa.generate_private_key(
            65537, 2048))}), ("user-pin", {"pin": "12345678"}), ("personalised", {})):
        assert_problem(principals.admin().post_json(f"{KEYS}/{key}/{suffix}", doc), 403,
                       "forbidden")
        assert_problem(principals.applicant("A").post_json(f"{KEYS}/{key}/{suffix}", doc),
                       403, "forbidden")
    assert [a for a, _ in audit(key)] == ["usb_key.bound"]


# ---------------------------------------------------------------------------------
# The SO PIN
# ---------------------------------------------------------------------------------

def test_so_pin_sealed_to_the_requester(operator, clerk, reviewer):
    app = issuing(clerk, reviewer)
    key_serial = serial()
    bind(operator, app["id"], key_serial)
    one_time = rsa.generate_private_key(65537, 2048)
    with Answerer() as signer:
        signer.serials.add(key_serial)
        started = time.monotonic()
        resp = operator.post_json(f"{KEYS}/{key_serial}/so-pin",
                                  {"requester_key": spki(one_time)})
        took = time.monotonic() - started
    assert resp.status_code == 200, resp.content[:300]
    assert took < 5, f"the answer took {took:.1f} s"
    so_pin = open_box(one_time, resp.body["sealed"])
    assert len(so_pin) == 16 and all(c in "0123456789abcdef" for c in so_pin)
    # Handed out once: the request is gone, and no clear PIN was ever stored.
    assert sql("SELECT count(*) FROM token_request WHERE subject = %s", (key_serial,)) == [(0,)]
    assert so_pin not in logs()
    actions = audit(key_serial)
    assert [a for a, _ in actions] == ["usb_key.bound", "usb_key.so_pin_requested",
                                       "usb_key.so_pin_delivered"]
    fingerprint = actions[1][1]["requester_key_sha256"]
    assert len(fingerprint) == 64 and so_pin not in json.dumps([d for _, d in actions])


def test_so_pin_refusals(operator, clerk, reviewer):
    app = issuing(clerk, reviewer)
    key_serial = serial()
    bind(operator, app["id"], key_serial)
    path = f"{KEYS}/{key_serial}/so-pin"
    good = {"requester_key": spki(rsa.generate_private_key(65537, 2048))}

    assert_problem(operator.post_json(f"{KEYS}/{serial()}/so-pin", good), 404, "not-found")
    for doc in ({"requester_key": "not base64!"}, {"requester_key": base64.b64encode(
            b"not a key").decode()},
                {"requester_key": spki(ec.generate_private_key(ec.SECP256R1()))},
                {"requester_key": spki(rsa.generate_private_key(65537, 1024))}):
        assert_problem(operator.post_json(path, doc), 422, "invalid-field",
                       field="/requester_key")
    assert_problem(operator.post_json(path, {}), 422, "missing-field", field="/requester_key")
    assert sql("SELECT count(*) FROM token_request WHERE subject = %s", (key_serial,)) == [(0,)]

    # A key that left the station gets no SO PIN.
    sql("UPDATE usb_key SET status = 'shipped', personalised_at = now() WHERE serial = %s",
        (key_serial,))
    body = assert_problem(operator.post_json(path, good), 409, "conflict")
    assert body["key_status"] == "shipped"


def test_so_pin_without_a_signer_is_503_at_once(operator, clerk, reviewer, stackctl):
    app = issuing(clerk, reviewer)
    key_serial = serial()
    bind(operator, app["id"], key_serial)
    with signer_stopped(stackctl):
        started = time.monotonic()
        resp = operator.post_json(f"{KEYS}/{key_serial}/so-pin", {
            "requester_key": spki(rsa.generate_private_key(65537, 2048))})
        took = time.monotonic() - started
    assert took < 2, f"took {took:.1f} s"
    assert_problem(resp, 503, "signer-unavailable")
    assert resp.headers["Retry-After"] == "5"
    assert sql("SELECT count(*) FROM token_request WHERE subject = %s", (key_serial,)) == [(0,)]


def test_so_pin_unanswered_is_503_after_the_wait(operator, clerk, reviewer, stackctl):
    """A signer that beats but does not answer (its token gone, say) costs the wait."""
    app = issuing(clerk, reviewer)
    key_serial = serial()
    bind(operator, app["id"], key_serial)
    with signer_stopped(stackctl), Answerer(answer=False):
        started = time.monotonic()
        resp = operator.post_json(f"{KEYS}/{key_serial}/so-pin", {
            "requester_key": spki(rsa.generate_private_key(65537, 2048))})
        took = time.monotonic() - started
    assert_problem(resp, 503, "signer-unavailable")
    assert 4.5 < took < 8, f"waited {took:.1f} s"
    assert sql("SELECT count(*) FROM token_request WHERE subject = %s", (key_serial,)) == [(0,)]
    assert [a for a, _ in audit(key_serial)][-1] == "usb_key.so_pin_unanswered"


# ---------------------------------------------------------------------------------
# The user PIN and personalised
# ---------------------------------------------------------------------------------

def pin_messages(phone):
    return [m for m in gateway_messages(phone) if m.get("template") == "usb_key_pin"]


def outbox_rows(phone):
    return sql("SELECT status, body, params, scrub_after_send FROM outbox"
               " WHERE recipient = %s AND template = 'usb_key_pin' ORDER BY id", (phone,))


def test_user_pin_goes_to_the_handler_and_leaves_the_outbox(operator, clerk, reviewer):
    app = issuing(clerk, reviewer)
    key_serial = serial()
    bind(operator, app["id"], key_serial)
    path = f"{KEYS}/{key_serial}/user-pin"
    pin = "".join(str(secrets.randbelow(10)) for _ in range(8))

    # Not before the certificate is issued for the key; not to another key's certificate.
    body = assert_problem(operator.post_json(path, {"pin": pin}), 409, "conflict")
    assert body["key_status"] == "initialised"
    issue_for(app, serial())
    assert_problem(operator.post_json(path, {"pin": pin}), 409, "conflict")
    cert_id = issue_for(app, key_serial)
    # Nor personalised before the PIN went out.
    assert_problem(operator.post_json(f"{KEYS}/{key_serial}/personalised", {}), 409,
                   "conflict")

    for bad in ("12345", "123456789", "1234567a", 12345678):
        body = assert_problem(operator.post_json(path, {"pin": bad}), 422, "invalid-field",
                              field="/pin")
        assert str(bad) not in body["detail"]
    resp = operator.post_json(path, {"pin": pin})
    assert resp.status_code == 202, resp.content[:300]
    phone = app["handler_phone"]
    assert resp.body == {"serial": key_serial, "sent_to": phone[:3] + "****" + phone[-4:]}
    assert pin not in resp.text

    # The handler's phone gets it; then the outbox no longer holds it.
    messages = wait_until(lambda: pin_messages(phone), SMS_WAIT, what="the PIN's SMS")
    assert len(messages) == 1 and pin in messages[0]["text"] and key_serial in messages[0]["text"]
    assert messages[0]["text"].startswith("【四川CA】")
    rows = wait_until(lambda: [r for r in outbox_rows(phone) if r[0] == "sent"], SMS_WAIT,
                      what="the outbox row marked sent")
    assert rows == [("sent", SCRUBBED, {}, True)]
    assert sql("SELECT count(*) FROM outbox WHERE body LIKE %s OR params::text LIKE %s",
               (f"%{pin}%", f"%{pin}%")) == [(0,)]
    # Nowhere in an audit event, nor in any log of the stack.
    actions = audit(key_serial)
    assert [a for a, _ in actions][-1] == "usb_key.user_pin_sent"
    assert pin not in json.dumps([d for _, d in actions])
    assert pin not in logs()

    key = operator.get(f"{KEYS}/{key_serial}").body
    assert key["pin_sent_at"] is not None and key["status"] == "initialised"

    # Personalised: once, and then the key is past the PIN and SO PIN steps.
    resp = operator.post_json(f"{KEYS}/{key_serial}/personalised", {})
    assert resp.status_code == 200, resp.content[:300]
    assert (resp.body["status"], resp.body["certificate_id"]) == ("personalised", cert_id)
    assert resp.body["personalised_at"] is not None
    again = operator.post_json(f"{KEYS}/{key_serial}/personalised", {})
    assert again.status_code == 200 and again.body == resp.body
    assert [a for a, _ in audit(key_serial)].count("usb_key.personalised") == 1
    body = assert_problem(operator.post_json(path, {"pin": pin}), 409, "conflict")
    assert body["key_status"] == "personalised"
    assert_problem(operator.post_json(f"{KEYS}/{key_serial}/so-pin", {
        "requester_key": spki(rsa.generate_private_key(65537, 2048))}), 409, "conflict")
    assert_problem(operator.post_json(f"{KEYS}/{key_serial}/personalised", {"x": 1}), 422,
                   "unknown-field")


def test_user_pin_scrubbed_when_the_sms_is_given_up(operator, clerk, reviewer):
    """A PIN that can never be delivered does not stay in the outbox either."""
    app = issuing(clerk, reviewer)
    key_serial = serial()
    bind(operator, app["id"], key_serial)
    issue_for(app, key_serial)
    gateway = require_env("CERTHALL_SMS_GATEWAY_URL").rstrip("/")
    assert requests.post(f"{gateway}/control/fail", json={"status": 400, "count": 1},
                         timeout=5).status_code in (200, 204)
    pin = "".join(str(secrets.randbelow(10)) for _ in range(8))
    try:
        resp = operator.post_json(f"{KEYS}/{key_serial}/user-pin", {"pin": pin})
        assert resp.status_code == 202, resp.content[:300]
        rows = wait_until(lambda: [r for r in outbox_rows(app["handler_phone"])
                                   if r[0] == "failed"], SMS_WAIT,
                          what="the outbox row given up")
    finally:
        requests.post(f"{gateway}/control/fail", json={"count": 0}, timeout=5)
    assert rows == [("failed", SCRUBBED, {}, True)]
    assert pin_messages(app["handler_phone"]) == []
