"""The whole online flow of each of the six business types, from draft to `completed`
(SPEC §5; issue 14), through nginx, as the self-service hall's client and the CA's staff
do it over HTTP:

  draft → submitted (create, upload the materials, submit) → review → pay online at the
  sandbox gateway, or verify by SMS code (and prove possession of the USB key's key for
  renew and change) → issuing → the real certhall-signer issues → then
  - new, reissue: certhall-station personalises a SoftHSM2 "USB key" (the real station
    binary); the operator ships it (the sandbox courier's waybill, or a typed tracking
    number); the courier's signed callback or the operator records 本人签收: completed;
  - renew, change: the handler sends a key request made ON the SoftHSM2 USB key, downloads
    the certificate (DER, PEM, PKCS#7 with the chain, checked with openssl), confirms it is
    installed: activated → completed;
  - unlock: the key's serial and challenge, the signer's one-time response, the handler's
    confirmation: completed;
  - revoke: the signer revokes and publishes the CRL: completed.

What the CA's records hold before an application about an existing certificate (that
certificate, its registered phone, the USB key it sits on) is put there as the other tests
do (test_review.insert_certificate, test_csr.current_certificate, test_unlock); everything
the handler and the staff do is an HTTP call. Each flow checks the exact status path in
the application's history.
"""

import secrets

import pytest

import issuance_tools as I
import test_review as R
from conftest import wait_until
from issuance_tools import operator, reviewer  # noqa: F401  (fixtures)
from principals import principals, sql  # noqa: F401  (the fixture)
from test_csr import (EC_KEY, RSA_KEY, ca, confirm_installed, current_certificate,  # noqa: F401
                      downloaded_and_verified, send, service_ca, token)
import signer_jobs as sj
from test_payments import open_order, pay, wait_status
from test_revocation import issue as issued_by_the_ca
from test_shipping import (HANDLER, callback_answers, courier_delivers, deliver, moves,
                           personalised, ship, sms)
from test_unlock import answered, expected_response
from test_verification import approved, challenge, post, prove, send_code

APPS = "/api/v1/applications"
WAIT = 90

# The statuses each business passes through, in its history (SPEC §5).
FRONT = ["draft", "submitted", "approved"]
PATHS = {
    "new": FRONT + ["awaiting_payment", "issuing", "issued", "shipped", "delivered",
                    "completed"],
    "reissue": FRONT + ["awaiting_payment", "issuing", "issued", "shipped", "delivered",
                        "completed"],
    "renew": FRONT + ["awaiting_payment", "issuing", "issued", "activated", "completed"],
    "change": FRONT + ["awaiting_verification", "issuing", "issued", "activated",
                       "completed"],
    "unlock": FRONT + ["awaiting_verification", "issuing", "issued", "completed"],
    "revoke": FRONT + ["awaiting_verification", "issuing", "issued", "completed"],
}


def path_of(app_id):
    return [to for _, to in moves(app_id)]


@pytest.fixture(scope="module")
def applicant(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (six flows)")


def approve(reviewer, app, want):  # noqa: F811
    resp = R.review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200 and resp.body["status"] == want, resp.content[:300]
    return resp.body


def pay_online(applicant, app_id):
    pay(open_order(applicant, app_id)["pay_url"])
    wait_status(applicant, app_id, "issuing")


def certificate_formats(principal, app_id):
    """The application's certificate as DER, PEM and PKCS#7 (with the chain); its serial."""
    meta = principal.get(f"{APPS}/{app_id}/certificate").body
    serial = meta["serial"]
    der = principal.get(f"/api/v1/certificates/{serial}/der")
    pem = principal.get(f"/api/v1/certificates/{serial}/pem")
    p7c = principal.get(f"/api/v1/certificates/{serial}/p7c")
    assert der.status_code == pem.status_code == p7c.status_code == 200
    assert I.openssl("x509", "-inform", "DER", "-outform", "PEM", data=der.content) == \
        pem.content
    chain = I.p7c_certificates(p7c.content)
    assert len(chain) == 3 and chain[0].serial_number == int(serial, 16), chain
    return meta


def test_new(applicant, reviewer, operator, tmp_path):  # noqa: F811
    app = R.submitted(applicant, business="new")
    approve(reviewer, app, "awaiting_payment")
    pay_online(applicant, app["id"])
    key = personalised(operator, app, tmp_path)
    meta = certificate_formats(applicant, app["id"])
    assert meta["usb_key_serial"] == key.serial, meta
    resp = ship(operator, app["id"], usb_key_serial=key.serial)
    assert resp.status_code == 201, resp.content[:300]
    no = resp.body["tracking_no"]
    assert no in sms(app["handler_phone"], "usb_key_shipped")["text"]
    event = courier_delivers(no, check="id_check")
    assert callback_answers(no, event) == [204]
    got = R.get(applicant, app["id"])
    assert got["status"] == "completed", got
    assert path_of(app["id"]) == PATHS["new"]
    assert applicant.get(f"{APPS}/{app['id']}/shipment").body["signed_by_name"] == HANDLER


def test_reissue(applicant, reviewer, operator, tmp_path):  # noqa: F811
    app = R.submitted(applicant, business="reissue")
    approve(reviewer, app, "awaiting_payment")
    pay_online(applicant, app["id"])
    key = personalised(operator, app, tmp_path)
    meta = certificate_formats(applicant, app["id"])
    old = sql("SELECT not_after, status FROM certificate WHERE id = %s",
              (app["certificate_id"],))[0]
    new = sql("SELECT not_after FROM certificate WHERE serial = %s", (meta["serial"],))[0]
    # Same not_after (to the second: X.509 times have no fractions); the old one revoked.
    assert new[0] == old[0].replace(microsecond=0) and old[1] == "revoked", (old, new)
    no = "YT" + "".join(secrets.choice("0123456789") for _ in range(13))
    resp = ship(operator, app["id"], usb_key_serial=key.serial, carrier="圆通速递",
                tracking_no=no)
    assert resp.status_code == 201, resp.content[:300]
    assert "圆通速递" in sms(app["handler_phone"], "usb_key_shipped")["text"]
    resp = deliver(operator, app["id"], signed_by_name=HANDLER, check_kind="signature")
    assert resp.status_code == 200, resp.content[:300]
    assert R.get(applicant, app["id"])["status"] == "completed"
    assert path_of(app["id"]) == PATHS["reissue"]


def test_renew(applicant, reviewer, token, ca, service_ca, tmp_path):  # noqa: F811
    app = approved(applicant, reviewer, "renew")
    current_certificate(app, ca, token, RSA_KEY)
    ch = challenge(applicant, app, "rsa-pkcs1-sha256")
    assert prove(applicant, app, ch, token.sign_rsa(RSA_KEY, ch["to_sign"])).status_code == 200
    pay_online(applicant, app["id"])
    resp = send(applicant, app["id"], token.csr(RSA_KEY, I.subject_name("org")))
    assert resp.status_code == 202, resp.content[:400]
    wait_status(applicant, app["id"], "issued")
    serial = downloaded_and_verified(applicant, app["id"], service_ca, token, RSA_KEY, tmp_path)
    confirm_installed(applicant, app["id"], serial)
    assert path_of(app["id"]) == PATHS["renew"]


def test_change(applicant, reviewer, token, ca, service_ca, tmp_path):  # noqa: F811
    app = approved(applicant, reviewer, "change")
    current_certificate(app, ca, token, EC_KEY)
    resp = post(applicant, app["id"], "verification", {"code": send_code(applicant, app)})
    assert resp.status_code == 200, resp.content[:300]
    ch = challenge(applicant, app, "ecdsa-p256-sha256")
    assert prove(applicant, app, ch, token.sign_ecdsa(EC_KEY, ch["to_sign"])).status_code == 200
    wait_status(applicant, app["id"], "issuing")
    credit = R.get(applicant, app["id"])["credit_code"]
    resp = send(applicant, app["id"], token.csr(EC_KEY, I.subject_name(
        "org", full=True, credit_code=credit)))
    assert resp.status_code == 202, resp.content[:400]
    wait_status(applicant, app["id"], "issued")
    serial = downloaded_and_verified(applicant, app["id"], service_ca, token, EC_KEY, tmp_path)
    confirm_installed(applicant, app["id"], serial)
    assert path_of(app["id"]) == PATHS["change"]


def test_unlock(applicant, reviewer):  # noqa: F811
    app = approved(applicant, reviewer, "unlock")
    usb = "UK" + secrets.token_hex(5).upper()
    sql("UPDATE certificate SET usb_key_serial = %s WHERE id = %s", (usb, app["certificate_id"]))
    resp = post(applicant, app["id"], "verification", {"code": send_code(applicant, app)})
    assert resp.status_code == 200 and resp.body["status"] == "issuing", resp.content[:300]
    first = secrets.token_hex(8).upper()
    resp = post(applicant, app["id"], "unlock", {"usb_key_serial": usb, "challenge": first})
    assert resp.status_code == 202, resp.content[:300]
    assert answered(applicant, app["id"])["response"] == expected_response(usb, first)
    resp = post(applicant, app["id"], "unlock/confirm", {})
    assert resp.status_code == 200, resp.content[:300]
    assert R.get(applicant, app["id"])["status"] == "completed"
    assert path_of(app["id"]) == PATHS["unlock"]


def test_revoke(applicant, reviewer):  # noqa: F811
    # A certificate the stack's CA issued (certhall-signer), so its revocation is published
    # in the CA's CRL, which is what completes a revoke.
    cert = issued_by_the_ca(sj.new_key("p256"))[0]
    credit = sql("SELECT credit_code FROM certificate WHERE id = %s", (cert["id"],))[0][0]
    app = R.submitted(applicant, business="revoke", certificate_id=cert["id"],
                      subject={"credit_code": credit, "holder_id_number": R.id_number()})
    phone = R.random_phone()
    sql("UPDATE certificate SET registered_phone = %s WHERE id = %s", (phone, cert["id"]))
    app = dict(approve(reviewer, app, "awaiting_verification"), registered_phone=phone)
    resp = post(applicant, app["id"], "verification", {"code": send_code(applicant, app)})
    assert resp.status_code == 200, resp.content[:300]
    wait_until(lambda: R.get(applicant, app["id"])["status"] == "completed", WAIT,
               what="the revoke application completed (revoked and published)")
    got = sql("SELECT status, crl_number IS NOT NULL FROM certificate WHERE id = %s",
              (cert["id"],))
    assert got == [("revoked", True)], got
    assert path_of(app["id"]) == PATHS["revoke"]
