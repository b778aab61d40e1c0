"""Shipping the USB key and 本人签收 (issue 14), through nginx: the operator ships the key
certhall-station personalised for the application, the handler is told the carrier and
tracking number by SMS, and the delivery is recorded, by the sandbox courier's signed
callback (tests/fakes/courier.py) or by an operator by hand, completing the application.

Applications reach `issued` the way a walk-in's new certificate does: entered and paid at
the counter (test_station_api.issuing), personalised on a SoftHSM2 "USB key" by the real
certhall-station with the real certhall-signer (test_station). Two such applications are
made for the module and taken through the tests in order (personalising is the slow part).

The callback's signature is made here, independently of certhall, with the key the stack
shares with the courier (HMAC-SHA256 over "timestamp\\nnonce\\nbody\\n"), to forge,
tamper with and replay callbacks.
"""

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests

import test_review as R
from conftest import assert_problem, require_env, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_station import BlankKey, personalise
from test_station_api import clerk, issuing, operator, reviewer  # noqa: F401  (fixtures)

APPS = "/api/v1/applications"
NOTIFY = "/api/v1/couriers/notify/sandbox"
HANDLER = "李审核"      # test_review.application_body's handler_name
WAIT = 30


# ---------------------------------------------------------------------------------
# Helpers (test_flow_complete uses them too)
# ---------------------------------------------------------------------------------

def courier_url():
    return require_env("CERTHALL_COURIER_URL").rstrip("/")


def courier_key():
    return Path(require_env("CERTHALL_COURIER_KEY_FILE")).read_text().strip()


def signed(body, key=None, ts=None, nonce=None):
    """Headers for a callback body (bytes) signed as the courier signs them."""
    ts = ts or str(int(time.time()))
    nonce = nonce or secrets.token_hex(16)
    mac = hmac.new((key or courier_key()).encode(),
                   ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n",
                   hashlib.sha256).digest()
    return {"Content-Type": "application/json", "X-Courier-Timestamp": ts,
            "X-Courier-Nonce": nonce, "X-Courier-Signature": base64.b64encode(mac).decode()}


def delivery_event(tracking_no, name=HANDLER, check="signature", **extra):
    doc = {"event_id": "EV" + secrets.token_hex(10), "event_type": "DELIVERED",
           "tracking_no": tracking_no, "delivered_at": time.strftime(
               "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "signed_by_name": name,
           "check_kind": check, **extra}
    return json.dumps(doc, ensure_ascii=False).encode()


def callback(client, body, headers, courier="sandbox"):
    return client.request("POST", f"/api/v1/couriers/notify/{courier}", data=body,
                          headers=headers)


def courier_delivers(tracking_no, name=HANDLER, check="signature", authorisation=None):
    """The courier's handset reports the delivery: the sandbox sends its signed callback.
    Returns the event id."""
    doc = {"signed_by_name": name, "check_kind": check}
    if authorisation is not None:
        doc["authorisation"] = authorisation
    resp = requests.post(f"{courier_url()}/sandbox/waybills/{tracking_no}/deliver", json=doc,
                         timeout=10)
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()["event_id"]


def callback_answers(tracking_no, event_id):
    """The HTTP statuses certhall gave the courier's tries of event_id, once it stopped."""
    def done():
        w = requests.get(f"{courier_url()}/sandbox/waybills/{tracking_no}", timeout=5).json()
        e = next(e for e in w["events"] if e["event_id"] == event_id)
        return [a["status"] for a in e["attempts"]] if e["done"] else None
    return wait_until(done, WAIT, what=f"the courier's callback of {event_id}")


def ship(operator, app_id, **doc):  # noqa: F811
    return operator.post_json(f"{APPS}/{app_id}/shipment", doc)


def deliver(operator, app_id, **doc):  # noqa: F811
    return operator.post_json(f"{APPS}/{app_id}/delivery", doc)


def status(app_id):
    return sql("SELECT status FROM application WHERE id = %s", (app_id,))[0][0]


def moves(app_id):
    return [(h[0], h[1]) for h in R.history(app_id)]


def messages(phone, template):
    gateway = require_env("CERTHALL_SMS_GATEWAY_URL").rstrip("/")
    resp = requests.get(f"{gateway}/messages", params={"phone": phone}, timeout=5)
    assert resp.status_code == 200, resp.text[:200]
    return [m for m in resp.json() if m.get("template") == template]


def sms(phone, template):
    return wait_until(lambda: messages(phone, template), WAIT,
                      what=f"the {template} SMS")[-1]


def key_status(serial):
    return sql("SELECT status FROM usb_key WHERE serial = %s", (serial,))[0][0]


def personalised(operator, app, root):  # noqa: F811
    """Personalises a fresh SoftHSM2 USB key in root for app with certhall-station; the
    key (BlankKey)."""
    key = BlankKey(root)
    proc = personalise(key, operator.token, app["id"])
    assert proc.returncode == 0, f"station: {proc.stdout}\n{proc.stderr[-3000:]}"
    assert status(app["id"]) == "issued"
    assert key_status(key.serial) == "personalised"
    return key


# ---------------------------------------------------------------------------------
# Two personalised applications, taken through the tests in order
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apps(operator, clerk, reviewer):  # noqa: F811
    roots = [tempfile.mkdtemp(prefix="certhall-usbkey.") for _ in range(2)]
    try:
        out = []
        for root in roots:
            app = issuing(clerk, reviewer)
            out.append((app, personalised(operator, app, root)))
        yield out
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def test_a_key_not_personalised_for_this_application_is_refused(apps, operator):  # noqa: F811
    (a, key_a), (b, key_b) = apps
    # A's key for B: the serial names the field, and nothing moves.
    body = assert_problem(ship(operator, b["id"], usb_key_serial=key_a.serial), 422,
                          "invalid-field", field="/usb_key_serial")
    assert "another application" in body["detail"], body
    # A key the station never bound.
    body = assert_problem(ship(operator, b["id"], usb_key_serial="UK" + secrets.token_hex(5)),
                          422, "invalid-field", field="/usb_key_serial")
    assert "no USB key" in body["detail"], body
    # A typed tracking number needs its carrier.
    assert_problem(ship(operator, b["id"], usb_key_serial=key_b.serial,
                        tracking_no="SF1402837465921"), 422, "missing-field", field="/carrier")
    # A carrier other than the integrated courier needs a typed tracking number.
    assert_problem(ship(operator, b["id"], usb_key_serial=key_b.serial, carrier="顺丰速运"),
                   422, "missing-field", field="/tracking_no")
    for app, key in apps:
        assert status(app["id"]) == "issued" and key_status(key.serial) == "personalised"
        assert sql("SELECT count(*) FROM shipment WHERE application_id = %s",
                   (app["id"],)) == [(0,)]
        assert messages(app["handler_phone"], "usb_key_shipped") == []


def test_shipped_through_the_courier_and_signed_for_by_the_handler(apps, operator, principals):  # noqa: F811,E501
    (a, key_a), _ = apps
    resp = ship(operator, a["id"], usb_key_serial=key_a.serial)
    assert resp.status_code == 201, resp.content[:300]
    shipment = resp.body
    no = shipment["tracking_no"]
    assert shipment["carrier"] == "sandbox" and shipment["via_courier"] is True, shipment
    assert shipment["status"] == "in_transit" and shipment["usb_key_serial"] == key_a.serial
    waybill = requests.get(f"{courier_url()}/sandbox/waybills/{no}", timeout=5).json()
    assert waybill["reference"] == f"certhall-app-{a['id']}", waybill
    assert status(a["id"]) == "shipped" and key_status(key_a.serial) == "shipped"
    assert moves(a["id"])[-1] == ("issued", "shipped")
    # The handler's SMS names the carrier and the tracking number.
    text = sms(a["handler_phone"], "usb_key_shipped")["text"]
    assert "sandbox" in text and no in text and "本人签收" in text, text
    # Shipped once.
    body = assert_problem(ship(operator, a["id"], usb_key_serial=key_a.serial), 409, "conflict")
    assert body["status_now"] == "shipped", body

    anonymous = principals.anonymous()
    forged = delivery_event(no)
    # Unsigned, signed with another key, a body other than the one signed, a stale
    # timestamp, a courier we do not know: all refused, nothing recorded.
    assert_problem(callback(anonymous, forged, {"Content-Type": "application/json"}), 401,
                   "unauthorized")
    body = assert_problem(callback(anonymous, forged, signed(forged, key=secrets.token_hex(32))),
                          401, "unauthorized")
    assert body["header"] == "X-Courier-Signature", body
    assert_problem(callback(anonymous, forged, signed(delivery_event(no, name="别人"))), 401,
                   "unauthorized")
    body = assert_problem(callback(anonymous, forged, signed(forged, ts=str(int(time.time())
                                                                          - 3600))),
                          400, "bad-request")
    assert body["header"] == "X-Courier-Timestamp", body
    assert_problem(callback(anonymous, forged, signed(forged), courier="sf-express"), 404,
                   "not-found")
    assert status(a["id"]) == "shipped"

    # The courier reports someone else signed, with no authorisation: refused (422), so the
    # courier stops; nothing is recorded.
    event = courier_delivers(no, name="王门卫")
    assert callback_answers(no, event) == [422]
    assert status(a["id"]) == "shipped"
    assert operator.get(f"{APPS}/{a['id']}/shipment").body["status"] == "in_transit"

    # The handler in person: delivered and completed in one go.
    event = courier_delivers(no, check="id_check")
    assert callback_answers(no, event) == [204]
    assert status(a["id"]) == "completed"
    assert moves(a["id"])[-3:] == [("issued", "shipped"), ("shipped", "delivered"),
                                   ("delivered", "completed")]
    got = operator.get(f"{APPS}/{a['id']}/shipment").body
    assert got["status"] == "delivered" and got["source"] == "courier", got
    assert got["signed_by_name"] == HANDLER and got["check_kind"] == "id_check", got
    assert got["authorisation"] is None, got
    assert key_status(key_a.serial) == "delivered"
    assert HANDLER in sms(a["handler_phone"], "usb_key_delivered")["text"]
    audit = [r[0] for r in sql("SELECT action FROM audit_event WHERE object_type = "
                               "'application' AND object_id = %s ORDER BY id", (str(a["id"]),))]
    assert audit[-3:] == ["application.shipped", "application.delivered",
                          "application.completed"], audit

    # The callback captured and sent again byte for byte: the nonce was used.
    resp = requests.post(f"{courier_url()}/sandbox/events/{event}/replay", json={}, timeout=10)
    assert resp.json()["status"] == 401, resp.json()
    # The same event again with a fresh signature (the courier retrying): acknowledged,
    # nothing changes.
    body = json.dumps({"event_id": event, "event_type": "DELIVERED", "tracking_no": no,
                       "delivered_at": "2026-12-07T08:00:00Z", "signed_by_name": "王门卫",
                       "check_kind": "signature"}, ensure_ascii=False).encode()
    before = moves(a["id"])
    assert callback(anonymous, body, signed(body)).status_code == 204
    assert moves(a["id"]) == before
    assert operator.get(f"{APPS}/{a['id']}/shipment").body == got


def test_operator_records_delivery_someone_else_needs_authorisation(apps, operator,  # noqa: F811
                                                                    principals):  # noqa: F811
    _, (b, key_b) = apps
    no = "SF" + "".join(secrets.choice("0123456789") for _ in range(13))
    # Not shipped yet.
    body = assert_problem(deliver(operator, b["id"], signed_by_name=HANDLER,
                                  check_kind="signature"), 409, "conflict")
    assert body["status_now"] == "issued", body
    resp = ship(operator, b["id"], usb_key_serial=key_b.serial, carrier="顺丰速运",
                tracking_no=no)
    assert resp.status_code == 201, resp.content[:300]
    assert resp.body["via_courier"] is False and resp.body["tracking_no"] == no
    text = sms(b["handler_phone"], "usb_key_shipped")["text"]
    assert "顺丰速运" in text and no in text, text

    # Someone else, no authorisation: refused, naming the field.
    body = assert_problem(deliver(operator, b["id"], signed_by_name="张代收",
                                  check_kind="signature"), 422, "invalid-field",
                          field="/signed_by_name")
    assert "本人签收" in body["detail"], body
    assert_problem(deliver(operator, b["id"], signed_by_name=HANDLER, check_kind="fingerprint"),
                   422, "invalid-field", field="/check_kind")
    assert status(b["id"]) == "shipped"

    # With the handler's written authorisation recorded: delivered and completed.
    auth = "授权委托书 2026-1207-01，经办人李审核签字并加盖公章"
    resp = deliver(operator, b["id"], signed_by_name="张代收", check_kind="id_check",
                   authorisation=auth)
    assert resp.status_code == 200, resp.content[:300]
    got = resp.body
    assert got["status"] == "delivered" and got["source"] == "operator", got
    assert got["signed_by_name"] == "张代收" and got["authorisation"] == auth, got
    assert status(b["id"]) == "completed"
    assert moves(b["id"])[-2:] == [("shipped", "delivered"), ("delivered", "completed")]
    assert sql("SELECT recorded_by FROM shipment WHERE application_id = %s",
               (b["id"],)) == [(operator.info["staff_id"],)]
    # Recorded once.
    body = assert_problem(deliver(operator, b["id"], signed_by_name=HANDLER,
                                  check_kind="signature"), 409, "conflict")
    assert body["status_now"] == "completed", body
    # Staff read the shipment; an applicant who is not the owner gets 404.
    assert principals.staff("finance").get(f"{APPS}/{b['id']}/shipment").status_code == 200
    assert_problem(principals.applicant("A").get(f"{APPS}/{b['id']}/shipment"), 404,
                   "not-found")


def test_only_operators_ship_and_record_delivery(apps, principals):  # noqa: F811
    (a, key_a), _ = apps
    for who in ("reviewer", "counter", "finance", "admin"):
        p = principals.staff(who)
        assert_problem(p.post_json(f"{APPS}/{a['id']}/shipment",
                                   {"usb_key_serial": key_a.serial}), 403, "forbidden")
        assert_problem(p.post_json(f"{APPS}/{a['id']}/delivery",
                                   {"signed_by_name": HANDLER, "check_kind": "signature"}),
                       403, "forbidden")
    assert_problem(principals.anonymous().post_json(f"{APPS}/{a['id']}/shipment",
                                                    {"usb_key_serial": key_a.serial}),
                   401, "unauthorized")
