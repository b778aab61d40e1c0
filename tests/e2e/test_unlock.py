"""Unlock (解锁, issue 13): a settled unlock application, the USB key's serial and challenge
sent by the handler's client (POST /applications/{id}/unlock), the one-time response
computed by certhall-signer in the CA token, sent by SMS and read by the owner (GET), and
the handler's confirmation that completes the application.

The response is checked against a computation that uses none of certhall's code: the SO
PIN of the key (the per-key secret) by OpenSSL's pkcs11-tool asking the CA token for
HMAC-SHA256 with the master secret (test_station.so_pin_derived_independently), then
HMAC-SHA256 keyed with it over "certhall/usbkey-unlock/v1" 0x00 serial 0x00 challenge in
Python's hmac module; the response is the UPPERCASE hex of its first 8 bytes.

The certificate the application is about is the test's (test_review.insert_certificate),
with the USB key serial it was issued on set here, as the signer records it.
"""

import hashlib
import hmac
import secrets

import pytest

import test_review as R
from conftest import assert_problem, wait_until
from issuance_tools import reviewer  # noqa: F401  (fixture)
from principals import principals, sql  # noqa: F401  (the fixture)
from test_station import so_pin_derived_independently
from test_verification import approved, gateway_messages, post, send_code

APPS = "/api/v1/applications"
WAIT = 60


def expected_response(serial, challenge):
    so_pin = so_pin_derived_independently(serial)
    mac = hmac.new(so_pin.encode(), b"certhall/usbkey-unlock/v1\0" + serial.encode() + b"\0" +
                   challenge.encode(), hashlib.sha256).digest()
    return mac[:8].hex().upper()


def verified(owner, app):
    code = send_code(owner, app)
    resp = post(owner, app["id"], "verification", {"code": code})
    assert resp.status_code == 200 and resp.body["status"] == "issuing", resp.content[:300]
    return resp.body


def answered(owner, app_id):
    def got():
        body = owner.get(f"{APPS}/{app_id}/unlock").body
        return body if body["status"] != "pending" else None
    return wait_until(got, WAIT, what=f"the unlock response of application {app_id}")


def challenge():
    return secrets.token_hex(8).upper()


@pytest.fixture(scope="module")
def owner(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (unlock)")


def test_unlock_end_to_end(principals, owner, reviewer):  # noqa: F811
    app = approved(owner, reviewer, "unlock")
    usb = "UK" + secrets.token_hex(5).upper()
    sql("UPDATE certificate SET usb_key_serial = %s WHERE id = %s", (usb, app["certificate_id"]))
    phone = app["registered_phone"]

    # Not before the application is verified (settled).
    assert_problem(post(owner, app["id"], "unlock", {"usb_key_serial": usb,
                                                    "challenge": challenge()}), 409, "conflict")
    verified(owner, app)

    # Another key's serial, and a challenge no client shows, are refused, naming the field.
    body = assert_problem(post(owner, app["id"], "unlock", {
        "usb_key_serial": "UK" + secrets.token_hex(5).upper(), "challenge": challenge()}),
        422, "invalid-field", field="/usb_key_serial")
    assert "not the USB key" in body["detail"], body
    assert_problem(post(owner, app["id"], "unlock", {"usb_key_serial": usb,
                                                    "challenge": "short"}),
                   422, "invalid-field", field="/challenge")
    assert_problem(post(owner, app["id"], "unlock", {"usb_key_serial": usb,
                                                    "challenge": "has spaces 1234"}),
                   422, "invalid-field", field="/challenge")
    assert_problem(post(owner, app["id"], "unlock/confirm", {}), 409, "conflict")
    assert_problem(owner.get(f"{APPS}/{app['id']}/unlock"), 404, "not-found")

    # The request; then the signer's response, equal to the independent computation.
    first = challenge()
    resp = post(owner, app["id"], "unlock", {"usb_key_serial": usb, "challenge": first})
    assert resp.status_code == 202, resp.content[:300]
    assert resp.body["status"] == "pending" and resp.body["response"] is None, resp.body
    assert_problem(post(owner, app["id"], "unlock", {"usb_key_serial": usb,
                                                    "challenge": challenge()}), 409, "conflict")
    got = answered(owner, app["id"])
    want = expected_response(usb, first)
    assert got["status"] == "answered" and got["response"] == want, (got, want)
    assert R.get(owner, app["id"])["status"] == "issued"
    assert sql("SELECT status FROM signing_job WHERE application_id = %s",
               (app["id"],)) == [("done",)]

    # By SMS to the handler, too.
    sms = wait_until(lambda: [m for m in gateway_messages(app["handler_phone"])
                              if m.get("template") == "unlock_response"], WAIT,
                     what="the unlock response SMS")
    assert want in sms[-1]["text"] and usb in sms[-1]["text"], sms[-1]
    assert sms[-1]["text"].startswith("【四川CA】"), sms[-1]

    # Strangers see nothing of it.
    stranger = principals.new_applicant(name="unlock stranger")
    assert_problem(stranger.get(f"{APPS}/{app['id']}/unlock"), 404, "not-found")

    # The handler confirms: completed.
    resp = post(owner, app["id"], "unlock/confirm", {})
    assert resp.status_code == 200 and resp.body["status"] == "confirmed", resp.content[:300]
    assert R.get(owner, app["id"])["status"] == "completed"
    assert_problem(post(owner, app["id"], "unlock/confirm", {}), 409, "conflict")

    # A second unlock of the same key later: the challenge answered before is refused;
    # a new one gets its own response.
    again = R.submitted(owner, business="unlock", certificate_id=app["certificate_id"],
                        subject={"credit_code": app["credit_code"],
                                 "holder_id_number": R.id_number()})
    resp = R.review(reviewer, again["id"], {"decision": "approve"})
    assert resp.status_code == 200, resp.content[:300]
    again = dict(resp.body, registered_phone=phone)
    verified(owner, again)
    body = assert_problem(post(owner, again["id"], "unlock", {"usb_key_serial": usb,
                                                             "challenge": first}),
                          422, "invalid-field", field="/challenge")
    assert "answered" in body["detail"], body
    second = challenge()
    resp = post(owner, again["id"], "unlock", {"usb_key_serial": usb, "challenge": second})
    assert resp.status_code == 202, resp.content[:300]
    got = answered(owner, again["id"])
    assert got["response"] == expected_response(usb, second) != want, got
