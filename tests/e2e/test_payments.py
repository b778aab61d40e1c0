"""Pay (SPEC §6; issue 5), through nginx: orders at the sandbox gateway, its signed
notifications, counter payments and refunds.

Applications are brought to `awaiting_payment` the way people do it: an applicant (or a
counter clerk for a walk-in) creates and submits one through the API, a reviewer approves
it (test_review.py's helpers). The payer pays at the sandbox gateway that the stack runs
(tests/fakes/pay_gateway.py, $CERTHALL_PAY_GATEWAY_URL) by POSTing to the order's
`pay_url`, as a browser would; the sandbox then sends its signed notification to the API.

Crafted notifications are signed here with the sandbox's own private key
($CERTHALL_PAY_GATEWAY_KEY_FILE, which the test environment exposes) or with a key made
for the test, using the openssl command line. What a refused notification must not change
is read back from the database (as the owner role) and through the API.
"""

import base64
import datetime
import json
import secrets
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import assert_problem, require_env, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_review import application_body, attach, review, submit, submitted

APPS = "/api/v1/applications"
NOTIFY = "/api/v1/payments/notify/sandbox"
WAIT = 30            # seconds for the sandbox's notification to be processed
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


# ---------------------------------------------------------------------------------
# Fixtures: the people
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def applicant(principals):  # noqa: F811
    return principals.new_applicant(name="payments applicant")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


@pytest.fixture(scope="module")
def clerk(principals):  # noqa: F811
    return principals.staff("counter")


@pytest.fixture(scope="module")
def finance(principals):  # noqa: F811
    return principals.staff("finance")


@pytest.fixture(scope="module")
def sandbox():
    """The sandbox gateway's base URL (the stack runs it)."""
    return require_env("CERTHALL_PAY_GATEWAY_URL").rstrip("/")


@pytest.fixture(scope="module")
def gateway_key():
    """The sandbox's private key: crafted notifications signed with it verify."""
    return require_env("CERTHALL_PAY_GATEWAY_KEY_FILE")


@pytest.fixture(scope="module")
def wrong_key(tmp_path_factory):
    """A fresh RSA-2048 key the API has never seen."""
    path = tmp_path_factory.mktemp("paykeys") / "wrong.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(path)],
                   check=True, capture_output=True, timeout=60)
    return str(path)


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------

def approved(owner, reviewer, business="new", cert="org", **kw):
    """A new application of owner's, submitted and approved: awaiting_payment."""
    app = submitted(owner, business=business, cert=cert, **kw)
    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, f"approve: {resp.status_code} {resp.content[:300]!r}"
    assert resp.body["status"] == "awaiting_payment", resp.body
    assert resp.body["quote_locked"] is True
    return resp.body


def counter_approved(clerk, reviewer, business="new"):
    """A walk-in's application entered by a counter clerk, approved (channel counter)."""
    resp = clerk.post_json(APPS, application_body(business=business))
    assert resp.status_code == 201, f"counter create: {resp.status_code} {resp.content[:300]!r}"
    app = resp.body
    assert app["channel"] == "counter", app
    attach(clerk, app)
    submit(clerk, app["id"])
    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200 and resp.body["status"] == "awaiting_payment", resp.body
    return resp.body


def status_of(principal, app_id):
    resp = principal.get(f"{APPS}/{app_id}")
    assert resp.status_code == 200, resp.content[:300]
    return resp.body["status"]


def open_order(owner, app_id, expect=201):
    resp = owner.post_json(f"{APPS}/{app_id}/payment", {})
    assert resp.status_code == expect, f"order: {resp.status_code} {resp.content[:300]!r}"
    assert resp.headers["Location"] == f"{APPS}/{app_id}/payment"
    return resp.body


def overview(principal, app_id):
    resp = principal.get(f"{APPS}/{app_id}/payment")
    assert resp.status_code == 200, f"GET payment: {resp.status_code} {resp.content[:300]!r}"
    return resp.body


def books(app_id):
    """What our database holds about an application's money."""
    return {
        "status": sql("SELECT status FROM application WHERE id = %s", (app_id,))[0][0],
        "orders": sql("SELECT out_trade_no, status FROM payment_order"
                      " WHERE application_id = %s ORDER BY id", (app_id,)),
        "payments": sql("SELECT transaction_id, disposition FROM payment"
                        " WHERE application_id = %s ORDER BY id", (app_id,)),
        "refunds": sql("SELECT status FROM refund WHERE application_id = %s ORDER BY id",
                       (app_id,)),
        "jobs": sql("SELECT status FROM signing_job WHERE application_id = %s", (app_id,)),
    }


def pay(pay_url, **knobs):
    """Pays an order at the sandbox as the payer's browser does."""
    resp = requests.post(pay_url, json=knobs, timeout=10)
    assert resp.status_code in (200, 201, 204), (
        f"POST pay_url: {resp.status_code} {resp.content[:300]!r}")
    return resp


def sandbox_pay(sandbox, out_trade_no, **knobs):
    """The sandbox's test knob: pay without notifying, pay an expired order, or a second
    transaction of the same order."""
    resp = requests.post(f"{sandbox}/sandbox/orders/{out_trade_no}/pay", json=knobs, timeout=10)
    assert resp.status_code in (200, 201, 204), (
        f"sandbox pay: {resp.status_code} {resp.content[:300]!r}")
    return resp


def wait_status(principal, app_id, status):
    return wait_until(lambda: status_of(principal, app_id) == status, WAIT,
                      what=f"application {app_id} to be {status}")


def now_shanghai():
    return datetime.datetime.now(SHANGHAI).replace(microsecond=0).isoformat()


def notice(out_trade_no, amount, currency="CNY", transaction_id=None,
           event_type="TRANSACTION.SUCCESS"):
    """A notification body as the sandbox sends them."""
    return {
        "id": str(uuid.uuid4()),
        "create_time": now_shanghai(),
        "event_type": event_type,
        "resource": {
            "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or "42" + "".join(
                str(secrets.randbelow(10)) for _ in range(26)),
            "trade_state": "SUCCESS",
            "success_time": now_shanghai(),
            "amount": {"total": amount, "currency": currency},
        },
    }


def signature(key_file, timestamp, nonce, body):
    """base64 RSA-SHA256 (PKCS#1 v1.5) over timestamp\\nnonce\\nbody\\n."""
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    out = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file], input=message,
                         capture_output=True, check=True, timeout=30)
    return base64.b64encode(out.stdout).decode()


def send_notice(client, doc, key_file, timestamp=None, headers=None):
    body = doc if isinstance(doc, bytes) else json.dumps(
        doc, ensure_ascii=False, separators=(",", ":")).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = secrets.token_hex(16)
    sent = {"Content-Type": "application/json", "X-Pay-Timestamp": ts, "X-Pay-Nonce": nonce,
            "X-Pay-Signature": signature(key_file, ts, nonce, body), "X-Pay-Serial": "test"}
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None}
    return client.post(NOTIFY, data=body, headers=sent)


def audit_actions(object_type, object_id):
    return [r[0] for r in sql("SELECT action FROM audit_event WHERE object_type = %s"
                              " AND object_id = %s ORDER BY id", (object_type, str(object_id)))]


def outbox_templates(app_id):
    phone = sql("SELECT handler_phone FROM application WHERE id = %s", (app_id,))[0][0]
    return [r[0] for r in sql("SELECT template FROM outbox WHERE recipient = %s ORDER BY id",
                              (phone,))]


# ---------------------------------------------------------------------------------
# Paying online through the sandbox
# ---------------------------------------------------------------------------------

def test_paying_in_the_sandbox_moves_the_application_to_issuing(applicant, reviewer, sandbox):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    assert order["status"] == "open" and order["paid_at"] is None, order
    assert order["amount_fen"] == app["quote"]["total_fen"] == 40000, (order, app["quote"])
    assert order["currency"] == "CNY" and order["provider"] == "sandbox"
    assert order["application_id"] == app["id"]
    assert order["pay_url"], order

    pay(order["pay_url"])
    wait_status(applicant, app["id"], "issuing")

    view = overview(applicant, app["id"])
    assert view["order"]["id"] == order["id"] and view["order"]["status"] == "paid", view
    assert [(p["disposition"], p["source"], p["method"], p["amount_fen"])
            for p in view["payments"]] == [("captured", "notify", "online", 40000)], view
    assert view["refunds"] == []
    shown = applicant.get(f"{APPS}/{app['id']}").body
    assert shown["paid_at"] is not None and shown["settled_at"] is not None, shown

    jobs = sql("SELECT kind, status, payload FROM signing_job WHERE application_id = %s",
               (app["id"],))
    assert len(jobs) == 1, jobs
    kind, status, payload = jobs[0]
    assert (kind, status) == ("new", "queued")
    assert payload["v"] == 1 and payload["application_id"] == app["id"], payload
    assert payload["quote_total_fen"] == 40000 and payload["paid_at"], payload
    assert payload["credit_code"] == app["credit_code"], payload
    payment_id = view["payments"][0]["id"]
    assert audit_actions("payment", payment_id) == ["payment.captured"]
    assert "settled" in outbox_templates(app["id"])

    # Paid: its handler cannot cancel it any more, nor open another order.
    resp = applicant.post_json(f"{APPS}/{app['id']}/cancel", {})
    assert_problem(resp, 409, "conflict")
    assert status_of(applicant, app["id"]) == "issuing"
    assert_problem(applicant.post_json(f"{APPS}/{app['id']}/payment", {}), 409, "conflict")


def test_one_open_order_per_application(applicant, reviewer, make_client):
    app = approved(applicant, reviewer)
    first = open_order(applicant, app["id"])
    again = open_order(applicant, app["id"], expect=200)
    assert again == first
    results = []

    def order_once():
        results.append(applicant.post_json(f"{APPS}/{app['id']}/payment", {}))
    threads = [threading.Thread(target=order_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {200}, [r.content[:200] for r in results]
    assert {r.body["id"] for r in results} == {first["id"]}
    assert books(app["id"])["orders"] == [(first["out_trade_no"], "open")]


def test_order_amount_is_the_locked_quote_for_every_paid_business(applicant, reviewer):
    for business in ("new", "renew", "reissue"):
        for cert in ("org", "personal"):
            app = approved(applicant, reviewer, business=business, cert=cert)
            order = open_order(applicant, app["id"])
            assert order["amount_fen"] == app["quote"]["total_fen"] > 0, (business, cert, order)
            row = sql("SELECT amount_fen FROM payment_order WHERE id = %s", (order["id"],))
            assert row[0][0] == app["quote"]["total_fen"]


def test_a_lost_notification_is_recovered_by_get(applicant, reviewer, sandbox):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    sandbox_pay(sandbox, order["out_trade_no"], notify=False)
    assert status_of(applicant, app["id"]) == "awaiting_payment"
    view = overview(applicant, app["id"])        # asks the gateway first
    assert view["order"]["status"] == "paid", view
    assert [(p["disposition"], p["source"]) for p in view["payments"]] == [("captured", "query")]
    assert status_of(applicant, app["id"]) == "issuing"


def test_paying_an_expired_order_is_refunded(applicant, reviewer, sandbox):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    sql("UPDATE payment_order SET expires_at = now() - interval '1 minute' WHERE id = %s",
        (order["id"],))
    assert overview(applicant, app["id"])["order"]["status"] == "expired"
    sandbox_pay(sandbox, order["out_trade_no"], allow_expired=True)
    wait_until(lambda: books(app["id"])["payments"], WAIT, what="the late payment")
    state = books(app["id"])
    assert [d for _, d in state["payments"]] == ["refund_due"], state
    assert state["refunds"] in ([("pending",)], [("succeeded",)]), state
    assert state["status"] == "awaiting_payment", state
    assert "payment_refund_due" in outbox_templates(app["id"])
    # A new order for the same quote can be opened and paid.
    fresh = open_order(applicant, app["id"])
    assert fresh["id"] != order["id"] and fresh["status"] == "open"


def fail_gateway(sandbox, count, status=503):
    """The sandbox's knob: its next count merchant API requests get status ({0}: clear)."""
    resp = requests.post(f"{sandbox}/sandbox/fail", json={"status": status, "count": count},
                         timeout=10)
    assert resp.status_code in (200, 204), resp.content[:300]


def test_gateway_down_leaves_no_open_order(applicant, reviewer, sandbox):
    app = approved(applicant, reviewer)
    # Many failures, not one: the payment daemon may ask the gateway meanwhile too.
    fail_gateway(sandbox, 1000)
    try:
        resp = applicant.post_json(f"{APPS}/{app['id']}/payment", {})
    finally:
        fail_gateway(sandbox, 0)
    assert_problem(resp, 503, "gateway-unavailable")
    assert resp.headers.get("Retry-After", "").isdigit()
    assert books(app["id"])["orders"] == [], "an order was kept open"

    order = open_order(applicant, app["id"])        # the gateway is back
    fail_gateway(sandbox, 1000)
    try:
        view = overview(applicant, app["id"])       # the query fails: what we have
    finally:
        fail_gateway(sandbox, 0)
    assert view["order"]["id"] == order["id"] and view["order"]["status"] == "open", view
    assert view["payments"] == []


def test_cancelling_closes_the_open_order(applicant, reviewer, sandbox):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    resp = applicant.post_json(f"{APPS}/{app['id']}/cancel", {})
    assert resp.status_code == 200 and resp.body["status"] == "cancelled", resp.content[:300]
    assert overview(applicant, app["id"])["order"]["status"] == "closed"
    assert books(app["id"])["orders"] == [(order["out_trade_no"], "closed")]
    at_gateway = requests.get(f"{sandbox}/sandbox/orders/{order['out_trade_no']}", timeout=10)
    assert at_gateway.json()["trade_state"] == "CLOSED", at_gateway.content[:300]
    # A payer who was already paying when it closed: the money goes back.
    sandbox_pay(sandbox, order["out_trade_no"], allow_expired=True)
    wait_until(lambda: books(app["id"])["payments"], WAIT, what="the late payment")
    state = books(app["id"])
    assert [d for _, d in state["payments"]] == ["refund_due"], state
    assert state["status"] == "cancelled" and state["refunds"] in (
        [("pending",)], [("succeeded",)]), state


# ---------------------------------------------------------------------------------
# Notifications: verified, idempotent, and every refusal changes nothing
# ---------------------------------------------------------------------------------

def test_refused_notifications_change_nothing(applicant, reviewer, client, gateway_key,
                                              wrong_key):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    no, amount = order["out_trade_no"], order["amount_fen"]
    before = books(app["id"])
    sent = []

    def refused(resp, status, slug):
        assert_problem(resp, status, slug)
        assert books(app["id"]) == before, "a refused notification changed something"

    doc = notice(no, amount)
    sent.append(doc["id"])
    refused(send_notice(client, doc, wrong_key), 401, "unauthorized")
    resp = send_notice(client, doc, gateway_key, headers={"X-Pay-Signature": None})
    refused(resp, 401, "unauthorized")
    assert resp.body["header"] == "X-Pay-Signature"
    # Signed by the right key over other bytes.
    body = json.dumps(doc, separators=(",", ":")).encode()
    ts, nonce = str(int(time.time())), "n" + secrets.token_hex(8)
    resp = client.post(NOTIFY, data=body.replace(b"SUCCESS", b"SUCCESS "), headers={
        "Content-Type": "application/json", "X-Pay-Timestamp": ts, "X-Pay-Nonce": nonce,
        "X-Pay-Signature": signature(gateway_key, ts, nonce, body)})
    refused(resp, 401, "unauthorized")
    # A replayed old notification: right key, timestamp 10 minutes ago.
    resp = send_notice(client, doc, gateway_key, timestamp=int(time.time()) - 600)
    refused(resp, 400, "bad-request")
    assert resp.body["header"] == "X-Pay-Timestamp"
    # Verified, but about an order we never made.
    other = notice("CH" + "".join(str(secrets.randbelow(10)) for _ in range(24)), amount)
    sent.append(other["id"])
    refused(send_notice(client, other, gateway_key), 404, "not-found")
    # Verified, but for another amount or currency than the order's.
    for bad in (notice(no, amount - 1), notice(no, amount + 100), notice(no, amount, "USD")):
        sent.append(bad["id"])
        resp = send_notice(client, bad, gateway_key)
        refused(resp, 422, "invalid-field")
        assert resp.body["field"] == "/resource/amount"
    # Verified, but not a notification we know.
    odd = notice(no, amount, event_type="REFUND.SUCCESS")
    sent.append(odd["id"])
    refused(send_notice(client, odd, gateway_key), 400, "bad-request")
    refused(send_notice(client, b"[]", gateway_key), 400, "bad-request")
    # Another provider, another content type.
    resp = client.post("/api/v1/payments/notify/alipay", data=b"{}",
                       headers={"Content-Type": "application/json"})
    refused(resp, 404, "not-found")
    resp = client.post(NOTIFY, data=b"a=b", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    refused(resp, 415, "unsupported-media-type")
    assert status_of(applicant, app["id"]) == "awaiting_payment"
    rows = sql("SELECT count(*) FROM payment_notification WHERE notification_id = ANY(%s)",
               (sent,))
    assert rows[0][0] == 0, "a refused notification was recorded"


def test_the_same_notification_three_times_pays_once(applicant, reviewer, client,
                                                     gateway_key):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    doc = notice(order["out_trade_no"], order["amount_fen"])
    for _ in range(3):
        resp = send_notice(client, doc, gateway_key)
        assert resp.status_code == 204, resp.content[:300]
    state = books(app["id"])
    assert state["payments"] == [(doc["resource"]["transaction_id"], "captured")], state
    assert state["status"] == "issuing" and state["jobs"] == [("queued",)], state
    assert sql("SELECT outcome FROM payment_notification WHERE notification_id = %s",
               (doc["id"],)) == [("captured",)]

    # The same transaction in a new notification (another id): still a duplicate.
    again = dict(doc, id=str(uuid.uuid4()))
    assert send_notice(client, again, gateway_key).status_code == 204
    assert sql("SELECT outcome FROM payment_notification WHERE notification_id = %s",
               (again["id"],)) == [("duplicate",)]

    # A second, different transaction for the same order: recorded and refunded.
    second = notice(order["out_trade_no"], order["amount_fen"])
    assert send_notice(client, second, gateway_key).status_code == 204
    state = books(app["id"])
    assert [d for _, d in state["payments"]] == ["captured", "refund_due"], state
    # Pending until the payment daemon sends it; the sandbox never saw this crafted
    # transaction, so the daemon's attempt may already have failed.
    assert len(state["refunds"]) == 1, state
    assert state["status"] == "issuing", state
    view = overview(applicant, app["id"])
    assert view["refunds"][0]["requested_by_kind"] == "system", view
    assert view["refunds"][0]["amount_fen"] == order["amount_fen"]
    assert len(sql("SELECT 1 FROM signing_job WHERE application_id = %s", (app["id"],))) == 1


def test_two_transactions_at_the_sandbox_pay_once(applicant, reviewer, sandbox):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    pay(order["pay_url"])
    wait_status(applicant, app["id"], "issuing")
    sandbox_pay(sandbox, order["out_trade_no"], transaction_id="42" + secrets.token_hex(12))
    wait_until(lambda: len(books(app["id"])["payments"]) == 2, WAIT,
               what="the second transaction")
    state = books(app["id"])
    assert [d for _, d in state["payments"]] == ["captured", "refund_due"], state
    assert state["refunds"] in ([("pending",)], [("succeeded",)]), state
    assert state["status"] == "issuing", state


# ---------------------------------------------------------------------------------
# Who may pay, and whose payments one sees
# ---------------------------------------------------------------------------------

def test_strangers_cannot_see_or_pay(principals, applicant, reviewer):  # noqa: F811
    app = approved(applicant, reviewer)
    stranger = principals.applicant("B")
    for method, suffix, body in (("GET", "/payment", None), ("POST", "/payment", {}),
                                 ("POST", "/cancel", {})):
        resp = (stranger.request(method, f"{APPS}/{app['id']}{suffix}") if body is None
                else stranger.send_json(method, f"{APPS}/{app['id']}{suffix}", body))
        assert_problem(resp, 404, "not-found")
    assert books(app["id"])["orders"] == []
    # Staff read it; no order yet.
    assert overview(principals.staff("finance"), app["id"]) == {
        "order": None, "payments": [], "refunds": []}


def test_only_awaiting_payment_can_be_paid(applicant):
    resp = applicant.post_json(APPS, application_body())
    draft = resp.body
    assert_problem(applicant.post_json(f"{APPS}/{draft['id']}/payment", {}), 409, "conflict")
    resp = applicant.post_json(f"{APPS}/{draft['id']}/payment", {"amount_fen": 1})
    assert_problem(resp, 422, "unknown-field", field="/amount_fen")
    assert_problem(applicant.post_json("/api/v1/applications/999999999/payment", {}),
                   404, "not-found")


# ---------------------------------------------------------------------------------
# Counter payments
# ---------------------------------------------------------------------------------

def test_counter_payment(clerk, reviewer, applicant):
    app = counter_approved(clerk, reviewer)
    total = app["quote"]["total_fen"]
    path = f"{APPS}/{app['id']}/counter-payment"
    receipt = "R" + secrets.token_hex(8)

    resp = clerk.post_json(path, {"method": "cash", "receipt_no": receipt,
                                  "amount_fen": total - 100})
    assert_problem(resp, 422, "invalid-field", field="/amount_fen")
    resp = clerk.post_json(path, {"method": "card", "receipt_no": receipt, "amount_fen": total})
    assert_problem(resp, 422, "invalid-field", field="/method")
    resp = clerk.post_json(path, {"method": "cash", "receipt_no": "收据1", "amount_fen": total})
    assert_problem(resp, 422, "invalid-field", field="/receipt_no")
    assert books(app["id"])["payments"] == []

    resp = clerk.post_json(path, {"method": "pos", "receipt_no": receipt, "amount_fen": total})
    assert resp.status_code == 201, resp.content[:300]
    payment = resp.body
    assert (payment["provider"], payment["method"], payment["source"], payment["disposition"],
            payment["transaction_id"], payment["amount_fen"]) == (
        "counter", "pos", "counter", "captured", receipt, total)
    assert status_of(clerk, app["id"]) == "issuing"
    assert len(books(app["id"])["jobs"]) == 1
    assert audit_actions("payment", payment["id"]) == ["payment.captured"]

    # Paid: no second payment, whatever the receipt.
    resp = clerk.post_json(path, {"method": "cash", "receipt_no": receipt + "x",
                                  "amount_fen": total})
    assert_problem(resp, 409, "conflict")

    # The same receipt number for another application.
    other = counter_approved(clerk, reviewer)
    resp = clerk.post_json(f"{APPS}/{other['id']}/counter-payment",
                           {"method": "cash", "receipt_no": receipt, "amount_fen": total})
    assert_problem(resp, 409, "conflict", field="/receipt_no")
    assert books(other["id"])["payments"] == [] and books(other["id"])["orders"] == []

    # An online application is not the counter's to take money for.
    online = approved(applicant, reviewer)
    resp = clerk.post_json(f"{APPS}/{online['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": total})
    assert_problem(resp, 404, "not-found")
    assert books(online["id"])["payments"] == []


def test_counter_payment_closes_an_open_online_order(clerk, reviewer):
    app = counter_approved(clerk, reviewer)
    assert books(app["id"])["orders"] == []
    # An open online order (made here as the database would hold one) is closed.
    sql("INSERT INTO payment_order (out_trade_no, application_id, provider, amount_fen,"
        " expires_at, created_by_kind) VALUES (%s, %s, 'sandbox', %s,"
        " now() + interval '1 hour', 'applicant')",
        ("CH" + "".join(str(secrets.randbelow(10)) for _ in range(24)), app["id"],
         app["quote"]["total_fen"]))
    resp = clerk.post_json(f"{APPS}/{app['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": app["quote"]["total_fen"]})
    assert resp.status_code == 201, resp.content[:300]
    assert [s for _, s in books(app["id"])["orders"]] == ["closed", "paid"]


# ---------------------------------------------------------------------------------
# Refunds (finance)
# ---------------------------------------------------------------------------------

def counter_paid(clerk, reviewer):
    app = counter_approved(clerk, reviewer)
    resp = clerk.post_json(f"{APPS}/{app['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": app["quote"]["total_fen"]})
    assert resp.status_code == 201, resp.content[:300]
    return app, resp.body


def test_refund_before_issue_cancels_job_and_application(clerk, reviewer, finance):
    app, payment = counter_paid(clerk, reviewer)
    path = f"{APPS}/{app['id']}/refund"
    assert_problem(finance.post_json(path, {}), 422, "missing-field", field="/reason")
    assert_problem(finance.post_json(path, {"reason": "\u3000 "}), 422, "invalid-field",
                   field="/reason")
    assert books(app["id"])["jobs"] == [("queued",)]

    resp = finance.post_json(path, {"reason": "申请单位放弃办理"})
    assert resp.status_code == 202, resp.content[:300]
    refund = resp.body
    assert (refund["payment_id"], refund["amount_fen"], refund["status"],
            refund["requested_by_kind"]) == (payment["id"], payment["amount_fen"],
                                             "succeeded", "staff"), refund
    assert refund["completed_at"] is not None
    state = books(app["id"])
    assert state["status"] == "cancelled" and state["jobs"] == [("cancelled",)], state
    assert audit_actions("refund", refund["id"]) == ["payment.refund_requested"]
    assert "payment_refunded_counter" in outbox_templates(app["id"])
    history = sql("SELECT to_status, actor_kind FROM application_history"
                  " WHERE application_id = %s ORDER BY id DESC LIMIT 1", (app["id"],))
    assert history == [("cancelled", "staff")]

    # Nothing left to refund.
    assert_problem(finance.post_json(path, {"reason": "再退一次"}), 409, "conflict")


def test_refund_refused_once_the_signing_job_is_claimed(clerk, reviewer, finance):
    app, _ = counter_paid(clerk, reviewer)
    sql("UPDATE signing_job SET status = 'claimed', claimed_by = 'test',"
        " lease_until = now() + interval '1 minute' WHERE application_id = %s", (app["id"],))
    resp = finance.post_json(f"{APPS}/{app['id']}/refund", {"reason": "签发中申请退款"})
    body = assert_problem(resp, 409, "conflict")
    assert body["status_now"] == "issuing"
    state = books(app["id"])
    assert state["refunds"] == [] and state["jobs"] == [("claimed",)], state
    assert state["status"] == "issuing"


def test_refund_of_an_online_payment_is_pending(applicant, reviewer, finance, client,
                                                gateway_key):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    assert send_notice(client, notice(order["out_trade_no"], order["amount_fen"]),
                       gateway_key).status_code == 204
    resp = finance.post_json(f"{APPS}/{app['id']}/refund", {"reason": "重复申请，退款"})
    assert resp.status_code == 202, resp.content[:300]
    assert resp.body["status"] in ("pending", "succeeded"), resp.body
    assert books(app["id"])["status"] == "cancelled"
    assert "payment_refunded" in outbox_templates(app["id"])


def test_refund_refused_without_a_payment(applicant, reviewer, finance):
    app = approved(applicant, reviewer)
    resp = finance.post_json(f"{APPS}/{app['id']}/refund", {"reason": "未缴费不能退款"})
    assert_problem(resp, 409, "conflict")
    assert books(app["id"])["status"] == "awaiting_payment"
    resp = applicant.post_json(f"{APPS}/{app['id']}/refund", {"reason": "我要退款"})
    assert_problem(resp, 403, "forbidden")


# ---------------------------------------------------------------------------------
# The browser payer's way back (issue 15: the web hall's pay page)
# ---------------------------------------------------------------------------------

def test_return_path_brings_the_browser_payer_back_and_only_to_this_site(applicant, reviewer):
    app = approved(applicant, reviewer)
    path = f"{APPS}/{app['id']}/payment"
    # Anything that could leave the site is refused at the field, and opens no order.
    for bad in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "evil/x",
                "/a/../b", "/a b", "/x#y", "/@evil.example", "/" + "a" * 200, "", 5):
        resp = applicant.post_json(path, {"return_path": bad})
        assert_problem(resp, 422, "invalid-field", field="/return_path")
    assert books(app["id"])["orders"] == []

    back = f"/my/applications/{app['id']}/pay/return"
    order = open_order(applicant, app["id"])
    plain = order["pay_url"]
    assert "redirect_url" not in plain, order
    resp = applicant.post_json(path, {"return_path": back})
    assert resp.status_code == 200, resp.content[:300]      # the same open order, again
    url = requests.utils.urlparse(resp.body["pay_url"])
    assert resp.body["id"] == order["id"]
    assert f"{url.scheme}://{url.netloc}{url.path}" == plain, resp.body
    expected = require_env("CERTHALL_URL").rstrip("/") + back
    assert requests.utils.unquote(url.query) == f"redirect_url={expected}", url.query
    # The stored order keeps the plain pay_url: the way back is each payer's own.
    assert overview(applicant, app["id"])["order"]["pay_url"] == plain

    # The sandbox's page posts its form and sends the payer back there, paid.
    page = requests.get(resp.body["pay_url"], timeout=10)
    assert page.status_code == 200 and "<form method=\"post\">" in page.text
    paid = requests.post(resp.body["pay_url"], data=b"", allow_redirects=False, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert paid.status_code == 303, paid.content[:300]
    assert paid.headers["Location"] == expected
    wait_status(applicant, app["id"], "issuing")
