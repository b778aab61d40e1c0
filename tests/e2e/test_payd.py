"""The payment daemon, certhall-payd (docs/CONTRACT.md "certhall-payd"; issue 5), against
the sandbox gateway the stack runs (tests/fakes/pay_gateway.py, $CERTHALL_PAY_GATEWAY_URL).

Applications reach `awaiting_payment` the way people bring them there (an applicant
creates and submits, a reviewer approves: test_review.py's helpers), orders are opened
with POST /applications/{id}/payment, and the payer pays at the sandbox. What the daemon
did is read back from the sandbox's test knobs (`/sandbox/...`) and, as the owner role,
from the database: payment, refund and order rows, the signing job, and the audit events
it wrote as actor `system` under request ids `payd-<n>`.

The stack runs the daemon with CERTHALL_PAYD_QUERY_AFTER=2 (scripts/test), so an open
order is asked about two seconds after it is made. Only the expiry of an order is moved
by SQL (to the past), since nobody waits two hours in a test. Every wait polls with a
generous deadline; a test that stops the daemon or the sandbox starts it again in a
fixture, also when it fails.
"""

import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import assert_problem, require_env, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_review import review, submitted

APPS = "/api/v1/applications"
WAIT = 40            # seconds for anything the daemon does (a round is 1 s, queries 2 s)


# ---------------------------------------------------------------------------------
# The sandbox's test knobs
# ---------------------------------------------------------------------------------

class Sandbox:
    """The sandbox gateway: its test knobs, and its merchant API as certhall uses it."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False

    def _json(self, resp, path, want=200):
        assert resp.status_code == want, f"{path}: {resp.status_code} {resp.text[:300]}"
        return resp.json()

    def get(self, path, **params):
        return self._json(self.http.get(self.url + path, params=params, timeout=10), path)

    def post(self, path, doc, want=200):
        return self._json(self.http.post(self.url + path, json=doc, timeout=10), path, want)

    def pay(self, out_trade_no, **opts):
        """POST /sandbox/orders/{n}/pay with opts (notify, allow_expired, transaction_id)."""
        return self.post(f"/sandbox/orders/{out_trade_no}/pay", opts)

    def order(self, out_trade_no):
        return self.get(f"/sandbox/orders/{out_trade_no}")

    def notifications(self, out_trade_no):
        return self.get("/sandbox/notifications", out_trade_no=out_trade_no)

    def refunds(self, **filters):
        return self.get("/sandbox/refunds", **filters)

    def merchant_refund(self, out_refund_no, transaction_id, amount, reason):
        """POST /v3/refunds with the merchant's credentials, as certhall-payd sends it."""
        key = open(require_env("CERTHALL_PAY_MERCHANT_KEY_FILE"), encoding="utf-8").read().strip()
        resp = self.http.post(self.url + "/v3/refunds", timeout=10, json={
            "out_refund_no": out_refund_no, "transaction_id": transaction_id,
            "amount": {"refund": amount, "total": amount, "currency": "CNY"},
            "reason": reason}, headers={
            "Authorization": f"Bearer {key}",
            "X-Merchant-Id": require_env("CERTHALL_PAY_MERCHANT_ID")})
        return self._json(resp, "/v3/refunds")


@pytest.fixture(scope="module")
def sandbox():
    s = Sandbox(require_env("CERTHALL_PAY_GATEWAY_URL"))
    yield s
    s.http.close()


@pytest.fixture(scope="module")
def applicant(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (payment daemon)")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


@pytest.fixture
def services_back(stackctl, sandbox):
    """Whatever the test stopped or turned, the daemon and the sandbox run normally after."""
    yield
    if stackctl.run("pay-gateway-start", check=False).returncode != 0:
        pytest.fail("the sandbox gateway did not start again")
    sandbox.post("/sandbox/fail", {"count": 0})
    sandbox.post("/sandbox/refund-mode", {"processing_s": 0, "outcome": "SUCCESS"})
    if stackctl.run("payd-pid", check=False).returncode != 0:
        stackctl.run("payd-start")


# ---------------------------------------------------------------------------------
# Getting there: an approved application, its order, its rows
# ---------------------------------------------------------------------------------

def awaiting_payment(applicant, reviewer):
    """A new application of applicant's, submitted and approved: it owes its quote."""
    app = submitted(applicant, business="new", cert="org", years=1, seals=0)
    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, resp.content[:400]
    assert resp.body["status"] == "awaiting_payment"
    return resp.body


def open_order(applicant, app_id):
    """POST /applications/{id}/payment: the PaymentOrder at the sandbox."""
    resp = applicant.post_json(f"{APPS}/{app_id}/payment", {})
    assert resp.status_code == 201, f"order: {resp.status_code} {resp.content[:400]!r}"
    order = resp.body
    assert order["status"] == "open" and order["pay_url"]
    return order


def expire(order):
    """Moves the order's expiry to the past (the sandbox keeps its own time_expire)."""
    sql("UPDATE payment_order SET expires_at = now() - interval '1 second'"
        " WHERE out_trade_no = %s", (order["out_trade_no"],))


def order_row(out_trade_no):
    rows = sql("SELECT status, closed_at IS NOT NULL, paid_at IS NOT NULL, queried_at"
               " FROM payment_order WHERE out_trade_no = %s", (out_trade_no,))
    assert rows, f"no order {out_trade_no}"
    return dict(zip(("status", "closed", "paid", "queried_at"), rows[0]))


def app_row(app_id):
    rows = sql("SELECT status, paid_at IS NOT NULL, settled_at IS NOT NULL,"
               " (SELECT status FROM signing_job j WHERE j.application_id = a.id)"
               " FROM application a WHERE id = %s", (app_id,))
    return dict(zip(("status", "paid", "settled", "job"), rows[0]))


def payments_of(app_id):
    rows = sql("SELECT id, transaction_id, disposition, source, amount_fen FROM payment"
               " WHERE application_id = %s ORDER BY id", (app_id,))
    return [dict(zip(("id", "transaction_id", "disposition", "source", "amount_fen"), r))
            for r in rows]


def refund_of(payment_id):
    rows = sql("SELECT id, out_refund_no, status, attempts, last_error, gateway_refund_id,"
               " requested_by_kind, amount_fen FROM refund WHERE payment_id = %s",
               (payment_id,))
    if not rows:
        return None
    return dict(zip(("id", "out_refund_no", "status", "attempts", "last_error",
                     "gateway_refund_id", "requested_by_kind", "amount_fen"), rows[0]))


def audit(object_type, object_id):
    """(action, actor_kind, request_id, detail) of an object's events, oldest first."""
    return sql("SELECT action, actor_kind, request_id, detail FROM audit_event"
               " WHERE object_type = %s AND object_id = %s ORDER BY seq",
               (object_type, str(object_id)))


def by_daemon(event):
    return event[1] == "system" and event[2].startswith("payd-")


def late_payment(applicant, reviewer, sandbox, before_paying=None):
    """An order that expired (closed at the sandbox by the daemon), paid all the same:
    (app, order, the payment row). The API queues its refund on the notification.
    before_paying() runs once the order has expired, before the payer pays."""
    app = awaiting_payment(applicant, reviewer)
    order = open_order(applicant, app["id"])
    expire(order)
    wait_until(lambda: order_row(order["out_trade_no"])["status"] == "expired", WAIT,
               what="the daemon to expire the order")
    if before_paying is not None:
        before_paying()
    paid = sandbox.pay(order["out_trade_no"], allow_expired=True)
    pays = wait_until(lambda: payments_of(app["id"]), WAIT,
                      what="the late payment's notification to be applied")
    assert len(pays) == 1 and pays[0]["transaction_id"] == paid["transaction_id"]
    assert pays[0]["disposition"] == "refund_due" and pays[0]["source"] == "notify"
    return app, order, pays[0]


def refund_done(payment_id):
    ref = refund_of(payment_id)
    return ref if ref is not None and ref["status"] != "pending" else None


# ---------------------------------------------------------------------------------
# Lost notifications, expiry
# ---------------------------------------------------------------------------------

def test_a_lost_notification_is_recovered_by_the_daemons_query(applicant, reviewer, sandbox):
    app = awaiting_payment(applicant, reviewer)
    order = open_order(applicant, app["id"])
    paid = sandbox.pay(order["out_trade_no"], notify=False)
    assert paid["notify"] is False

    # Read as the owner role: GET .../payment would ask the gateway itself.
    wait_until(lambda: app_row(app["id"])["status"] == "issuing", WAIT,
               what="the daemon to find the payment and settle the application")
    assert app_row(app["id"]) == {"status": "issuing", "paid": True, "settled": True,
                                  "job": "queued"}
    assert sandbox.notifications(order["out_trade_no"]) == [], "the sandbox notified after all"
    pays = payments_of(app["id"])
    assert [(p["transaction_id"], p["disposition"], p["source"]) for p in pays] == [
        (paid["transaction_id"], "captured", "query")]
    assert pays[0]["amount_fen"] == app["quote"]["total_fen"]
    row = order_row(order["out_trade_no"])
    assert row["status"] == "paid" and row["paid"] and row["queried_at"] is not None

    captured = [e for e in audit("payment", pays[0]["id"]) if e[0] == "payment.captured"]
    assert len(captured) == 1 and by_daemon(captured[0]), captured
    assert captured[0][3]["source"] == "query"
    moved = [e for e in audit("application", app["id"]) if e[0] == "application.issuing"]
    assert len(moved) == 1 and by_daemon(moved[0]), moved

    # The applicant sees it paid, through the API.
    resp = applicant.get(f"{APPS}/{app['id']}/payment")
    assert resp.status_code == 200
    assert resp.body["order"]["status"] == "paid"
    assert [p["source"] for p in resp.body["payments"]] == ["query"]


def test_an_open_order_is_only_asked_about_and_left_open(applicant, reviewer, sandbox):
    app = awaiting_payment(applicant, reviewer)
    order = open_order(applicant, app["id"])
    wait_until(lambda: order_row(order["out_trade_no"])["queried_at"] is not None, WAIT,
               what="the daemon to query the open order")
    row = order_row(order["out_trade_no"])
    assert row["status"] == "open" and not row["closed"]
    assert sandbox.order(order["out_trade_no"])["trade_state"] == "NOTPAY"
    assert app_row(app["id"])["status"] == "awaiting_payment"
    # Not left open for the rest of the run (the daemon would ask about it every 2 s).
    expire(order)
    wait_until(lambda: order_row(order["out_trade_no"])["status"] == "expired", WAIT,
               what="the daemon to expire the order")


def test_an_expired_order_is_closed_at_the_gateway(applicant, reviewer, sandbox):
    app = awaiting_payment(applicant, reviewer)
    order = open_order(applicant, app["id"])
    expire(order)
    wait_until(lambda: order_row(order["out_trade_no"])["status"] == "expired", WAIT,
               what="the daemon to expire the order")
    assert order_row(order["out_trade_no"])["closed"]
    assert sandbox.order(order["out_trade_no"])["trade_state"] == "CLOSED"
    # Closed there: the payer can no longer pay it.
    resp = requests.post(order["pay_url"], json={}, timeout=10)
    assert resp.status_code == 409 and resp.json()["code"] == "ORDER_CLOSED"

    events = audit("payment_order", sql("SELECT id FROM payment_order WHERE out_trade_no = %s",
                                        (order["out_trade_no"],))[0][0])
    assert [e[0] for e in events] == ["payment.order_expired"] and by_daemon(events[0])
    assert events[0][3]["out_trade_no"] == order["out_trade_no"]
    assert events[0][3]["gateway"] == "closed"
    # The application still owes its quote; nothing was paid.
    assert app_row(app["id"]) == {"status": "awaiting_payment", "paid": False,
                                  "settled": False, "job": None}
    assert payments_of(app["id"]) == []


def test_paid_in_time_but_queried_after_expiry_is_captured_not_closed(applicant, reviewer,
                                                                      sandbox):
    app = awaiting_payment(applicant, reviewer)
    order = open_order(applicant, app["id"])
    # Paid (notification lost), and the order expires right after the payment, before the
    # daemon has asked about it (held off by a queried_at in the future meanwhile).
    paid = sandbox.pay(order["out_trade_no"], notify=False)
    sql("UPDATE payment_order SET expires_at = %s::timestamptz + interval '1.5 second',"
        " queried_at = now() + interval '1 hour' WHERE out_trade_no = %s",
        (paid["success_time"], order["out_trade_no"]))
    wait_until(lambda: sql("SELECT expires_at <= now() FROM payment_order"
                           " WHERE out_trade_no = %s", (order["out_trade_no"],))[0][0],
               WAIT, what="the order's new expiry to pass")
    sql("UPDATE payment_order SET queried_at = NULL WHERE out_trade_no = %s",
        (order["out_trade_no"],))
    wait_until(lambda: app_row(app["id"])["status"] == "issuing", WAIT,
               what="the daemon to capture the payment made before expiry")
    assert order_row(order["out_trade_no"])["status"] == "paid"
    assert [p["disposition"] for p in payments_of(app["id"])] == ["captured"]
    assert sandbox.order(order["out_trade_no"])["trade_state"] == "SUCCESS"


# ---------------------------------------------------------------------------------
# Refunds
# ---------------------------------------------------------------------------------

def test_a_payment_after_expiry_is_refunded_at_the_gateway(applicant, reviewer, sandbox):
    app, order, pay = late_payment(applicant, reviewer, sandbox)

    ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the refund to be sent")
    assert ref["status"] == "succeeded" and ref["requested_by_kind"] == "system"
    assert ref["amount_fen"] == pay["amount_fen"]
    at_gateway = sandbox.refunds(transaction_id=pay["transaction_id"])
    assert len(at_gateway) == 1, at_gateway
    assert at_gateway[0]["out_refund_no"] == ref["out_refund_no"]
    assert at_gateway[0]["refund_id"] == ref["gateway_refund_id"]
    assert at_gateway[0]["amount"] == pay["amount_fen"] and at_gateway[0]["status"] == "SUCCESS"
    assert at_gateway[0]["requests"] == 1
    assert sandbox.order(order["out_trade_no"])["trade_state"] == "REFUND"

    events = audit("refund", ref["id"])
    done = [e for e in events if e[0] == "payment.refund_succeeded"]
    assert len(done) == 1 and by_daemon(done[0]), events
    assert done[0][3]["out_refund_no"] == ref["out_refund_no"]
    assert done[0][3]["gateway_refund_id"] == ref["gateway_refund_id"]

    # The application is as it was: still owing, nothing settled, no job.
    assert app_row(app["id"]) == {"status": "awaiting_payment", "paid": False,
                                  "settled": False, "job": None}
    resp = applicant.get(f"{APPS}/{app['id']}/payment")
    assert resp.status_code == 200
    assert [r["status"] for r in resp.body["refunds"]] == ["succeeded"]


def test_a_refund_survives_a_gateway_outage_and_is_sent_once(applicant, reviewer, sandbox,
                                                             stackctl, services_back):
    # The daemon is stopped while the refund is queued, then finds the gateway down.
    app, order, pay = late_payment(applicant, reviewer, sandbox,
                                   lambda: stackctl.run("payd-stop"))
    ref = refund_of(pay["id"])
    assert ref is not None and ref["status"] == "pending" and ref["attempts"] == 0
    wait_until(lambda: any(n["acknowledged"] for n in sandbox.notifications(
        order["out_trade_no"])), WAIT, what="the sandbox to record the acknowledgement")
    stackctl.run("pay-gateway-stop")
    stackctl.run("payd-start")

    def failed_twice():
        r = refund_of(pay["id"])
        return r if r["attempts"] >= 2 and r["last_error"] else None
    during = wait_until(failed_twice, WAIT, what="two refund attempts against a dead gateway")
    assert during["status"] == "pending"
    assert during["last_error"].startswith("gateway unreachable"), during["last_error"]

    stackctl.run("pay-gateway-start")
    ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the refund once the gateway is back")
    assert ref["status"] == "succeeded" and ref["last_error"] is None
    at_gateway = sandbox.refunds(transaction_id=pay["transaction_id"])
    assert len(at_gateway) == 1 and at_gateway[0]["requests"] == 1, at_gateway
    assert at_gateway[0]["out_refund_no"] == ref["out_refund_no"]
    # A retry is not a change of state: one audit event, for the success.
    assert [e[0] for e in audit("refund", ref["id"]) if by_daemon(e)] == [
        "payment.refund_succeeded"]


def test_a_gateway_answering_503_is_retried_with_backoff(applicant, reviewer, sandbox, stackctl,
                                                         services_back):
    app, order, pay = late_payment(applicant, reviewer, sandbox,
                                   lambda: stackctl.run("payd-stop"))
    sandbox.post("/sandbox/fail", {"status": 503, "count": 2, "path": "/v3/refunds"})
    stackctl.run("payd-start")
    ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the refund after two 503s")
    assert ref["status"] == "succeeded"
    assert ref["attempts"] == 3, ref
    at_gateway = sandbox.refunds(transaction_id=pay["transaction_id"])
    assert len(at_gateway) == 1 and at_gateway[0]["requests"] == 1, at_gateway


def test_a_processing_refund_is_polled_until_it_succeeds(applicant, reviewer, sandbox,
                                                         services_back):
    sandbox.post("/sandbox/refund-mode", {"processing_s": 2.5, "outcome": "SUCCESS"})
    app, order, pay = late_payment(applicant, reviewer, sandbox)

    def processing():
        r = refund_of(pay["id"])
        return r if r and r["gateway_refund_id"] else None
    seen = wait_until(processing, WAIT, what="the gateway's acknowledgement of the refund")
    ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the refund to complete")
    assert ref["status"] == "succeeded"
    assert ref["gateway_refund_id"] == seen["gateway_refund_id"]
    at_gateway = sandbox.refunds(transaction_id=pay["transaction_id"])
    assert len(at_gateway) == 1 and at_gateway[0]["requests"] == 1, at_gateway
    actions = [e[0] for e in audit("refund", ref["id"]) if by_daemon(e)]
    assert actions == ["payment.refund_processing", "payment.refund_succeeded"], actions


def test_an_abnormal_refund_is_failed_with_the_reason(applicant, reviewer, sandbox,
                                                      services_back):
    sandbox.post("/sandbox/refund-mode", {"processing_s": 1, "outcome": "ABNORMAL"})
    app, order, pay = late_payment(applicant, reviewer, sandbox)
    ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the refund to end")
    assert ref["status"] == "failed"
    assert "ABNORMAL" in ref["last_error"]
    failed = [e for e in audit("refund", ref["id"]) if e[0] == "payment.refund_failed"]
    assert len(failed) == 1 and by_daemon(failed[0]) and "ABNORMAL" in failed[0][3]["error"]


def test_finance_retries_a_refused_refund_under_its_own_number(applicant, reviewer, sandbox,
                                                                principals,  # noqa: F811
                                                                services_back):
    """The gateway refuses a refund once (as WeChat Pay does while the merchant's balance is
    short): `failed`. Finance retries it; the daemon sends the same out_refund_no again and
    the money goes back once."""
    finance = principals.staff("finance")
    sandbox.post("/sandbox/fail", {"status": 400, "count": 1, "path": "/v3/refunds"})
    app, order, pay = late_payment(applicant, reviewer, sandbox)
    ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the refused refund to end")
    assert ref["status"] == "failed" and ref["attempts"] == 1, ref
    retry = f"/api/v1/applications/{app['id']}/refund/retry"

    resp = finance.post_json(retry, {})
    assert resp.status_code == 202, resp.content[:300]
    assert [(r["id"], r["status"]) for r in resp.body["refunds"]] == [(ref["id"], "pending")]
    again = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the retried refund to end")
    assert again["status"] == "succeeded", again
    assert again["out_refund_no"] == ref["out_refund_no"]
    at_gateway = sandbox.refunds(transaction_id=pay["transaction_id"])
    assert len(at_gateway) == 1, at_gateway
    retried = [e for e in audit("refund", ref["id"]) if e[0] == "payment.refund_retried"]
    assert len(retried) == 1 and retried[0][1] == "staff", retried
    assert "SYSTEM_ERROR" in retried[0][3]["previous_error"], retried
    # Nothing failed is left; and only finance may ask.
    assert_problem(finance.post_json(retry, {}), 409, "conflict")
    assert_problem(applicant.post_json(retry, {}), 403, "forbidden")


def test_a_refund_the_gateway_refuses_is_failed_with_its_reason(applicant, reviewer, sandbox):
    """A refund for a transaction the gateway never saw: 404, so `failed`, not retried."""
    app = awaiting_payment(applicant, reviewer)
    order = open_order(applicant, app["id"])
    txn = "T" + secrets.token_hex(8)
    rows = sql("WITH o AS (SELECT id, application_id, amount_fen FROM payment_order"
               "  WHERE out_trade_no = %s),"
               " p AS (INSERT INTO payment (order_id, application_id, provider, transaction_id,"
               "  method, amount_fen, disposition, source, paid_at)"
               "  SELECT id, application_id, 'sandbox', %s, 'online', amount_fen, 'refund_due',"
               "   'notify', now() FROM o RETURNING id, application_id, amount_fen)"
               " INSERT INTO refund (payment_id, application_id, out_refund_no, amount_fen,"
               "  reason, requested_by_kind)"
               " SELECT id, application_id, %s, amount_fen, '测试：网关不认识的交易', 'system'"
               " FROM p RETURNING payment_id",
               (order["out_trade_no"], txn,
                "RF" + "".join(secrets.choice("0123456789") for _ in range(24))))
    sql("SELECT pg_notify('payment', '')")
    ref = wait_until(lambda: refund_done(rows[0][0]), WAIT, what="the refused refund to end")
    assert ref["status"] == "failed" and ref["attempts"] == 1
    assert "RESOURCE_NOT_EXISTS" in ref["last_error"], ref["last_error"]
    assert sandbox.refunds(transaction_id=txn) == []
    failed = [e for e in audit("refund", ref["id"]) if e[0] == "payment.refund_failed"]
    assert len(failed) == 1 and by_daemon(failed[0])
    expire(order)


def test_a_restarted_daemon_does_not_refund_twice(applicant, reviewer, sandbox, stackctl,
                                                 services_back):
    # A daemon that died after the gateway took the refund and before it wrote that down
    # leaves the refund pending; the gateway has it under our out_refund_no.
    app, order, pay = late_payment(applicant, reviewer, sandbox,
                                   lambda: stackctl.run("payd-stop"))
    ref = refund_of(pay["id"])
    assert ref["status"] == "pending"
    sandbox.merchant_refund(ref["out_refund_no"], pay["transaction_id"], pay["amount_fen"],
                            "自动退款")
    sql("UPDATE refund SET attempts = 1 WHERE id = %s", (ref["id"],))
    stackctl.run("payd-start")

    ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="the restarted daemon")
    assert ref["status"] == "succeeded"
    at_gateway = sandbox.refunds(transaction_id=pay["transaction_id"])
    assert len(at_gateway) == 1, at_gateway
    assert at_gateway[0]["requests"] == 2     # the dead daemon's and the new one's
    assert at_gateway[0]["refund_id"] == ref["gateway_refund_id"]

    # Restarted once more, it leaves the finished refund alone: a later refund (the
    # marker) goes through, and the first one was not asked for again meanwhile.
    stackctl.run("payd-stop")
    stackctl.run("payd-start")
    _, _, marker = late_payment(applicant, reviewer, sandbox)
    wait_until(lambda: refund_done(marker["id"]), WAIT, what="the marker refund")
    again = sandbox.refunds(transaction_id=pay["transaction_id"])
    assert len(again) == 1 and again[0]["requests"] == 2, again
    assert refund_of(pay["id"])["attempts"] == ref["attempts"]


def second_daemon(stack_dir):
    """Another certhall-payd on the same database and gateway, as a second host would run
    it (its log in the stack's log/payd-second.log)."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("CERTHALL_PAY") and k != "CERTHALL_PAY_GATEWAY_KEY_FILE"}
    env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), CERTHALL_PAYD_QUERY_AFTER="2")
    log = open(stack_dir / "log" / "payd-second.log", "ab")
    proc = subprocess.Popen(
        [str(Path(require_env("CERTHALL_BUILD")) / "certhall-payd"),
         "--db", require_env("CERTHALL_APP_DB")], env=env, stdin=subprocess.DEVNULL,
        stdout=log, stderr=log)
    log.close()
    return proc


def test_two_daemons_never_act_on_the_same_refund(applicant, reviewer, sandbox, stack_dir):
    second = second_daemon(stack_dir)
    try:
        lates = [late_payment(applicant, reviewer, sandbox) for _ in range(3)]
        for _, _, pay in lates:
            ref = wait_until(lambda: refund_done(pay["id"]), WAIT, what="each refund")
            assert ref["status"] == "succeeded" and ref["attempts"] == 1, ref
            at_gateway = sandbox.refunds(transaction_id=pay["transaction_id"])
            assert len(at_gateway) == 1 and at_gateway[0]["requests"] == 1, at_gateway
            done = [e for e in audit("refund", ref["id"]) if e[0] == "payment.refund_succeeded"]
            assert len(done) == 1, done
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            status = second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            second.kill()
            status = second.wait(timeout=10)
    assert status == 0


def test_sigterm_lets_the_daemon_finish_and_exit_0(stackctl, services_back):
    out = stackctl.run("payd-stop").stdout
    assert out.splitlines()[-1] == "0", out
    assert stackctl.run("payd-pid", check=False).returncode != 0
    stackctl.run("payd-start")
    assert stackctl.run("payd-pid").stdout.isdigit()


def test_the_daemon_log_holds_no_keys_and_names_its_steps(stack_dir):
    log = (stack_dir / "log" / "payd.log").read_text(encoding="utf-8")
    secret = open(require_env("CERTHALL_PAY_MERCHANT_KEY_FILE"), encoding="utf-8").read().strip()
    assert secret not in log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    steps = [e for e in lines if str(e.get("request_id", "")).startswith("payd-")]
    assert steps, "no log line of a step carries its request id"
    assert all(e["prog"] == "certhall-payd" for e in lines)
    # Nothing above a warning in a run where every refusal was on purpose: errors are
    # only the refused and abnormal refunds of the tests above.
    errors = [e["msg"] for e in lines if e["level"] == "error"]
    assert all(m.startswith("refund ") for m in errors), errors
